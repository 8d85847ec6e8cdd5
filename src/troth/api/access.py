"""Tenants and the vendor's support access over HTTP: create and list tenants, invite
and revoke members, give members their roles (``for: tenant_members``), and read a
tenant's support grants and every look the vendor took.

The operator's operations need the office power ``manage_tenants`` (troth.office: a
staff role the policy gives it, or a key bound to no tenant with ``admin`` or
``office:manage_tenants``); an ``admin`` key bound to a tenant (or that tenant's admin,
signed in) may read and manage only its own tenant (another tenant is a 404)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import Field

from troth.access.accounts import TenantRole
from troth.api.auth import ActorDep, TrothDep, require_office
from troth.api.idempotency import IdemKey, once
from troth.api.models import BodyIn
from troth.api.office import Id, page_of
from troth.api.records import Cursor, Limit
from troth.engine import Troth
from troth.errors import NotFound
from troth.gate import Actor, ActorKind
from troth.policy.model import Power

router = APIRouter(tags=["tenants"])


class TenantIn(BodyIn):
    name: str = Field(min_length=1, max_length=200)
    primary_email: str = Field(min_length=3, max_length=320)


class InvitationIn(BodyIn):
    email: str = Field(min_length=3, max_length=320)
    role: TenantRole = TenantRole.member
    # The policy role (``for: tenant_members``) the member gets on accepting.
    member_role: str | None = Field(default=None, min_length=1, max_length=64)


class MemberRoleIn(BodyIn):
    """The policy role (``for: tenant_members``) to give a member; null takes it away."""

    role: str | None = Field(min_length=1, max_length=64)


def plain(obj: Any) -> dict[str, Any]:
    """A dataclass as JSON: datetimes as ISO text, durations as seconds, tuples as lists."""

    def conv(v: Any) -> Any:
        if isinstance(v, datetime):
            return v.isoformat()
        if isinstance(v, timedelta):
            return int(v.total_seconds())
        if isinstance(v, tuple | list):
            return [conv(x) for x in v]
        return v if isinstance(v, str | int | float | bool) or v is None else str(v)

    return {k: conv(v) for k, v in asdict(obj).items()}


def member_out(u: Any) -> dict[str, Any]:
    return {
        "id": u.id,
        "email": u.email,
        "display_name": u.display_name,
        "tenant_role": str(u.tenant_role) if u.tenant_role else None,
        "role": u.role,
        "disabled_at": u.disabled_at.isoformat() if u.disabled_at else None,
        "created_at": u.created_at.isoformat(),
    }


def tenant_of(t: Troth, actor: Actor, tenant_id: str, action: str) -> Actor:
    """The actor to manage ``tenant_id`` as, decided and audited by the access service."""
    return t.access.acting_for_tenant(actor, tenant_id, action)


@router.post("/tenants", status_code=201, summary="Create a tenant (a customer)")
async def tenant_create(
    request: Request, body: TenantIn, actor: ActorDep, t: TrothDep, idempotency_key: IdemKey = None
) -> Response:
    require_office(actor, t, Power.manage_tenants)

    def work() -> tuple[int, Any]:
        by = Actor(ActorKind.system, f"api:{actor.label}")
        tid = t.access.tenants.create_tenant(body.name, body.primary_email, by=by)
        return 201, plain(t.access.tenants.get_tenant(tid))

    return await once(request, t, actor, idempotency_key, work)


@router.get("/tenants", summary="Tenants (a tenant-bound key sees only its own)")
def tenant_list(
    actor: ActorDep, t: TrothDep, limit: Limit = 50, cursor: Cursor = None
) -> dict[str, Any]:
    if actor.tenant_id is not None and actor.kind in (
        ActorKind.application,
        ActorKind.tenant_admin,
    ):
        tenant_of(t, actor, actor.tenant_id, "tenant.list")
        items = [t.access.tenants.get_tenant(actor.tenant_id)]
    else:
        require_office(actor, t, Power.manage_tenants)
        items = t.access.tenants.list_tenants()
    return page_of(items, limit, cursor, plain)


@router.post(
    "/tenants/{tenant_id}/invitations", status_code=201, summary="Invite a colleague by e-mail"
)
async def tenant_invite(
    request: Request,
    tenant_id: Id,
    body: InvitationIn,
    actor: ActorDep,
    t: TrothDep,
    idempotency_key: IdemKey = None,
) -> Response:
    if body.member_role is not None:
        by = t.access.giving_roles(actor, tenant_id, "tenant.invite")
    else:
        by = tenant_of(t, actor, tenant_id, "tenant.invite")

    def work() -> tuple[int, Any]:
        _token, inv = t.access.tenants.invite(
            tenant_id, body.email, role=body.role, member_role=body.member_role, by=by
        )
        return 201, plain(inv)

    return await once(request, t, actor, idempotency_key, work)


@router.get("/tenants/{tenant_id}/members", summary="A tenant's members (revoked ones too)")
def tenant_members(
    tenant_id: Id, actor: ActorDep, t: TrothDep, limit: Limit = 50, cursor: Cursor = None
) -> dict[str, Any]:
    tenant_of(t, actor, tenant_id, "tenant.members")
    return page_of(t.access.tenants.list_members(tenant_id), limit, cursor, member_out)


@router.delete(
    "/tenants/{tenant_id}/members/{user_id}",
    summary="Revoke a member: sessions and keys end at once",
)
def tenant_member_revoke(tenant_id: Id, user_id: Id, actor: ActorDep, t: TrothDep) -> Any:
    by = tenant_of(t, actor, tenant_id, "tenant.member_revoke")
    if not any(u.id == user_id for u in t.access.tenants.list_members(tenant_id)):
        raise NotFound(f"no member {user_id!r} in tenant {tenant_id!r}")
    return member_out(t.access.tenants.revoke_member(tenant_id, user_id, by=by))


@router.put(
    "/tenants/{tenant_id}/members/{user_id}/role",
    summary="Give a member a role of the policy's (for: tenant_members), or none",
)
def tenant_member_role(
    tenant_id: Id, user_id: Id, body: MemberRoleIn, actor: ActorDep, t: TrothDep
) -> Any:
    by = t.access.giving_roles(actor, tenant_id, "tenant.member_role")
    return member_out(t.access.tenants.set_member_role(tenant_id, user_id, body.role, by=by))


@router.get("/tenants/{tenant_id}/grants", summary="The vendor's support grants for a tenant")
def tenant_grants(
    tenant_id: Id, actor: ActorDep, t: TrothDep, limit: Limit = 50, cursor: Cursor = None
) -> dict[str, Any]:
    tenant_of(t, actor, tenant_id, "tenant.grants")
    return page_of(t.access.grants.list_grants(tenant_id), limit, cursor, plain)


@router.get(
    "/tenants/{tenant_id}/vendor-accesses",
    summary="Every look the vendor took at a tenant's data, newest first",
)
def tenant_vendor_accesses(
    tenant_id: Id,
    actor: ActorDep,
    t: TrothDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    tenant_of(t, actor, tenant_id, "tenant.vendor_accesses")
    return page_of(t.access.grants.vendor_accesses(tenant_id), limit, cursor, plain)
