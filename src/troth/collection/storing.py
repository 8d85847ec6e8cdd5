"""Storing a validated collection: the people found or created, the gate asked per purpose
and per state of consent, the values encrypted where sensitive, tagged with their purposes
and written with their audit entries, all in one transaction (all or nothing)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, select

from troth.access.offboarded import closed_refusal
from troth.audit.entry import AuditEntry
from troth.audit.log import append_entries, transaction
from troth.audit.refusals import Refusal
from troth.collection.identities import (
    index_identities,
    other_owner,
    read_identities,
    resolve_people,
)
from troth.collection.people_rows import insert_people, jurisdictions_of
from troth.consent.append import erased_refusal
from troth.consent.events import ConsentMethod
from troth.consent.optin import wait_refusal
from troth.context import Context
from troth.driver import insert_many
from troth.errors import NotFound, ValidationError
from troth.gate import Actor, ActorKind, Ask, Decision, Operation, Reason, decide
from troth.gate import facts as facts_mod
from troth.policy.model import CollectedField, CollectionPoint, FieldType
from troth.store.crypto import encrypt_value
from troth.store.keystore import ensure_data_keys
from troth.store.seals import record_seal, seal_key
from troth.store.subjects import SubjectRow, get_subject, no_such_subject
from troth.store.tables import records, tenants

# Stored values are JSON text; one encoder for all of them (json.dumps with options builds
# a new one per call).
_ENCODE = json.JSONEncoder(ensure_ascii=False).encode
# The columns of each stored value that vary from value to value (the rest are common to
# the batch).
_RECORD_COLUMNS = (
    "subject_id",
    "category",
    "field",
    "value",
    "ciphertext",
    "key_version",
    "purposes",
    "seal",
)

# Refusals about who is asking (not about the data): they refuse the whole collection.
_ACTOR_REASONS = frozenset(
    {
        Reason.not_a_member,
        Reason.role_not_allowed,
        Reason.scope_missing,
        Reason.record_tampered,  # a support grant changed outside troth
        Reason.no_grant,
        Reason.grant_expired,
        Reason.location_not_allowed,
        Reason.vendor_only,
    }
)

# What the gate let a person's values serve: purpose -> the categories it may use.
Allowed = dict[str, frozenset[str]]


@dataclass(frozen=True)
class CollectResult:
    """What one person's collection stored: how many values, the purposes they serve, the
    person's jurisdiction as recorded (a new person's: the one given, else the policy's
    ``default_jurisdiction``, else its first; a person already known keeps theirs) and the
    purposes the values were not bound to, with why."""

    subject_id: str
    stored: int
    purposes: tuple[str, ...]
    jurisdiction: str
    dropped_purposes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Batch:
    """A collection checked and resolved, ready to store: the point, the rows and who
    sends them, the people they are about (when named), where and under which regime they
    are kept, who supplied them, the consents given with them, the purposes they may serve,
    the time, and how the consents reached troth (the ledger's method)."""

    cp: CollectionPoint
    rows: Sequence[Mapping[str, Any]]
    actor: Actor
    subject_ids: Sequence[str] | None
    tenant_id: str | None
    juris: str
    where: str
    supplier: str | None
    consents: tuple[str, ...]
    purposes: list[str]
    now: datetime
    consent_method: ConsentMethod = ConsentMethod.api


@dataclass(frozen=True)
class Unseen:
    """A person or tenant of another tenant than the actor's (a credential bound to a
    tenant): refused ``not_a_member``, audited under ``tenant_id`` (the caller's own),
    naming the person's id asked for (``subject_named``) and never filed in that person's
    log, and answered with ``error``, the words an unknown id gets, so that the id reveals
    nothing."""

    error: NotFound
    subject_named: str | None
    tenant_id: str | None


@dataclass
class _Gated:
    """The gate's answers for a batch: what each person's values may serve, the purposes
    it refused (with why) and the purposes each category serves per distinct answer."""

    allowed: dict[str, Allowed] = field(default_factory=dict)
    dropped: dict[str, str] = field(default_factory=dict)
    serving: dict[tuple[int, str], list[str]] = field(default_factory=dict)


def store_batch(ctx: Context, batch: Batch) -> list[CollectResult] | Refusal | Unseen:
    """Store the rows in one transaction, or return the refusal decided on the way
    (decided before anything is written: the transaction then writes nothing). Raises
    :class:`NotFound` for an unknown tenant or person, :class:`ValidationError` for a
    person named under another tenant than theirs, :class:`IdentifierInUse` for an
    identity of another person (nothing written either)."""
    with transaction(ctx) as conn:
        unseen = _check_tenant(conn, batch)
        if unseen is not None:
            return unseen
        erased: set[str] = set()
        sids: list[str] = list(batch.subject_ids or ())
        new_subjects: list[dict[str, Any]] = []
        known: dict[str, str] = {}  # the jurisdictions of the people named
        if batch.subject_ids:
            named = _named_people(conn, ctx, batch)
            if isinstance(named, Unseen):
                return named
            known = {p.id: p.jurisdiction for p in named}
            # Their values are filed under their own tenant, always.
            batch = replace(batch, tenant_id=_their_tenant(batch, named))
            erased = {p.id for p in named if p.erased_at is not None}
        closed = closed_refusal(conn, batch.tenant_id)  # an offboarded customer is closed
        if closed is not None:
            return replace(closed, details={"point": batch.cp.id, "tenant_id": batch.tenant_id})
        ids = read_identities(conn, ctx, batch.cp, batch.rows, batch.juris, batch.tenant_id)
        if not batch.subject_ids:
            sids, new_subjects = resolve_people(ids)
        gated = _ask_the_gate(conn, ctx, batch, sids, erased)
        if isinstance(gated, Refusal):
            return gated
        unserved = _unserved(ctx, batch, sids, gated)
        if unserved is not None:
            return unserved
        if batch.consents:
            # No consent for an erased person (the ledger's one check); a ticked box
            # never undoes a recent opt-out of sale or sharing (consent.optin).
            refused = erased_refusal(conn, sorted(erased), batch.consents) or wait_refusal(
                conn, ctx, sids, batch.consents
            )
            if refused is not None:
                return replace(refused, details={"point": batch.cp.id, **refused.details})
        # Never two people under one e-mail, phone or customer id (refused whole); told
        # only to a caller the gate lets collect.
        in_use = other_owner(ids, sids)
        if in_use is not None:
            raise in_use
        # Decided: from here on the transaction writes.
        created = insert_people(
            conn,
            ctx,
            new_subjects,
            tenant_id=batch.tenant_id,
            kind=batch.cp.subjects[0] if batch.cp.subjects else None,
            juris=batch.juris,
            now=batch.now,
        )
        index_identities(conn, ctx, ids, sids, created)
        if batch.consents:
            point = batch.cp.id
            facts_mod.record_consents(
                conn, ctx, sids, batch.consents, batch.actor, point, batch.consent_method
            )
        juris = jurisdictions_of(conn, batch.juris, sids, created, known)
        values, audit, results = _values(conn, ctx, batch, sids, gated, created, juris)
        insert_many(conn, records, values, names=_RECORD_COLUMNS, common=_common(ctx, batch))
        append_entries(conn, batch.now, audit)
    return results


def _common(ctx: Context, batch: Batch) -> dict[str, Any]:
    """The columns every value of the batch shares."""
    return {
        "tenant_id": batch.tenant_id,
        "collection_point": batch.cp.id,
        "source": batch.cp.source.value,
        "supplier": batch.supplier,
        "policy_version": ctx.policy.version,
        "location": batch.where,
        "collected_at": batch.now,
        "restricted_to": None,
        "restricted_until": None,
        "anonymised": False,
    }


def _check_tenant(conn: Connection, batch: Batch) -> Unseen | None:
    """The tenant named must exist (:class:`NotFound` ``unknown_tenant``, as the CLI and
    HTTP say); to a credential bound to a tenant, another tenant is as unknown."""
    tid = batch.tenant_id
    if tid is None:
        return None
    unknown = NotFound(f"no tenant {tid!r}", code="unknown_tenant")
    bound = batch.actor.tenant_id
    if bound is not None and tid != bound:
        return Unseen(unknown, None, bound)
    if conn.execute(select(tenants.c.id).where(tenants.c.id == tid)).first() is None:
        raise unknown
    return None


def _named_people(conn: Connection, ctx: Context, batch: Batch) -> list[SubjectRow] | Unseen:
    """The people the caller named by id (:class:`NotFound` for an unknown one; to a
    credential bound to a tenant, a person of another tenant is as unknown)."""
    bound = batch.actor.tenant_id
    people: list[SubjectRow] = []
    for sid in batch.subject_ids or ():
        person = get_subject(conn, sid, ctx.keys)
        if bound is not None and person.tenant_id != bound:
            return Unseen(no_such_subject(sid), sid[:64], bound)
        people.append(person)
    return people


def _their_tenant(batch: Batch, people: Sequence[SubjectRow]) -> str | None:
    """The tenant the named people's values are filed under: theirs. A tenant named with
    them must be it, and one collection files under one tenant (ValidationError)."""
    if batch.tenant_id is not None:
        other = next((p.id for p in people if p.tenant_id != batch.tenant_id), None)
        if other is not None:
            raise ValidationError(
                f"subject {other!r} does not belong to tenant {batch.tenant_id!r}: a person's"
                " data is filed under their own tenant (leave tenant_id out, or name theirs)",
                field="tenant_id",
            )
        return batch.tenant_id
    theirs = {p.tenant_id for p in people}
    if len(theirs) > 1:
        raise ValidationError(
            "the subjects named belong to different tenants: collect each tenant's people"
            " in a collection of its own",
            field="subject_ids",
        )
    return theirs.pop() if theirs else None


def _ask_the_gate(
    conn: Connection, ctx: Context, batch: Batch, sids: Sequence[str], erased: set[str]
) -> _Gated | Refusal:
    """Every collection goes through the gate: may this actor collect for each of the
    point's purposes, has the person been erased (P25, P28), and which purposes have they
    consented to (P07)? People in the same state get the same answers: decided once per
    state."""
    actor = batch.actor
    consented_by_subject = facts_mod.consented_purposes(conn, ctx, sids)
    point_cats = tuple(sorted({f.category for f in batch.cp.fields.values()}))
    member_active, grants, role = facts_mod.actor_membership(conn, ctx, actor, batch.tenant_id)
    tampered = facts_mod.credential_tampered(conn, ctx, actor, member_active)
    gated = _Gated()
    decided: dict[tuple[frozenset[str], bool], Allowed] = {}
    for sid in sids:
        have = consented_by_subject.get(sid, frozenset()) | frozenset(batch.consents)
        state = (have, sid in erased)
        if actor.kind is not ActorKind.subject and state in decided:
            gated.allowed[sid] = decided[state]
            continue
        facts = facts_mod.collection_facts(
            actor,
            sid,
            batch.tenant_id,
            have,
            member_active,
            grants,
            erased=sid in erased,
            member_role=role,
            member_tampered=tampered,
        )
        per: Allowed = {}
        refusals: list[Decision] = []
        for p in batch.purposes:
            ask = Ask(actor, Operation.collect, p, point_cats, batch.now)
            d = decide(ctx.policy, ask, facts)
            if d.allowed:
                per[p] = d.categories
            else:
                refusals.append(d)
                gated.dropped[p] = d.reason.value if d.reason else "refused"
        if not per and refusals:
            first = _actor_refusal(ctx, batch, refusals)
            if first is not None and first.reason is not None:
                return Refusal(first.reason, first.detail, details={"point": batch.cp.id})
            if any(d.reason is Reason.subject_erased for d in refusals):
                return Refusal(
                    Reason.subject_erased,
                    "this person's data was erased or their account closed: nothing more is"
                    " collected for them (a new sign-up, without their old subject id,"
                    " starts a new record)",
                    subject_id=sid,
                    details={"point": batch.cp.id},
                )
        gated.allowed[sid] = per
        decided[state] = per
    return gated


def _actor_refusal(ctx: Context, batch: Batch, refusals: list[Decision]) -> Decision | None:
    """The refusal of who collects that tells most, when the gate refused them every
    purpose: ``vendor_only`` where the point takes a category only the vendor's own
    purposes use (a customer pushing heart rate is told that, not that its role lacks the
    account purpose), else the first refusal of who they are."""
    idx = ctx.policy
    mine: set[str] = set()  # the categories the batch's vendor purposes use
    theirs: set[str] = set()  # and those its other purposes use
    for p in batch.purposes:
        (mine if p in idx.vendor_purposes else theirs).update(idx.purpose_categories[p])
    taken = {f.category for f in batch.cp.fields.values()}
    if taken & mine - theirs:
        found = next((d for d in refusals if d.reason is Reason.vendor_only), None)
        if found is not None:
            return found
    return next((d for d in refusals if d.reason in _ACTOR_REASONS), None)


def _unserved(ctx: Context, batch: Batch, sids: Sequence[str], gated: _Gated) -> Refusal | None:
    """The refusal of a field that would serve no purpose (the first found), or None;
    fills ``gated.serving`` (the purposes each field's category serves, per gate answer:
    the answers are shared by people with the same consents). The gate already exempted
    business contact data from consent (P05)."""
    cp = batch.cp
    for sid, data in zip(sids, batch.rows, strict=True):
        per = gated.allowed[sid]
        for fname, value in data.items():
            if value is None:
                continue
            spec = cp.fields[fname]
            serving_key = (id(per), spec.category)
            serving = gated.serving.get(serving_key)
            if serving is None:
                serving = gated.serving[serving_key] = sorted(
                    p for p, cats_ok in per.items() if spec.category in cats_ok
                )
            if serving or fname == cp.age_field:
                continue
            reason, why = _unserved_reason(ctx, batch, gated, spec.category)
            return Refusal(
                reason,
                f"field {fname!r} ({spec.category}) would serve no purpose: {why}",
                subject_id=sid,
                details={"point": cp.id, "field": fname},
            )
    return None


def _unserved_reason(
    ctx: Context, batch: Batch, gated: _Gated, category: str
) -> tuple[Reason, str]:
    """Why a value of ``category`` serves none of the batch's purposes, and in words: only
    the vendor's own purposes use it, and a customer collects it (``vendor_only``); its
    purposes need a consent not given; or none of them uses it."""
    idx = ctx.policy
    using = [p for p in batch.purposes if idx.purpose_allows(p, category)]
    if using and all(gated.dropped.get(p) == Reason.vendor_only.value for p in using):
        org = idx.policy.organisation.name
        return Reason.vendor_only, (
            f"only {org}'s own purposes ({', '.join(using)}) use it (`vendor_only` in its"
            " policy), and a customer (its admins, members or API keys) never collects for"
            f" them: leave the field out, or let {org}'s own systems collect it"
        )
    if using:
        return Reason.no_consent, "its purposes need consent and the person has not given it"
    return (
        Reason.purpose_not_declared_for_category,
        "no purpose of this collection point may use that category",
    )


def _values(
    conn: Connection,
    ctx: Context,
    batch: Batch,
    sids: Sequence[str],
    gated: _Gated,
    created: set[str],
    juris: Mapping[str, str],
) -> tuple[list[tuple[Any, ...]], list[AuditEntry], list[CollectResult]]:
    """The values to insert (in the order of ``_RECORD_COLUMNS``; sensitive ones encrypted
    under the person's data key; each with its record seal, troth.store.seals), one audit
    entry per person and each person's result."""
    idx = ctx.policy
    cp = batch.cp
    sensitive_fields = {f for f, spec in cp.fields.items() if idx.is_sensitive(spec.category)}
    keys = ensure_data_keys(conn, ctx, sids, created) if sensitive_fields else {}
    mac = seal_key(ctx.keys)
    c = _common(ctx, batch)
    # The seal's columns around (subject, category, field, value, ciphertext, key version)
    # and (purposes): the batch's.
    mid = (c["collection_point"],)
    tail: tuple[Any, ...] = (c["source"], c["supplier"], c["policy_version"], c["location"])
    tail += (c["collected_at"], None, None, False)
    out_rows: list[tuple[Any, ...]] = []
    audit: list[AuditEntry] = []
    results: list[CollectResult] = []
    for sid, data in zip(sids, batch.rows, strict=True):
        per = gated.allowed[sid]
        bound = tuple(sorted(per))
        stored = 0
        cats: set[str] = set()
        for fname, value in data.items():
            if value is None:
                continue
            spec = cp.fields[fname]
            serving = gated.serving[(id(per), spec.category)]
            if not serving:
                # Checked for the minimum age, not kept: no purpose needs it (P01).
                continue
            encoded = _ENCODE(_normalise(spec, value))
            cat = spec.category
            if fname in sensitive_fields:
                version, dek = keys[sid]
                blob = encrypt_value(
                    dek, sid, fname, version, encoded.encode(), category=cat, point=cp.id
                )
                row: tuple[Any, ...] = (sid, cat, fname, None, blob, version, serving)
            else:
                row = (sid, cat, fname, encoded, None, None, serving)
            seal = record_seal(mac, (sid, batch.tenant_id, *row[1:6], *mid, serving, *tail))
            out_rows.append((*row, seal))
            stored += 1
            cats.add(spec.category)
        audit.append(
            AuditEntry(
                action="collect",
                actor=batch.actor.label,
                subject_id=sid,
                tenant_id=batch.tenant_id,
                categories=tuple(sorted(cats)),
                details={
                    "point": cp.id,
                    "fields": sorted(k for k, v in data.items() if v is not None),
                    "purposes": list(bound),
                    "location": batch.where,
                    "policy_version": idx.version,
                },
            )
        )
        results.append(CollectResult(sid, stored, bound, juris[sid], dict(gated.dropped)))
    return out_rows, audit, results


def _normalise(spec: CollectedField, value: Any) -> Any:
    if spec.type in (FieldType.date, FieldType.datetime) and isinstance(value, date | datetime):
        return value.isoformat()
    return value
