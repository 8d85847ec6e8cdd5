"""The tables of requests: one row per request, its history, and download links.

The person's contact address is never stored in plaintext: ``email_bidx`` (the store's
blind index) finds requests by address, and ``contact`` holds the address AES-256-GCM
encrypted under a key derived from the key file (see :mod:`troth.requests._contact`), so
troth can still write to someone whose data it has erased.
"""

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

requests = Table(
    "requests",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("state", String(24), nullable=False),
    # Null until the requester is matched to a person troth knows.
    Column("subject_id", String(32), ForeignKey("subjects.id"), index=True),
    Column("tenant_id", String(32), index=True),
    Column("email_bidx", String(64), index=True),
    Column("contact", LargeBinary),
    Column("regime", String(16), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("on_behalf", Boolean, nullable=False, default=False),
    Column("on_behalf_of", String(320)),  # who says they act for the person
    # Message-ID of the e-mail (or ticket id) it came from: ingesting it again is a no-op.
    Column("source_ref", String(255), unique=True),
    Column("received_at", UtcDateTime, nullable=False),
    Column("acknowledged_at", UtcDateTime),
    Column("acknowledge_by", Date),
    Column("due_at", Date, nullable=False),
    Column("extended_due_at", Date),
    Column("extension_reason", Text),
    Column("verified_at", UtcDateTime),
    Column("verified_by", String(255)),
    Column("verification", String(16)),  # code | staff
    Column("code_hash", String(64)),
    Column("code_expires_at", UtcDateTime),
    Column("code_attempts", Integer, nullable=False, default=0),
    Column("codes_sent", Integer, nullable=False, default=0),
    Column("details", JsonType, nullable=False),
    Column("result", JsonType),
    Column("error", Text),
    Column("closed_at", UtcDateTime),
    Column("updated_at", UtcDateTime, nullable=False),
    # `list --due`: open requests by deadline.
    Index("ix_requests_state_due", "state", "due_at"),
)

request_events = Table(
    "request_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("request_id", String(32), ForeignKey("requests.id", ondelete="CASCADE"), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(255), nullable=False),
    Column("event", String(40), nullable=False),
    Column("from_state", String(24)),
    Column("to_state", String(24)),
    Column("details", JsonType, nullable=False),
    Index("ix_request_events_request", "request_id", "id"),
)

# A ZIP made for a request or a tenant export; only a hash of the download token is kept and
# the file is encrypted under a key derived from the token itself.
request_exports = Table(
    "request_exports",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("request_id", String(32), ForeignKey("requests.id", ondelete="CASCADE"), index=True),
    Column("tenant_id", String(32)),
    Column("path", String(500), nullable=False),
    Column("size", BigId, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False, index=True),
    Column("downloaded_at", UtcDateTime),
    Column("purged_at", UtcDateTime),
)

# A tenant leaving (issue 19): its export, the erasure batch by batch, and the certificate
# issued at the end. One row per tenant: a second offboarding returns the same certificate.
tenant_offboardings = Table(
    "tenant_offboardings",
    metadata,
    Column("tenant_id", String(32), primary_key=True),
    Column("actor", String(255), nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("first_seq", BigId),  # the audit entry that opened it
    Column("exported_at", UtcDateTime),
    Column("export", JsonType),  # {"bytes": n, "expires_at": iso}
    Column("cursor", String(32)),  # the last person whose erasure committed (resume after)
    Column("totals", JsonType),  # running counts per system, committed with each batch
    Column("finished_at", UtcDateTime),
    Column("certificate", JsonType),
)
