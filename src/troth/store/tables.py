"""troth's own personal-data store: tenants, subjects, their data keys and their records."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)

from troth.db import BigId, JsonType, UtcDateTime, metadata

tenants = Table(
    "tenants",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("primary_email", String(320)),
    Column("status", String(20), nullable=False, default="active"),
    Column("created_at", UtcDateTime, nullable=False),
)

subjects = Table(
    "subjects",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(32), ForeignKey("tenants.id"), index=True),
    Column("kind", String(64)),
    Column("jurisdiction", String(16), nullable=False),
    # Keyed blind indexes (HMAC-SHA256 of the normalised value) for equality lookups.
    Column("email_bidx", String(64), index=True),
    Column("phone_bidx", String(64), index=True),
    Column("customer_id_bidx", String(64), index=True),
    Column("status", String(20), nullable=False, default="active"),
    Column("created_at", UtcDateTime, nullable=False),
    Column("relationship_ended_at", UtcDateTime),
    Column("erased_at", UtcDateTime),
    Column("legal_hold", String(200)),
)

# One data key per subject and version, wrapped by a key-encryption key from the key file.
subject_keys = Table(
    "subject_keys",
    metadata,
    Column("subject_id", String(32), ForeignKey("subjects.id"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("kek_version", Integer, nullable=False, index=True),
    Column("wrapped", LargeBinary, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

records = Table(
    "records",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("subject_id", String(32), ForeignKey("subjects.id"), nullable=False),
    Column("tenant_id", String(32)),
    Column("category", String(64), nullable=False),
    Column("field", String(64), nullable=False),
    # Exactly one of value (plain, JSON text) and ciphertext (sensitive categories) is set.
    Column("value", Text),
    Column("ciphertext", LargeBinary),
    Column("key_version", Integer),
    Column("collection_point", String(64)),
    Column("purposes", JsonType, nullable=False),
    Column("source", String(20), nullable=False),
    Column("supplier", String(200)),
    Column("policy_version", String(64), nullable=False),
    Column("location", String(2), nullable=False),
    Column("collected_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime),
    # Set when a deletion had to keep the value for a legal obligation: it may serve only
    # this purpose until ``restricted_until`` (P25).
    Column("restricted_to", String(64)),
    Column("restricted_until", Date),
    Column("anonymised", Boolean, nullable=False, default=False),
    Index("ix_records_subject_category", "subject_id", "category"),
    Index("ix_records_category_collected", "category", "collected_at"),
    Index("ix_records_tenant", "tenant_id"),
)

# What a published change started (P07, P08) with a version of the policy
# (troth.policy.versions): a new use of data already collected
# (point, purpose, category) waits for the notice period from ``posted_at`` and, where the
# policy says so, for fresh consent; a purpose whose notice text changed materially needs
# consent given to the new text (``kind`` reconsent, ``notice_hash``).
policy_notices = Table(
    "policy_notices",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("version", String(64), ForeignKey("policy_versions.version"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("point", String(64)),
    Column("purpose", String(64), nullable=False),
    Column("category", String(64)),
    Column("needs_consent", Boolean, nullable=False, default=False),
    Column("notice_hash", String(64)),
    Column("posted_at", UtcDateTime, nullable=False),
    Index("ix_policy_notices_version", "version"),
)

# "Limit our use": purposes a person restricted, until lifted (P26).
restrictions = Table(
    "restrictions",
    metadata,
    Column("subject_id", String(32), ForeignKey("subjects.id"), primary_key=True),
    Column("purpose", String(64), primary_key=True),
    Column("since", UtcDateTime, nullable=False),
    Column("request_id", String(32)),
)
