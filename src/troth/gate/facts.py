"""The facts the gate decides on (:class:`troth.gate.Facts`): gathered from every concept's
tables in a few queries, and built here only, for a use, a record, a collection or an
aggregate."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, literal_column, or_, select

from troth.consent.state import backed
from troth.consent.tables import consent_state as state
from troth.context import Context
from troth.gate import Actor, ActorKind, Facts, Grant
from troth.store.subjects import SubjectRow
from troth.store.tables import policy_notices, restrictions, subjects


def consented_purposes(
    conn: Connection, ctx: Context, subject_ids: Sequence[str]
) -> dict[str, frozenset[str]]:
    """Purposes each subject currently consents to, from the consent ledger's state (a
    consent to a notice that since changed materially does not count, nor a state the
    ledger does not back: troth.consent.state.backed)."""
    if not subject_ids:
        return {}
    reconsent = notices_of(conn, ctx).reconsent
    out: dict[str, set[str]] = {}
    for start in range(0, len(subject_ids), 900):
        chunk = list(subject_ids[start : start + 900])
        for sid, purpose, digest in conn.execute(
            select(state.c.subject_id, state.c.purpose, state.c.notice_hash).where(
                state.c.subject_id.in_(chunk), state.c.granted.is_(True), backed()
            )
        ):
            if purpose not in reconsent or reconsent[purpose] == digest:
                out.setdefault(sid, set()).add(purpose)
    return {k: frozenset(v) for k, v in out.items()}


def record_consents(
    conn: Connection,
    ctx: Context,
    subject_ids: Iterable[str],
    purposes: Iterable[str],
    actor: Actor,
    point: str,
    method: str,
) -> None:
    """Consent given at collection time, recorded in the ledger in the same transaction
    with how it reached troth (``method``: api, staff, import...)."""
    from troth.consent import record_collection_consents

    record_collection_consents(
        conn, ctx, list(subject_ids), list(purposes), actor.label, point, method
    )


@dataclass(frozen=True)
class PolicyNotices:
    """What published changes started: new uses waiting for their notice (P08) and purposes
    whose consent must be given again to a changed notice (P07)."""

    new_uses: dict[tuple[str, str, str], tuple[datetime, bool, str]]
    reconsent: dict[str, str]  # purpose -> hash of the notice text consent must be given to


def notices_of(conn: Connection, ctx: Context) -> PolicyNotices:
    """Cached per context and newest policy digest: notices change only when a policy is
    published, and publishing installs the newest policy too (even one that waits for its
    effective date)."""
    cache = ctx.__dict__.setdefault("_notices", {})
    key = ctx.newest_policy.digest
    if key not in cache:
        cache.clear()
        new_uses: dict[tuple[str, str, str], tuple[datetime, bool, str]] = {}
        reconsent: dict[str, str] = {}
        # A notice runs from when its version was published, as the audit log recorded
        # it: a posted_at moved back outside troth shortens no notice period
        # (troth.policy.logged; verify names the row).
        from troth.policy.logged import logged_versions

        published = {v: h.published_at for v, h in logged_versions(conn).items()}
        n = policy_notices.c
        rows = conn.execute(
            select(
                n.kind,
                n.point,
                n.purpose,
                n.category,
                n.needs_consent,
                n.notice_hash,
                n.posted_at,
                n.version,
            ).order_by(n.id)
        )
        for kind, point, purpose, category, needs, digest, posted, version in rows:
            posted = published.get(version, posted)
            if kind == "reconsent" and digest:
                reconsent[purpose] = digest
            elif kind == "new_use" and point and category:
                # The latest notice for a use counts (a use removed and added again).
                new_uses[(point, purpose, category)] = (posted, bool(needs), version)
        cache[key] = PolicyNotices(new_uses, reconsent)
    result: PolicyNotices = cache[key]
    return result


def actor_membership(
    conn: Connection, ctx: Context, actor: Actor, tenant_id: str | None
) -> tuple[bool, tuple[Grant, ...], str | None]:
    """Is the actor an active member of ``tenant_id``, which support grants do they hold
    for it, and which member role do they hold now (only asked for the kinds of actor it
    concerns)."""
    if tenant_id is None or actor.kind not in (
        ActorKind.tenant_admin,
        ActorKind.tenant_member,
        ActorKind.vendor_admin,
        ActorKind.staff,
    ):
        return False, (), None
    from troth.access import actor_facts

    return actor_facts(conn, ctx, actor, tenant_id)


def credential_tampered(conn: Connection, ctx: Context, actor: Actor, member_active: bool) -> bool:
    """Whether an actor found no active member is a customer's member whose account was
    changed outside troth (:func:`troth.access.facts.member_tampered`); asked only then."""
    if member_active or actor.kind not in (ActorKind.tenant_admin, ActorKind.tenant_member):
        return False
    from troth.access.facts import member_tampered

    return member_tampered(conn, ctx, actor)


# Separators as SQL literals, not post-compiled parameters: the statement is then compiled
# once (troth.driver.Prepared) rather than rewritten at each execution.
_COMMA: Any = literal_column("','")  # typed as Any: aggregate_strings is typed for str


def _facts_columns(subject_id: Any) -> tuple[Any, Any]:
    """Two scalar subqueries for a subject: its consented purposes as
    ``purpose|notice_hash,...`` and its restricted purposes as ``purpose,...``."""
    consented = (
        select(
            func.aggregate_strings(
                state.c.purpose + literal_column("'|'") + func.coalesce(state.c.notice_hash, ""),
                _COMMA,
            )
        )
        .where(state.c.subject_id == subject_id, state.c.granted.is_(True), backed())
        .scalar_subquery()
        .label("f_consented")
    )
    restricted = (
        select(func.aggregate_strings(restrictions.c.purpose, _COMMA))
        .where(restrictions.c.subject_id == subject_id)
        .scalar_subquery()
        .label("f_restricted")
    )
    return consented, restricted


def subject_and_facts_stmt(filtered: bool) -> Any:
    """The subject, their values and keys (:func:`troth.store.values.subject_values_stmt`) plus,
    on every row, their consented and restricted purposes: everything a use needs in one
    round trip."""
    from troth.store.values import subject_values_stmt

    return subject_values_stmt(filtered).add_columns(*_facts_columns(subjects.c.id))


_FACTS_ONLY = select(*_facts_columns(bindparam("sid")))


def facts_from_row(
    conn: Connection, ctx: Context, actor: Actor, subject: SubjectRow, row: Any
) -> Facts:
    """Every fact bearing on a decision about ``subject`` by ``actor``, from a row whose
    last two columns are ``f_consented`` and ``f_restricted`` (:func:`subject_and_facts_stmt`)."""
    notices = notices_of(conn, ctx)
    consented: set[str] = set()
    f_consented, f_restricted = row[-2], row[-1]
    for item in (f_consented or "").split(","):
        if not item:
            continue
        purpose, _, digest = item.partition("|")
        # Consent to an older notice does not cover a materially changed one (P07).
        if purpose not in notices.reconsent or notices.reconsent[purpose] == digest:
            consented.add(purpose)
    restricted = {p for p in (f_restricted or "").split(",") if p}
    deferred, held_for = held_open(conn, subject) if restricted else (frozenset(), frozenset())
    member_active, grants, member_role = actor_membership(conn, ctx, actor, subject.tenant_id)
    return Facts(
        subject_id=subject.id,
        subject_tenant=subject.tenant_id,
        subject_self=actor.kind is ActorKind.subject and actor.id == subject.id,
        consented=frozenset(consented),
        restricted=frozenset(restricted - held_for),
        deferred=deferred - held_for,
        held_for=held_for,
        notices=notices.new_uses,
        member_active=member_active,
        member_role=member_role,
        member_tampered=credential_tampered(conn, ctx, actor, member_active),
        grants=grants,
        erased=subject.erased_at is not None,
    )


def held_open(conn: Connection, subject: SubjectRow) -> tuple[frozenset[str], frozenset[str]]:
    """Of a person's restrictions, those an erasure waiting for a legal hold placed
    (troth.requests.deferral), and of these, the purposes a hold on them (or on their
    tenant) serves: the hold keeps those open while it runs (GDPR Art. 17(3)(e), 18(2)).
    A restriction the person asked for stays, whatever a hold serves."""
    from troth.requests.states import RequestState
    from troth.requests.tables import requests
    from troth.retention.tables import legal_holds

    r, q, h = restrictions.c, requests.c, legal_holds.c
    waiting = select(q.id).where(q.state == RequestState.awaiting_hold.value)
    deferred = frozenset(
        str(p)
        for p in conn.execute(
            select(r.purpose).where(r.subject_id == subject.id, r.request_id.in_(waiting))
        ).scalars()
    )
    if not deferred:
        return deferred, frozenset()
    on = h.subject_id == subject.id
    if subject.tenant_id is not None:
        on = or_(on, h.tenant_id == subject.tenant_id)
    served: set[str] = set()
    for purposes in conn.execute(select(h.purposes).where(h.lifted_at.is_(None), on)).scalars():
        served.update(str(p) for p in purposes or ())
    return deferred, frozenset(served & deferred)


def collection_facts(
    actor: Actor,
    subject_id: str,
    tenant_id: str | None,
    consented: frozenset[str],
    member_active: bool,
    grants: tuple[Grant, ...],
    erased: bool = False,
    member_role: str | None = None,
    member_tampered: bool = False,
) -> Facts:
    """The facts of a collection about ``subject_id`` (:mod:`troth.collection.storing`):
    who collects, for which customer, with which consents (those given with the data
    included), and whether the person named by id was erased (the gate then refuses,
    P25/P28); a restriction limits uses, not a collection."""
    return Facts(
        subject_id=subject_id,
        subject_tenant=tenant_id,
        subject_self=actor.kind is ActorKind.subject and actor.id == subject_id,
        consented=consented,
        member_active=member_active,
        member_role=member_role,
        member_tampered=member_tampered,
        grants=grants,
        erased=erased,
    )


def aggregate_facts(
    tenant_id: str | None,
    member_active: bool,
    *,
    consented: frozenset[str] = frozenset(),
    restricted: frozenset[str] = frozenset(),
    erased: bool = False,
    member_role: str | None = None,
    member_tampered: bool = False,
) -> Facts:
    """The facts of one kind of person in an aggregate (:mod:`troth.aggregates.query`):
    no one in particular, only whether they consented, restricted the purpose or were
    erased, and whether the actor is an active member of their customer."""
    return Facts(
        subject_tenant=tenant_id,
        consented=consented,
        restricted=restricted,
        erased=erased,
        member_active=member_active,
        member_role=member_role,
        member_tampered=member_tampered,
    )


def gather(conn: Connection, ctx: Context, actor: Actor, subject: SubjectRow) -> Facts:
    """Every fact bearing on a decision about ``subject`` by ``actor`` (one query)."""
    row = conn.execute(_FACTS_ONLY, {"sid": subject.id}).one()
    return facts_from_row(conn, ctx, actor, subject, row)
