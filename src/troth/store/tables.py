"""troth's own personal-data store: tenants, subjects, their data keys and their records."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, LargeBinary, String, Table, Text

from troth.columns import day, document, flag, key, open_stamps, ref, stamp
from troth.db import BigId, metadata

tenants = Table(
    "tenants",
    metadata,
    key(),
    Column("name", String(200), nullable=False),
    Column("primary_email", String(320)),
    Column("status", String(20), nullable=False, default="active"),
    stamp("created_at"),
    # A keyed MAC over id, name, primary_email, status, created_at (troth.access.seals): a
    # seller's notices redirected, or its status changed, outside troth no longer matches.
    Column("seal", LargeBinary),
)

subjects = Table(
    "subjects",
    metadata,
    key(),
    ref("tenant_id", "tenants.id", index=True),
    Column("kind", String(64)),
    Column("jurisdiction", String(16), nullable=False),
    # Keyed blind indexes (HMAC-SHA256 of the normalised value) for equality lookups.
    Column("email_bidx", String(64), index=True),
    Column("phone_bidx", String(64), index=True),
    Column("customer_id_bidx", String(64), index=True),
    Column("status", String(20), nullable=False, default="active"),
    stamp("created_at"),
    *open_stamps("relationship_ended_at", "erased_at"),
    Column("legal_hold", String(200)),
    # A keyed MAC over every column but the blind indexes (troth.store.subject_seals): a
    # person moved to another tenant, un-erased or unheld outside troth no longer matches.
    Column("seal", LargeBinary),
)

# Every identity a person has given (each e-mail address, phone number and customer id that
# their stored values hold), as keyed blind indexes: look-ups go through this table, so a
# second address finds the person as the first does (subjects' ``*_bidx`` columns keep only
# the newest of each kind). Emptied for a person erased.
identities = Table(
    "identities",
    metadata,
    Column("kind", String(16), primary_key=True),
    Column("bidx", String(64), primary_key=True),
    ref("subject_id", "subjects.id", primary_key=True),
    # A keyed MAC over kind, bidx, subject_id (troth.store.identity_seals): an address
    # re-pointed to another person outside troth finds nobody.
    Column("seal", LargeBinary),
    Index("ix_identities_subject_id", "subject_id"),
)

# One data key per subject and version, wrapped by a key-encryption key from the key file.
subject_keys = Table(
    "subject_keys",
    metadata,
    ref("subject_id", "subjects.id", primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("kek_version", Integer, nullable=False, index=True),
    Column("wrapped", LargeBinary, nullable=False),
    stamp("created_at"),
)

records = Table(
    "records",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    ref("subject_id", "subjects.id", required=True),
    ref("tenant_id"),
    Column("category", String(64), nullable=False),
    Column("field", String(64), nullable=False),
    # Exactly one of value (plain, JSON text) and ciphertext (sensitive categories) is set.
    Column("value", Text),
    Column("ciphertext", LargeBinary),
    Column("key_version", Integer),
    Column("collection_point", String(64)),
    document("purposes", shape="list"),
    Column("source", String(20), nullable=False),
    Column("supplier", String(200)),
    Column("policy_version", String(64), nullable=False),
    Column("location", String(2), nullable=False),
    stamp("collected_at"),
    stamp("updated_at", required=False),
    # Set when a deletion had to keep the value for a legal obligation: it may serve only
    # this purpose until ``restricted_until`` (P25).
    Column("restricted_to", String(64)),
    day("restricted_until", required=False),
    flag("anonymised"),
    # A keyed MAC over every other column but id and updated_at (troth.store.seals): a
    # value relabelled, moved or swapped outside troth no longer matches it.
    Column("seal", LargeBinary),
    Index("ix_records_subject_category", "subject_id", "category"),
    Index("ix_records_category_collected", "category", "collected_at"),
    Index("ix_records_tenant", "tenant_id"),
)

# A stored value's tags after its value: what it was collected at, for and from, where it is
# kept, since when and what restricts it (read with every value; covered by its seal).
RECORD_TAGS = (
    records.c.collection_point,
    records.c.purposes,
    records.c.source,
    records.c.supplier,
    records.c.policy_version,
    records.c.location,
    records.c.collected_at,
    records.c.restricted_to,
    records.c.restricted_until,
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
    flag("needs_consent"),
    Column("notice_hash", String(64)),
    stamp("posted_at"),
    Index("ix_policy_notices_version", "version"),
)

# "Limit our use": purposes a person restricted, until lifted (P26).
restrictions = Table(
    "restrictions",
    metadata,
    ref("subject_id", "subjects.id", primary_key=True),
    Column("purpose", String(64), primary_key=True),
    stamp("since"),
    ref("request_id"),
)
