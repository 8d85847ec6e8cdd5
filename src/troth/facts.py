"""Gathering the facts the gate needs, from every concept's tables, in a few queries."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, select

from troth.context import Context
from troth.db import metadata
from troth.gate import Actor, ActorKind, Facts
from troth.store import SubjectRow
from troth.store.tables import policy_notices, restrictions


def consented_purposes(conn: Connection, subject_ids: Sequence[str]) -> dict[str, frozenset[str]]:
    """Purposes each subject currently consents to (from the consent ledger's state)."""
    state = metadata.tables.get("consent_state")
    if state is None or not subject_ids:
        return {}
    out: dict[str, set[str]] = {}
    for start in range(0, len(subject_ids), 900):
        chunk = list(subject_ids[start : start + 900])
        for sid, purpose in conn.execute(
            select(state.c.subject_id, state.c.purpose).where(
                state.c.subject_id.in_(chunk), state.c.granted.is_(True)
            )
        ):
            out.setdefault(sid, set()).add(purpose)
    return {k: frozenset(v) for k, v in out.items()}


def record_consents(
    conn: Connection,
    ctx: Context,
    subject_ids: Iterable[str],
    purposes: Iterable[str],
    actor: Actor,
    point: str,
) -> None:
    """Consent given at collection time, recorded in the ledger in the same transaction."""
    from troth.consent import record_collection_consents

    record_collection_consents(conn, ctx, list(subject_ids), list(purposes), actor.label, point)


def gather(conn: Connection, ctx: Context, actor: Actor, subject: SubjectRow) -> Facts:
    """Every fact bearing on a decision about ``subject`` by ``actor``."""
    sid = subject.id
    consented = consented_purposes(conn, [sid]).get(sid, frozenset())
    restricted = frozenset(
        conn.execute(select(restrictions.c.purpose).where(restrictions.c.subject_id == sid)).scalars()
    )
    notices = {p: at for p, at in conn.execute(select(policy_notices.c.purpose, policy_notices.c.posted_at))}
    member_active = False
    grants: tuple = ()
    if actor.kind in (ActorKind.tenant_admin, ActorKind.tenant_member, ActorKind.vendor_admin):
        from troth.access import actor_facts

        member_active, grants = actor_facts(conn, ctx, actor, subject.tenant_id)
    return Facts(
        subject_id=sid,
        subject_tenant=subject.tenant_id,
        subject_self=actor.kind is ActorKind.subject and actor.id == sid,
        consented=consented,
        restricted=restricted,
        notices=notices,
        member_active=member_active,
        grants=grants,
    )
