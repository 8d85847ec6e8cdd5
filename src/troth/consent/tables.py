"""The consent tables: the append-only ledger, the state derived from it, the signed
receipts of grants and the one-click unsubscribe tokens."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Index, String, Table, Text, UniqueConstraint

from troth.columns import choice, ref, stamp
from troth.consent.events import ConsentKind
from troth.db import BigId, metadata

# Append-only: rows are inserted, never updated; the current state is derived from them.
# ``purpose`` holds a policy purpose id, or ``cookie:<category>`` for a cookie choice.
consent_events = Table(
    "consent_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    ref("subject_id", "subjects.id", cascade=True, required=True),
    Column("purpose", String(80), nullable=False),
    choice("kind", ConsentKind, 16, nullable=False),
    # grant/import/cookie_choice may say yes or no; withdraw/gpc/unsubscribe always say no.
    Column("granted", Boolean, nullable=False),
    Column("policy_version", String(64), nullable=False),
    Column("notice_hash", String(64)),
    Column("method", String(16), nullable=False),
    stamp("at"),
    Column("origin", String(64)),
    Column("user_agent", String(512)),
    Column("url", String(2048)),
    Column("jurisdiction", String(16), nullable=False),
    Column("receipt_id", String(36), unique=True),
    # Replay order is (at, id) within a (subject, purpose): this index serves the replay,
    # the rebuild and the per-subject history.
    Index("ix_consent_events_replay", "subject_id", "purpose", "at", "id"),
)

# Materialised current state, one row per (subject, purpose), updated in the same
# transaction as the event it reflects; rebuildable from the ledger.
consent_state = Table(
    "consent_state",
    metadata,
    ref("subject_id", "subjects.id", cascade=True, primary_key=True),
    Column("purpose", String(80), primary_key=True),
    Column("granted", Boolean, nullable=False),
    Column("notice_hash", String(64)),
    Column("policy_version", String(64), nullable=False),
    stamp("at"),
    Column("event_id", BigId, nullable=False),
    choice("kind", ConsentKind, 16, nullable=False),
    Index("ix_consent_state_purpose_granted", "purpose", "granted", "subject_id"),
)

# The signed Kantara receipt of each grant, kept so that it can be handed out again.
consent_receipts = Table(
    "consent_receipts",
    metadata,
    Column("receipt_id", String(36), primary_key=True),
    Column("event_id", BigId, nullable=False, unique=True),
    ref("subject_id", "subjects.id", cascade=True, required=True, index=True),
    Column("jws", Text, nullable=False),
    stamp("created_at"),
)

# One live token per (subject, list); the token itself is never stored: it is
# HMAC(token key, subject|list|nonce), and only its SHA-256 and the nonce are kept.
unsubscribe_tokens = Table(
    "unsubscribe_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    ref("subject_id", "subjects.id", cascade=True, required=True),
    Column("list_id", String(64), nullable=False),
    Column("nonce", String(32), nullable=False),
    stamp("created_at"),
    stamp("used_at", required=False),
    Column("event_id", BigId),
    UniqueConstraint("nonce"),
    Index("ix_unsubscribe_tokens_subject_list", "subject_id", "list_id", "used_at"),
)
