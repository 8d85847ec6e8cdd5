"""The tables of requests: one row per request, its history, and download links.

The person's contact address is never stored in plaintext: ``email_bidx`` (the store's
blind index) finds requests by address, and ``contact`` holds the address AES-256-GCM
encrypted under a key derived from the key file (see :mod:`troth.requests._contact`), so
troth can still write to someone whose data it has erased.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, LargeBinary, String, Table, Text

from troth.columns import (
    actor,
    choice,
    counter,
    day,
    document,
    flag,
    key,
    open_stamps,
    ref,
    stamp,
)
from troth.db import BigId, metadata
from troth.requests.states import Channel, RequestKind, RequestState

requests = Table(
    "requests",
    metadata,
    key(),
    choice("kind", RequestKind, 20, nullable=False),
    choice("state", RequestState, 24, nullable=False),
    # Null until the requester is matched to a person troth knows.
    ref("subject_id", "subjects.id", index=True),
    ref("tenant_id", index=True),
    Column("email_bidx", String(64), index=True),
    Column("contact", LargeBinary),
    Column("regime", String(16), nullable=False),
    choice("channel", Channel, 16, nullable=False),
    flag("on_behalf"),
    # A request made on someone else's behalf: the agent's name and capacity ("Mary Byrne,
    # mother"), and the agent's own address, encrypted as ``contact`` is (other associated
    # data). Letters about the request go to the agent, never to the person's address.
    Column("on_behalf_of", String(320)),
    Column("agent_contact", LargeBinary),
    # Message-ID of the e-mail (or ticket id) it came from: ingesting it again is a no-op.
    Column("source_ref", String(255), unique=True),
    stamp("received_at"),
    stamp("acknowledged_at", required=False),
    day("acknowledge_by", required=False),
    day("due_at"),
    day("extended_due_at", required=False),
    Column("extension_reason", Text),
    stamp("verified_at", required=False),
    actor("verified_by", required=False),
    Column("verification", String(16)),  # code | staff
    Column("code_hash", String(64)),
    stamp("code_expires_at", required=False),
    counter("code_attempts"),
    counter("codes_sent"),
    document("details", shape="dict"),
    document("result", required=False),
    Column("error", Text),
    stamp("closed_at", required=False),
    stamp("updated_at"),
    # A keyed MAC over every column but the counters, error and update time
    # (troth.access.seals, REQUEST_COLUMNS): a request closed or its deadline moved outside
    # troth no longer matches, and is refused.
    Column("seal", LargeBinary),
    # `list --due`: open requests by deadline.
    Index("ix_requests_state_due", "state", "due_at"),
)

request_events = Table(
    "request_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    ref("request_id", "requests.id", cascade=True, required=True),
    stamp("at"),
    actor(),
    Column("event", String(40), nullable=False),
    Column("from_state", String(24)),
    Column("to_state", String(24)),
    document("details", shape="dict"),
    Index("ix_request_events_request", "request_id", "id"),
)

# A ZIP made for a request or a tenant export; only a hash of the download token is kept and
# the file is encrypted under a key derived from the token itself.
request_exports = Table(
    "request_exports",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    ref("request_id", "requests.id", cascade=True, index=True),
    ref("tenant_id"),
    Column("path", String(500), nullable=False),
    Column("size", BigId, nullable=False),
    stamp("created_at"),
    stamp("expires_at", index=True),
    *open_stamps("downloaded_at", "purged_at"),
    # A tenant's export: whoever made it and the member role they made it as (None: none);
    # only they take it, as they still are (troth.requests.exports). Migration 0017.
    actor("made_by", required=False),
    Column("made_as", String(64)),
)

# A tenant leaving (issue 19): its export, the erasure batch by batch, and the certificate
# issued at the end. One row per tenant: a second offboarding returns the same certificate.
tenant_offboardings = Table(
    "tenant_offboardings",
    metadata,
    key("tenant_id"),
    actor(),
    stamp("started_at"),
    Column("first_seq", BigId),  # the audit entry that opened it
    stamp("exported_at", required=False),
    document("export", required=False),  # {"bytes": n, "expires_at": iso}
    ref("cursor"),  # the last person whose erasure committed (resume after)
    document("totals", required=False),  # running counts per system, committed with each batch
    stamp("finished_at", required=False),
    document("certificate", required=False),
)
