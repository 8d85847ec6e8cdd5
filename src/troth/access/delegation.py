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
says what the person would read beyond the admin's own role."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from troth.access.accounts import TenantRole, UserKind, signed_in_as
from troth.access.tables import users
from troth.audit.refusals import refuse
from troth.context import Context
from troth.errors import PermissionDenied, ValidationError
from troth.gate import Actor, Reason
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
    if by.kind not in MEMBERS:
        return
    with ctx.engine.connect() as conn:
        row = signed_in_as(conn, by, ctx.keys, kind=UserKind.tenant_member)
    if row is None or row.tenant_id != tenant_id or row.tenant_role != TenantRole.admin.value:
        refuse(
            ctx,
            action,
            by.label,
            Reason.not_tenant_admin,
            error=PermissionDenied(
                "only an admin of this customer may do that; ask one of its admins"
            ),
            tenant_id=tenant_id,
        )
    index = ctx.policy
    mine = member_reach(index, admin=True, role=row.role)
    beyond = beyond_reach(mine, member_reach(index, admin=admin, role=role))
    if beyond is None:
        return
    refuse(
        ctx,
        action,
        by.label,
        Reason.beyond_own_role,
        _refusal(by, row.role, admin=admin, role=role, beyond=beyond, user=details.get("user")),
        tenant_id=tenant_id,
        details={**details, "role": role, "admin": admin, "own_role": row.role},
    )


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
