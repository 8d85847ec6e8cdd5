"""What each kind of request does to troth's own store, inside the caller's transaction
(one transaction: troth's part is all done or not at all). Connected datasets are the
service's job; these functions never open a connection of their own."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import Connection, and_, select, update

from troth.audit.crosscheck import RESTRICTION_PLACED
from troth.audit.entry import AuditEntry, Outcome
from troth.audit.log import append_entries
from troth.collection.phones import e164_candidates, lookup_regions, region_for
from troth.collection.validation import check_value
from troth.consent.events import ConsentKind, ConsentMethod
from troth.context import Context
from troth.errors import ValidationError
from troth.notices.purge import scrub_for_subjects
from troth.policy.model import LegalBasis, LegalMinimum
from troth.store.crypto import encrypt_value
from troth.store.erasure import erase_subject_data
from troth.store.identity_seals import live_hits
from troth.store.keystore import ensure_data_keys
from troth.store.reindex import sync_identities
from troth.store.seals import reseal
from troth.store.subject_seals import update_subjects
from troth.store.subjects import blind_index_lookup, get_subject
from troth.store.tables import records, restrictions, subjects
from troth.store.values import StoredValue, read_values


def _own_periods(
    ctx: Context, values: Sequence[StoredValue]
) -> dict[str, tuple[LegalMinimum, list[tuple[StoredValue, date]]]]:
    """By purpose: its legal minimum and the values it names, each with the end of its
    own period (counted from its collection)."""
    out: dict[str, tuple[LegalMinimum, list[tuple[StoredValue, date]]]] = {}
    for v in values:
        for pid in v.purposes:
            p = ctx.policy.purposes.get(pid)
            lm = p.retention.legal_minimum if p is not None and p.retention else None
            if lm is None or v.category not in lm.categories:
                continue
            d = lm.keep_for
            until = v.collected_at.date() + _period(d.years, d.months, d.days)
            out.setdefault(pid, (lm, []))[1].append((v, until))
    return out


@functools.lru_cache(maxsize=256)
def _period(years: int, months: int, days: int) -> relativedelta:
    """A legal minimum's period, made once (building a relativedelta costs more than
    adding it to a date)."""
    return relativedelta(years=years, months=months, days=days)


def erase_in_store(conn: Connection, ctx: Context, subject_id: str) -> dict[str, Any]:
    """Delete (and crypto-shred) the person's values, keeping those the law requires,
    restricted to their legal purpose until the minimum ends (P25). The report says what
    was found, deleted and kept, and why."""
    now = ctx.clock.now()
    get_subject(conn, subject_id, ctx.keys)
    values = read_values(conn, ctx, subject_id)
    report = erasure_report(values)
    report.update(end_what_follows(conn, ctx, subject_id))
    from troth.requests.deferral import holds_on

    if holds_on(conn, [subject_id]).get(subject_id):  # on the person or their tenant
        return held(report, values)
    kept = kept_groups(legal_keeps(ctx, values, now.date()), values)
    for (purpose, until), vals in sorted(kept.items()):
        # One UPDATE per (purpose, until): a handful, whatever the number of values.
        conn.execute(
            update(records)
            .where(records.c.id.in_([v.id for v in vals]))
            .values(restricted_to=purpose, restricted_until=until, updated_at=now)
        )
        reseal(conn, ctx.keys, [v.id for v in vals])  # checked by read_values above
        report["kept_because"].append(kept_because(ctx, purpose, until, vals))
    keep_ids = [v.id for vals in kept.values() for v in vals]
    counts = erase_subject_data(conn, ctx, [subject_id], keep=keep_ids)
    report["mail_scrubbed"] = scrub_for_subjects(conn, ctx, [subject_id])[subject_id]
    conn.execute(
        restrictions.delete().where(
            restrictions.c.subject_id == subject_id, restrictions.c.request_id.is_not(None)
        )
    )
    report["deleted"] = counts["records_deleted"]
    report["keys_shredded"] = counts["keys_shredded"]
    report["kept"] = len(keep_ids)
    report["also_kept"] = also_kept()
    return report


def erasure_report(values: Sequence[StoredValue]) -> dict[str, Any]:
    """troth's report of erasing a person, before anything is done: what was found."""
    return {
        "system": "troth",
        "found": len(values),
        "deleted": 0,
        "masked": 0,
        "kept": 0,
        "kept_because": [],
    }


def held(report: dict[str, Any], values: Sequence[StoredValue]) -> dict[str, Any]:
    """The report of a person on legal hold: everything kept, because of "a legal hold",
    never which one nor its reason: the report is read by the person's tenant (a request's
    result, an offboarding's certificate), and a hold may be gagged. The office finds the
    holds in ``legal_holds``."""
    report["kept"] = len(values)
    report["kept_because"].append(
        {
            "rows": len(values),
            "reason": "legal hold",
            "purpose": None,
            "until": None,
            "categories": sorted({v.category for v in values}),
        }
    )
    return report


def legal_keeps(
    ctx: Context, values: Sequence[StoredValue], today: date
) -> dict[int, tuple[str, date]]:
    """By value id: (purpose, until) for each of a person's values the law requires
    keeping, the longest where several minimums keep it. Without ``only_with`` each value
    keeps its own period. With it, only a person holding a record it names, still within
    its period, keeps anything of the minimum: each record its own period, the other
    categories (what identifies the record) until the latest record's period ends."""
    kept: dict[int, tuple[str, date]] = {}
    for pid, (lm, pairs) in _own_periods(ctx, values).items():
        if lm.only_with:
            records = {v.id for v, _ in pairs if v.category in lm.only_with}
            latest = max((u for v, u in pairs if v.id in records), default=today)
            pairs = [(v, u if v.id in records else latest) for v, u in pairs]
        for v, until in pairs:
            best = kept.get(v.id)
            if until > today and (best is None or until > best[1]):
                kept[v.id] = (pid, until)
    return kept


def kept_groups(
    kept: Mapping[int, tuple[str, date]], values: Sequence[StoredValue]
) -> dict[tuple[str, date], list[StoredValue]]:
    """:func:`legal_keeps`'s answer grouped by (purpose, until), one UPDATE each."""
    groups: dict[tuple[str, date], list[StoredValue]] = {}
    for v in values:
        if v.id in kept:
            groups.setdefault(kept[v.id], []).append(v)
    return groups


def kept_because(
    ctx: Context, purpose: str, until: date, vals: Sequence[StoredValue]
) -> dict[str, Any]:
    """Why ``vals`` are kept: the law of ``purpose``'s legal minimum, until when."""
    p = ctx.policy.purposes[purpose]
    law = p.retention.legal_minimum.law if p.retention and p.retention.legal_minimum else ""
    cats = sorted({v.category for v in vals})
    what = (p.description or purpose.replace("_", " ")).strip().rstrip(".")
    return {
        "rows": len(vals),
        "reason": f"{law} requires keeping {', '.join(cats)}"
        f"; restricted to {purpose!r} until {until.isoformat()}",
        # The same in the policy's words, for the person's letter (no ids).
        "words": "Kept, as the law requires"
        + (f" ({law})" if law else "")
        + f': {_described(ctx, cats)}. We use it only for "{what}", until'
        f" {until.isoformat()}.",
        "purpose": purpose,
        "law": law,
        "until": until.isoformat(),
        "categories": cats,
        "fields": sorted({v.field for v in vals}),
    }


def _described(ctx: Context, categories: Sequence[str]) -> str:
    """The categories as the policy describes them, in one phrase."""
    words = []
    for c in categories:
        info = ctx.policy.categories.get(c)
        text = info.description.strip().rstrip(".") if info and info.description else ""
        words.append(text or c.replace("_", " "))
    return "; ".join(words)


def also_kept() -> list[dict[str, str]]:
    """What an erasure keeps of everyone, whatever the law says of their values."""
    return [
        {"what": "consent records", "reason": "proof of consent (GDPR Art. 7(1))"},
        {"what": "audit log entries", "reason": "tamper-evident log; they hold no values"},
    ]


def end_what_follows(conn: Connection, ctx: Context, subject_id: str) -> dict[str, Any]:
    """What follows from the person ends with their erasure or closure (P07, P10, P25,
    P28): every consent (an ``erasure`` event in the ledger, which ends their list
    subscriptions), their unsubscribe links (spent), and queued list, purpose and notice
    mail (suppressed). Later uses, mail and disclosures are refused ``subject_erased``."""
    from troth.consent import ConsentLedger
    from troth.consent.tables import unsubscribe_tokens
    from troth.notices.outbox import cancel_for_subject

    now = ctx.clock.now()
    ended = ConsentLedger(ctx).end_all(
        conn,
        subject_id,
        method=ConsentMethod.request,
        actor="system:troth",
        at=now,
        details={"why": "erasure"},
    )
    conn.execute(
        update(unsubscribe_tokens)
        .where(
            unsubscribe_tokens.c.subject_id == subject_id, unsubscribe_tokens.c.used_at.is_(None)
        )
        .values(used_at=now)
    )
    return {"consents_ended": ended, "mail_cancelled": cancel_for_subject(conn, ctx, subject_id)}


def close_relationship(conn: Connection, ctx: Context, subject_id: str) -> None:
    """The customer stopped using the service (P28): the relationship ends now."""
    where = and_(subjects.c.id == subject_id, subjects.c.relationship_ended_at.is_(None))
    update_subjects(conn, ctx.keys, where, relationship_ended_at=ctx.clock.now(), status="closed")


def check_corrections(
    ctx: Context, values: Sequence[StoredValue], changes: Mapping[str, Any], mapped: set[str]
) -> None:
    """Every change names a field the person has in troth or a connected dataset maps, and
    fits the field's declared type at the point it was collected."""
    if not changes:
        raise ValidationError(
            "say what to correct: details.changes = {field: new value}", code="no_changes"
        )
    have = {v.field for v in values}
    for fname, new in changes.items():
        if fname not in have and fname not in mapped:
            known = ", ".join(sorted(have | mapped)) or "none"
            raise ValidationError(
                f"no value {fname!r} is held about this person (fields held: {known})",
                code="unknown_field",
                field=fname,
            )
        for v in values:
            spec = ctx.policy.point_fields.get(v.collection_point or "", {}).get(v.field)
            if v.field != fname or spec is None:
                continue
            problem = check_value(spec, new, ctx.settings.max_value_bytes)
            if problem:
                raise ValidationError(f"field {fname!r}: {problem}", field=fname)
            if spec.identifies == "phone" and new not in (None, ""):
                # Indexed in E.164: a number no region can read is refused before any write.
                e164_candidates(str(new), lookup_regions(ctx.policy.policy))


def _identity_form(ctx: Context, kind: str, value: Any, jurisdiction: str | None) -> str:
    """A phone number in E.164, read in the person's region first (as collected)."""
    if kind != "phone":
        return str(value)
    policy = ctx.policy.policy
    regions = [region_for(policy, jurisdiction), *lookup_regions(policy)]
    return e164_candidates(str(value), regions)[0]


def _refuse_taken_identities(
    conn: Connection,
    ctx: Context,
    person: Any,
    values: Sequence[StoredValue],
    changes: Mapping[str, Any],
) -> None:
    """A correction that would give the person an e-mail, phone or customer id that
    already identifies another living person of their tenant is refused whole
    (``identifier_in_use``), as a collection is: it would merge two people, so that a
    look-up or an erasure reaches the wrong one."""
    from troth.collection.identities import IdentifierInUse

    for v in values:
        if v.field not in changes:
            continue
        spec = ctx.policy.point_fields.get(v.collection_point or "", {}).get(v.field)
        if spec is None or not spec.identifies:
            continue
        form = _identity_form(ctx, spec.identifies, changes[v.field], person.jurisdiction)
        h = ctx.keys.blind_index(spec.identifies, form)
        rows = conn.execute(blind_index_lookup(spec.identifies, [h]))
        for _, sid, tenant, erased in live_hits(ctx.keys, spec.identifies, rows):
            if sid != person.id and tenant == person.tenant_id and erased is None:
                raise IdentifierInUse(
                    f"field {v.field!r}: the corrected {spec.identifies.replace('_', ' ')}"
                    " already identifies another person: nothing was corrected. If both"
                    " are one person, erase or correct the other record first; else give"
                    " another value",
                    field=v.field,
                )


def correct_in_store(
    conn: Connection, ctx: Context, subject_id: str, changes: Mapping[str, Any]
) -> dict[str, Any]:
    """Write each change over every stored value of that field (re-encrypted with the
    person's current key when sensitive); a corrected e-mail, phone or customer id
    replaces the old one among the person's identities."""
    now = ctx.clock.now()
    values = read_values(conn, ctx, subject_id)
    person = get_subject(conn, subject_id, ctx.keys)
    subj_juris = person.jurisdiction
    _refuse_taken_identities(conn, ctx, person, values, changes)
    corrected = 0
    identity_changed = False
    keys: dict[str, tuple[int, bytes]] = {}
    for v in values:
        if v.field not in changes or v.value == changes[v.field]:
            continue
        encoded = json.dumps(changes[v.field], ensure_ascii=False)
        row: dict[str, Any] = {"updated_at": now}
        if ctx.policy.is_sensitive(v.category):
            if not keys:
                keys = ensure_data_keys(conn, ctx, [subject_id])
            version, dek = keys[subject_id]
            row.update(
                ciphertext=encrypt_value(
                    dek,
                    subject_id,
                    v.field,
                    version,
                    encoded.encode(),
                    category=v.category,
                    point=v.collection_point,
                ),
                key_version=version,
                value=None,
            )
        else:
            row.update(value=encoded, ciphertext=None, key_version=None)
        conn.execute(update(records).where(records.c.id == v.id).values(**row))
        reseal(conn, ctx.keys, [v.id])  # checked by read_values above
        corrected += 1
        spec = ctx.policy.point_fields.get(v.collection_point or "", {}).get(v.field)
        identity_changed = identity_changed or (spec is not None and bool(spec.identifies))
    if identity_changed:
        # The corrected value replaces the old one as an identity: the old no longer finds them.
        sync_identities(conn, ctx, subject_id, subj_juris, read_values(conn, ctx, subject_id))
    return {"system": "troth", "found": len(values), "corrected": corrected}


def check_purposes(ctx: Context, purposes: Sequence[str]) -> list[str]:
    if not purposes:
        raise ValidationError(
            "name the purposes to limit: details.purposes = [...] (purposes in the policy: "
            + ", ".join(sorted(ctx.policy.purposes))
            + ")",
            code="no_purposes",
        )
    bad = [p for p in purposes if p not in ctx.policy.purposes]
    if bad:
        raise ValidationError(
            f"unknown purpose {bad[0]!r} (purposes in the policy: "
            f"{', '.join(sorted(ctx.policy.purposes))})",
            code="unknown_purpose",
        )
    legal = [
        p for p in purposes if ctx.policy.purposes[p].legal_basis is LegalBasis.legal_obligation
    ]
    if legal:
        raise ValidationError(
            f"purpose {legal[0]!r} rests on a legal obligation: a person's request cannot limit"
            " or stop it (GDPR Art. 18(2) and 21, CPRA's exceptions for complying with the"
            " law); name the other purposes",
            code="legal_obligation_purpose",
        )
    return sorted(set(purposes))


def restrict_in_store(
    conn: Connection,
    ctx: Context,
    subject_id: str,
    purposes: Sequence[str],
    request_id: str,
    now: datetime,
) -> list[str]:
    """Insert a restriction per purpose not already restricted; returns the new ones."""
    have = set(
        conn.execute(
            select(restrictions.c.purpose).where(restrictions.c.subject_id == subject_id)
        ).scalars()
    )
    new = [p for p in purposes if p not in have]
    if new:
        conn.execute(
            restrictions.insert(),
            [
                {"subject_id": subject_id, "purpose": p, "since": now, "request_id": request_id}
                for p in new
            ],
        )
        # Recorded in the log too: `troth audit verify` finds a restriction deleted outside
        # troth (troth.audit.crosscheck). Under the request's id only: never why.
        entry = AuditEntry(
            RESTRICTION_PLACED,
            "system:troth",
            Outcome.info,
            subject_id=subject_id,
            details={"purposes": new, "request_id": request_id},
        )
        append_entries(conn, now, [entry])
    return new


def marketing_purposes(ctx: Context) -> list[str]:
    """Purposes an objection to marketing covers: flagged marketing, or sending a
    marketing list."""
    out = {p.id for p in ctx.policy.policy.purposes if p.marketing}
    out |= {lst.purpose for lst in ctx.policy.policy.lists if lst.marketing}
    return sorted(out)


def object_in_store(
    conn: Connection,
    ctx: Context,
    subject_id: str,
    purposes: Sequence[str],
    request_id: str,
    method: ConsentMethod,
    actor: str,
) -> dict[str, Any]:
    """Objection to marketing: an opt-out in the consent ledger for every purpose (mail
    for them is then suppressed), and a restriction for those not resting on consent (the
    gate refuses them as ``restricted``)."""
    from troth.consent import ConsentLedger
    from troth.consent.append import erased_refusal

    if erased_refusal(conn, subject_id, purposes) is not None:
        # Erasure ended every consent and use already: nothing more is recorded for them.
        return {"system": "troth", "withdrawn": [], "restricted": [], "erased": True}
    now = ctx.clock.now()
    ledger = ConsentLedger(ctx)
    for p in purposes:
        ledger.record_opt_out(
            conn,
            subject_id,
            p,
            kind=ConsentKind.withdraw,
            method=method,
            actor=actor,
            at=now,
            details={"request_id": request_id},
        )
    not_consent = [
        p for p in purposes if ctx.policy.purposes[p].legal_basis is not LegalBasis.consent
    ]
    restricted = restrict_in_store(conn, ctx, subject_id, not_consent, request_id, now)
    return {"system": "troth", "withdrawn": list(purposes), "restricted": restricted}
