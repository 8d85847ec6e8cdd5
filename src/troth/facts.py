"""Gathering the facts the gate needs, from every concept's tables, in a few queries."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, literal, select, union_all

from troth.context import Context
from troth.db import metadata
from troth.gate import Actor, ActorKind, Facts, Grant
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


def _subject_facts_stmt() -> Any:
    """Consented and restricted purposes of one subject in one round trip."""
    state = metadata.tables.get("consent_state")
    restricted = select(literal("r").label("k"), restrictions.c.purpose).where(
        restrictions.c.subject_id == bindparam("sid")
    )
    if state is None:
        return restricted
    consented = select(literal("c").label("k"), state.c.purpose).where(
        state.c.subject_id == bindparam("sid"), state.c.granted.is_(True)
    )
    return union_all(consented, restricted)


_STMT: list[Any] = []


def notices_of(conn: Connection, ctx: Context) -> dict[str, Any]:
    """Purposes whose change notice is running or ran, cached per context: they change
    only when a policy is published, which replaces the context's policy too."""
    cache = ctx.__dict__.setdefault("_notices", {})
    key = ctx.policy.digest
    if key not in cache:
        cache.clear()
        cache[key] = {
            p: at
            for p, at in conn.execute(select(policy_notices.c.purpose, policy_notices.c.posted_at))
        }
    return dict(cache[key])


def gather(conn: Connection, ctx: Context, actor: Actor, subject: SubjectRow) -> Facts:
    """Every fact bearing on a decision about ``subject`` by ``actor``."""
    sid = subject.id
    if not _STMT:
        _STMT.append(_subject_facts_stmt())
    consented: set[str] = set()
    restricted: set[str] = set()
    for kind, purpose in conn.execute(_STMT[0], {"sid": sid}):
        (consented if kind == "c" else restricted).add(purpose)
    member_active = False
    grants: tuple[Grant, ...] = ()
    if actor.kind in (ActorKind.tenant_admin, ActorKind.tenant_member, ActorKind.vendor_admin):
        from troth.access import actor_facts

        member_active, grants = actor_facts(conn, ctx, actor, subject.tenant_id)
    return Facts(
        subject_id=sid,
        subject_tenant=subject.tenant_id,
        subject_self=actor.kind is ActorKind.subject and actor.id == sid,
        consented=frozenset(consented),
        restricted=frozenset(restricted),
        notices=notices_of(conn, ctx),
        member_active=member_active,
        grants=grants,
    )
