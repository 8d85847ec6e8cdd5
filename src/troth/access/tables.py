"""The tables of people who may see the data: accounts, sessions, API keys, invitations
and the vendor's support-access grants."""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, LargeBinary, String, Table, Text, UniqueConstraint

from troth.columns import choice, counter, document, flag, key, open_stamps, ref, stamp, stamps
from troth.db import metadata

_TENANT_ROLE = "troth.access.accounts:TenantRole"  # its enum's module imports these tables

# One row per login: the vendor's staff (a policy role), the vendor's admins and each
# customer's members. ``login_key`` (kind, tenant, normalised e-mail) makes e-mails unique
# per kind and tenant on every backend (a NULL tenant would not be unique on PostgreSQL).
users = Table(
    "users",
    metadata,
    key(),
    choice("kind", "troth.access.accounts:UserKind", 20, nullable=False),
    Column("email", String(320), nullable=False),
    Column("login_key", String(400), nullable=False),
    Column("display_name", String(200)),
    # A staff member's policy role; a customer's member's role ``for: tenant_members``.
    Column("role", String(64)),
    ref("tenant_id", "tenants.id"),
    choice("tenant_role", _TENANT_ROLE, 20),
    Column("password_hash", String(200)),
    stamp("disabled_at", required=False),
    counter("failed_logins"),
    stamp("locked_until", required=False),
    # AES-GCM under a key derived from the key file; NULL unless TOTP is enabled.
    Column("totp_secret", LargeBinary),
    Column("totp_last_step", Integer),
    stamp("created_at"),
    # A keyed MAC over the columns that grant power (troth.access.seals).
    Column("seal", LargeBinary),
    UniqueConstraint("login_key", name="uq_users_login_key"),
    Index("ix_users_email", "email"),
    Index("ix_users_tenant", "tenant_id"),
)

# Server-side sessions. ``id`` is the SHA-256 of the opaque token that only the cookie holds.
sessions = Table(
    "sessions",
    metadata,
    key(length=64),
    ref("user_id", "users.id", required=True),
    *stamps("created_at", "last_seen_at", "expires_at"),
    stamp("revoked_at", required=False),
    Column("csrf_secret", String(64), nullable=False),
    # A keyed MAC over id, user_id, created_at, expires_at, revoked_at, csrf_secret.
    Column("seal", LargeBinary),
    Index("ix_sessions_user", "user_id"),
)

# Application keys: the full key is shown once; only the SHA-256 of its secret is kept.
api_keys = Table(
    "api_keys",
    metadata,
    key(),
    Column("prefix", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    document("scopes", shape="list"),
    ref("tenant_id", "tenants.id"),
    ref("user_id", "users.id"),
    stamp("created_at"),
    *open_stamps("last_used_at", "revoked_at"),
    # A keyed MAC over id, key_hash, tenant_id, user_id, scopes, revoked_at (troth.access.seals).
    Column("seal", LargeBinary),
    Index("ix_api_keys_user", "user_id"),
)

# A tenant admin invites a colleague: a single-use token (only its hash kept) with expiry.
invitations = Table(
    "invitations",
    metadata,
    key(),
    Column("token_hash", String(64), nullable=False, unique=True),
    ref("tenant_id", "tenants.id", required=True),
    Column("email", String(320), nullable=False),
    choice("role", _TENANT_ROLE, 20, nullable=False),
    # The policy role (``for: tenant_members``) the member gets on accepting; NULL: none.
    Column("member_role", String(64)),
    Column("invited_by", String(100), nullable=False),
    *stamps("created_at", "expires_at"),
    *open_stamps("accepted_at", "revoked_at"),
    ref("user_id"),
    # A keyed MAC over every column but itself (troth.access.seals).
    Column("seal", LargeBinary),
    Index("ix_invitations_tenant", "tenant_id"),
)

# The vendor asks, the customer decides (P14). Expiry is by time: the gate compares
# ``expires_at`` with now, so no job has to run for a grant to end.
support_grants = Table(
    "support_grants",
    metadata,
    key(),
    ref("tenant_id", "tenants.id", required=True),
    ref("requested_by", required=True),
    Column("reason", Text, nullable=False),
    Column("ticket", String(200)),
    document("categories", shape="list"),  # empty: every category
    document("subject_ids", shape="list"),  # empty: every subject of the tenant
    Column("duration_seconds", Integer, nullable=False),
    choice("status", "troth.access.grants:GrantStatus", 20, nullable=False),
    stamp("requested_at"),
    ref("decided_by"),
    *open_stamps("decided_at", "starts_at", "expires_at", "revoked_at"),
    flag("emergency"),
    # A keyed MAC over every column but itself (troth.access.seals).
    Column("seal", LargeBinary),
    Index("ix_support_grants_tenant_requester", "tenant_id", "requested_by"),
)
