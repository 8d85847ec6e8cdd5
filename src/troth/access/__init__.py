"""Who may see the data (P12, P13, P14, P16): the vendor's staff by role, customer tenants
and their invited members, the vendor's admins under customer-approved support grants,
applications with scoped API keys; argon2id passwords, server-side sessions, optional TOTP.
``t.access`` (:class:`AccessService`) is made of parts: ``accounts``, ``sessions``,
``keys``, ``tenants``, ``grants`` and ``records``.

    t.access.accounts.add_user("ann@example.com", kind="staff", role="accounts", password=...)
    user = t.access.accounts.authenticate("ann@example.com", password)
    token, session = t.access.sessions.start_session(user)
    user, actor = t.access.sessions.resolve_session(token)  # actor: t.use(..., actor=actor)

The gate learns these facts through :func:`actor_facts` (membership and grants).
"""

from __future__ import annotations

from troth.access.accounts import TenantRole, User, UserKind, actor_for
from troth.access.apikeys import ApiKey
from troth.access.facts import actor_facts
from troth.access.grants import GrantStatus, SupportGrant, TenantOverview, VendorAccess
from troth.access.invitations import Invitation, InvitationState
from troth.access.passwords import hash_password, totp, verify_password, verify_totp
from troth.access.rls import drop_app_role, enable_tenant_rls, tenant_connection
from troth.access.service import AccessService
from troth.access.sessions import Session, session_cookie_attributes
from troth.access.tenants import Tenant

__all__ = [
    "AccessService",
    "ApiKey",
    "GrantStatus",
    "Invitation",
    "InvitationState",
    "Session",
    "SupportGrant",
    "Tenant",
    "TenantOverview",
    "TenantRole",
    "User",
    "UserKind",
    "VendorAccess",
    "actor_facts",
    "actor_for",
    "drop_app_role",
    "enable_tenant_rls",
    "hash_password",
    "session_cookie_attributes",
    "tenant_connection",
    "totp",
    "verify_password",
    "verify_totp",
]
