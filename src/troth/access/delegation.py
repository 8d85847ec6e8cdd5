"""No delegation beyond one's own reach: a customer's admin may give a role (``for:
tenant_members``) to themself or another of their customer's people, take one away, or
invite someone as an admin or with a role, only when what that person could then read
(purposes, categories, fields read whole: :func:`troth.gate.members.member_reach`) is
within what the admin may read themselves. An admin without a role reads everything and
may give anything; one with a narrow role may give only as much, so they can neither
drop their own role (an admin without one reads everything) nor invite an admin without
one; a member who is not an admin gives nothing (``not_tenant_admin``, decided before).
troth itself (the operator, the vendor's office, a key bound to the customer acting as
its admin: :meth:`troth.access.service.AccessService.acting_for_tenant`) is not bound.

A refusal is audited (``beyond_own_role``) under the customer, with what was asked, and
says what the person would read beyond the admin's own role. Accepting an invitation
decides it again, with the inviter as they are then (:func:`void_beyond_inviter`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from troth.access.accounts import TenantRole, UserKind, signed_in_as
from troth.access.invitations import Invitation
from troth.access.seals import write_sealed
from troth.access.tables import invitations, users
from troth.audit.log import append_entry, transaction
from troth.audit.refusals import denial, refuse
from troth.context import Context
from troth.errors import PermissionDenied, Refused, ValidationError
from troth.gate import Actor, ActorKind, Reason
from troth.gate.members import MEMBERS, beyond_reach, member_reach
from troth.policy.index import PolicyIndex


def ensure_within_reach(
    ctx: Context,
    by: Actor,
    tenant_id: str,
    action: str,
    *,
    admin: bool,
    role: str | None,
    details: dict[str, Any],
) -> None:
    """Refuse ``action`` (``beyond_own_role``, audited under ``tenant_id``) when ``by``,
    an admin of ``tenant_id``, would let someone read more than ``by`` reads: an admin
    (``admin``) or not, holding ``role`` (None: none). ``by``'s role is the one their
    account holds now. A customer's member who is not an admin of ``tenant_id`` is refused
    ``not_tenant_admin``; anyone else (troth itself) is not bound."""
    found = reach_refusal(ctx, by, tenant_id, admin=admin, role=role, user=details.get("user"))
    if found is None:
        return
    reason, message, own = found
    if reason is Reason.not_tenant_admin:
        refuse(
            ctx,
            action,
            by.label,
            Reason.not_tenant_admin,
            error=PermissionDenied(message),
            tenant_id=tenant_id,
        )
    refuse(
        ctx,
        action,
        by.label,
        Reason.beyond_own_role,
        message,
        tenant_id=tenant_id,
        details={**details, "role": role, "admin": admin, "own_role": own},
    )


def reach_refusal(
    ctx: Context,
    by: Actor,
    tenant_id: str,
    *,
    admin: bool,
    role: str | None,
    user: Any = None,
) -> tuple[Reason, str, str | None] | None:
    """Why ``by`` may not give someone (``user``, None: someone new) admin-ness
    (``admin``) and ``role`` at ``tenant_id`` now, or None: (``not_tenant_admin`` or
    ``beyond_own_role``, what to tell ``by``, the role ``by``'s account holds now). Anyone
    but a customer's member is not bound."""
    if by.kind not in MEMBERS:
        return None
    with ctx.engine.connect() as conn:
        row = signed_in_as(conn, by, ctx.keys, kind=UserKind.tenant_member)
    if row is None or row.tenant_id != tenant_id or row.tenant_role != TenantRole.admin.value:
        why = "only an admin of this customer may do that; ask one of its admins"
        return Reason.not_tenant_admin, why, None
    index = ctx.policy
    mine = member_reach(index, admin=True, role=row.role)
    beyond = beyond_reach(mine, member_reach(index, admin=admin, role=role))
    if beyond is None:
        return None
    why = _refusal(by, row.role, admin=admin, role=role, beyond=beyond, user=user)
    return Reason.beyond_own_role, why, row.role


def void_beyond_inviter(ctx: Context, inv: Invitation) -> None:
    """Accepting ``inv`` decides the delegation again, with its inviter as they are now:
    an inviter who was a customer's admin and is no longer one (revoked, made a member),
    or whose role no longer reaches what ``inv`` gives, voids it (withdrawn, so its code
    opens nothing again) and the acceptance is refused, audited ``invitation_accept``
    under the customer with the inviter and their role; nobody is seated. An invitation
    the vendor's side made (the operator, the office, a key bound to the customer) is not
    bound, as when it was made."""
    kind, _, ident = inv.invited_by.partition(":")
    if kind not in {k.value for k in MEMBERS} or not ident:
        return
    by = Actor(ActorKind(kind), ident, tenant_id=inv.tenant_id)
    found = reach_refusal(ctx, by, inv.tenant_id, admin=inv.role is TenantRole.admin,
                          role=inv.member_role)  # fmt: skip
    if found is None:
        return
    reason, _, own = found
    if reason is Reason.not_tenant_admin:
        message = "the admin who invited you is no longer an admin of this customer"
        error: Exception = PermissionDenied(_withdrawn(message), code="not_tenant_admin")
    else:
        gives = f"the role {inv.member_role!r}" if inv.member_role else "no role"
        message = (
            f"the admin who invited you now holds the role {own!r}, which does not reach what"
            f" this invitation gives ({'an admin' if inv.role is TenantRole.admin else 'a member'}"
            f" with {gives})"
        )
        error = Refused(_withdrawn(message), reason=Reason.beyond_own_role)
    now = ctx.clock.now()
    with transaction(ctx) as conn:
        pending = invitations.c.accepted_at.is_(None) & invitations.c.revoked_at.is_(None)
        write_sealed(conn, ctx.keys, invitations, (invitations.c.id == inv.id) & pending,
                     revoked_at=now)  # fmt: skip
        entry = denial(
            "invitation_accept",
            "anonymous",
            reason,
            tenant_id=inv.tenant_id,
            details={
                "invitation": inv.id,
                "invited_by": inv.invited_by,
                "own_role": own,
                "role": inv.member_role,
                "admin": inv.role is TenantRole.admin,
                "voided": True,
            },
        )
        append_entry(conn, now, entry)
    raise error


def _withdrawn(why: str) -> str:
    return f"{why}: the invitation was withdrawn; ask an admin of your organisation for a new one"


def _refusal(
    by: Actor, own: str | None, *, admin: bool, role: str | None, beyond: str, user: Any
) -> str:
    """What the refusal says: who would get what, what they would read beyond the
    admin's own role, and who may give it instead."""
    what = f"the role {role!r}" if role else "no role"
    if user == by.id:
        whom, they = "yourself", "you"
    elif user is not None:
        whom, they = f"this {'admin' if admin else 'member'}", "they"
    else:
        whom, they = f"a new {'admin' if admin else 'member'}", "they"
    return (
        f"you may not give {whom} {what}: {they} would read {beyond}, beyond what your role"
        f" {own!r} may read. An admin gives only as much as they read themselves: ask an"
        " admin of your organisation without a role, or the vendor's office"
    )


def member_role_id(index: PolicyIndex, role: str | None) -> str | None:
    """``role`` when the policy declares it ``for: tenant_members`` (None or empty: no
    role); ValidationError naming the roles a member may be given otherwise."""
    if role is None or role == "":
        return None
    roles = index.member_roles
    if role not in roles:
        known = ", ".join(sorted(roles)) or "none: the policy declares no role for them"
        shown_role = role[:64] if isinstance(role, str) and role.isprintable() else "?"
        raise ValidationError(
            f"no role {shown_role!r} for a customer's members; the policy's roles"
            f" `for: tenant_members`: {known}",
            field="member_role",
        )
    return role


def target_is_admin(ctx: Context, user_id: str) -> bool:
    """Whether the account ``user_id`` is an admin of its customer (False when unknown)."""
    with ctx.engine.connect() as conn:
        found = conn.execute(select(users.c.tenant_role).where(users.c.id == user_id)).first()
    return found is not None and found.tenant_role == TenantRole.admin.value
