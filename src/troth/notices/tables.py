"""The outbox table: one row per message troth queued (troth.notices.outbox).

A message's words never lie in it in plain text: ``content`` holds its subject line, text,
HTML and headers, AES-256-GCM encrypted under a key derived from the key file
(troth.notices.sealed), and ``seal`` is a keyed MAC over every column that says what the
message is and where it goes (troth.access.seals, ``OUTBOX_COLUMNS``). ``subject``,
``body_text``, ``body_html`` and ``headers`` stay for the rows written before schema 0021
(encrypted by the first `troth db migrate` after it) and for scrubbed rows
(troth.notices.purge); troth writes them empty otherwise.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, LargeBinary, String, Table, Text

from troth.columns import counter, document, ref, stamp
from troth.db import BigId, metadata

CONTENT_BYTES = 16 * 1024 * 1024

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("idempotency_key", String(200), nullable=False, unique=True),
    Column("to_addr", String(320), nullable=False),
    ref("subject_id", "subjects.id", cascade=True),
    Column("list_id", String(64)),
    Column("purpose", String(64)),
    Column("kind", String(16), nullable=False),
    document("headers", shape="dict"),
    Column("subject", String(998), nullable=False),
    Column("body_text", Text, nullable=False),
    Column("body_html", Text),
    Column("message_id", String(255), nullable=False),
    Column("status", String(16), nullable=False),
    # 0 transactional, 1 notice, 2 marketing (PRIORITY): due rows go out lowest first.
    Column("priority", Integer, nullable=False, default=1, server_default="1"),
    counter("attempts"),
    # When a queued row is due; for a ``sending`` row, when its lease ends.
    stamp("next_attempt_at"),
    Column("last_error", String(1000)),
    stamp("created_at"),
    stamp("sent_at", required=False),
    # The message's words, encrypted (troth.notices.sealed); NULL when scrubbed.
    # (16 MiB: MySQL/MariaDB make it a MEDIUMBLOB; a plain BLOB holds only 64 KiB, less than
    # a large HTML mailing with its text and headers)
    Column("content", LargeBinary(CONTENT_BYTES)),
    Column("seal", LargeBinary),
    Index("ix_outbox_due", "status", "next_attempt_at"),
    Index("ix_outbox_next", "status", "priority", "next_attempt_at"),
    Index("ix_outbox_subject_id", "subject_id"),
)
