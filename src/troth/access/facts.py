"""What the gate learns of an actor from the access tables (troth.gate.facts): whether a
customer's member belongs to the person's tenant, and which support grants for it a
vendor admin or staff member holds (a grant whose row does not match its seal,
troth.access.seals, is marked ``tampered``: the gate takes it for no grant, and says
``record_tampered`` where it would have been live)."""

from __future__ import annotations

from sqlalchemy import Connection, select

from troth.access.accounts import UserKind, signed_in_as
from troth.access.grants import GrantStatus
from troth.access.seals import GRANT_COLUMNS, row_matches
from troth.access.tables import support_grants, users
from troth.clock import utc
from troth.context import Context
from troth.gate import Actor, ActorKind, Grant


def member_tampered(conn: Connection, ctx: Context, actor: Actor) -> bool:
    """Is ``actor`` a customer's member (or admin) whose account, active and of their
    kind, does not match its seal (changed outside troth: a role, a tenant or an admin-ness
    edited in the database)? The gate refuses it ``record_tampered``, not as a membership
    that was revoked."""
    if actor.kind not in (ActorKind.tenant_admin, ActorKind.tenant_member):
        return False
    row = conn.execute(select(users).where(users.c.id == actor.id)).first()
    return (
        row is not None
        and row.disabled_at is None
        and row.kind == UserKind.tenant_member.value
        and not row_matches(ctx.keys, users, row)
    )


# How many of a vendor admin's most recent grants for a tenant the gate is shown.
_FACT_GRANTS = 50


def actor_facts(
    conn: Connection, ctx: Context, actor: Actor, subject_tenant_id: str | None
) -> tuple[bool, tuple[Grant, ...], str | None]:
    """For the gate: is ``actor`` an active member of the subject's tenant, which of
    their support grants for it exist (approved ones, expired and revoked included so the
    gate can say ``grant_expired``), and the role (``for: tenant_members``) a member
    holds now, read from their account (not the one a session began with)."""
    if subject_tenant_id is None:
        return False, (), None
    if actor.kind in (ActorKind.tenant_admin, ActorKind.tenant_member):
        row = signed_in_as(conn, actor, ctx.keys, kind=UserKind.tenant_member)
        if row is None or row.tenant_id != subject_tenant_id:
            return False, (), None
        return True, (), row.role
    if actor.kind in (ActorKind.vendor_admin, ActorKind.staff):
        # The vendor's people: admins, and staff signed in as themselves (an asserted
        # ``--actor staff:NAME@ROLE`` names no account, so it holds no grant).
        if signed_in_as(conn, actor, ctx.keys) is None:
            return False, (), None
        t = support_grants
        rows = conn.execute(
            select(*(t.c[n] for n in GRANT_COLUMNS), t.c.seal)
            .where(
                t.c.tenant_id == subject_tenant_id,
                t.c.requested_by == actor.id,
                t.c.status.in_([GrantStatus.approved.value, GrantStatus.revoked.value]),
                t.c.starts_at.is_not(None),
            )
            .order_by(t.c.expires_at.desc())
            .limit(_FACT_GRANTS)
        ).all()
        grants = tuple(
            Grant(
                r.id,
                r.tenant_id,
                frozenset(r.categories or ()),
                frozenset(r.subject_ids or ()),
                utc(r.starts_at),
                utc(r.expires_at),
                revoked=r.status == GrantStatus.revoked.value,
                tampered=not row_matches(ctx.keys, t, r),
            )
            for r in rows
        )
        return False, grants, None
    return False, (), None
