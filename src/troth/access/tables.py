"""The tables of people who may see the data: accounts, sessions, API keys, invitations
and the vendor's support-access grants."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from troth.db import JsonType, UtcDateTime, metadata

# One row per login: the vendor's staff (a policy role), the vendor's admins and each
# customer's members. ``login_key`` (kind, tenant, normalised e-mail) makes e-mails unique
# per kind and tenant on every backend (a NULL tenant would not be unique on PostgreSQL).
users = Table(
    "users",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("email", String(320), nullable=False),
    Column("login_key", String(400), nullable=False),
    Column("display_name", String(200)),
    Column("role", String(64)),
    Column("tenant_id", String(32), ForeignKey("tenants.id")),
    Column("tenant_role", String(20)),
    Column("password_hash", String(200)),
    Column("disabled_at", UtcDateTime),
    Column("failed_logins", Integer, nullable=False, default=0),
    Column("locked_until", UtcDateTime),
    # AES-GCM under a key derived from the key file; NULL unless TOTP is enabled.
    Column("totp_secret", LargeBinary),
    Column("totp_last_step", Integer),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("login_key", name="uq_users_login_key"),
    Index("ix_users_email", "email"),
    Index("ix_users_tenant", "tenant_id"),
)

# Server-side sessions. ``id`` is the SHA-256 of the opaque token that only the cookie holds.
sessions = Table(
    "sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("user_id", String(32), ForeignKey("users.id"), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_seen_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime),
    Column("csrf_secret", String(64), nullable=False),
    Index("ix_sessions_user", "user_id"),
)

# Application keys: the full key is shown once; only the SHA-256 of its secret is kept.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("prefix", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("scopes", JsonType, nullable=False),
    Column("tenant_id", String(32), ForeignKey("tenants.id")),
    Column("user_id", String(32), ForeignKey("users.id")),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_used_at", UtcDateTime),
    Column("revoked_at", UtcDateTime),
    Index("ix_api_keys_user", "user_id"),
)

# A tenant admin invites a colleague: a single-use token (only its hash kept) with expiry.
invitations = Table(
    "invitations",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("tenant_id", String(32), ForeignKey("tenants.id"), nullable=False),
    Column("email", String(320), nullable=False),
    Column("role", String(20), nullable=False),
    Column("invited_by", String(100), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("accepted_at", UtcDateTime),
    Column("revoked_at", UtcDateTime),
    Column("user_id", String(32)),
    Index("ix_invitations_tenant", "tenant_id"),
)

# The vendor asks, the customer decides (P14). Expiry is by time: the gate compares
# ``expires_at`` with now, so no job has to run for a grant to end.
support_grants = Table(
    "support_grants",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(32), ForeignKey("tenants.id"), nullable=False),
    Column("requested_by", String(32), nullable=False),
    Column("reason", Text, nullable=False),
    Column("ticket", String(200)),
    Column("categories", JsonType, nullable=False),  # empty: every category
    Column("subject_ids", JsonType, nullable=False),  # empty: every subject of the tenant
    Column("duration_seconds", Integer, nullable=False),
    Column("status", String(20), nullable=False),
    Column("requested_at", UtcDateTime, nullable=False),
    Column("decided_by", String(32)),
    Column("decided_at", UtcDateTime),
    Column("starts_at", UtcDateTime),
    Column("expires_at", UtcDateTime),
    Column("revoked_at", UtcDateTime),
    Column("emergency", Boolean, nullable=False, default=False),
    Index("ix_support_grants_tenant_requester", "tenant_id", "requested_by"),
)
