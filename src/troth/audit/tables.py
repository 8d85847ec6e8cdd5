"""The audit log's tables and the canonical bytes of an entry (what its leaf hash, and a
pending entry's MAC, cover)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from json.encoder import encode_basestring
from typing import Any, TypeVar

from sqlalchemy import BigInteger, Column, Index, Integer, LargeBinary, String, Table, Text, text

from troth.audit.entry import AuditEntry
from troth.columns import actor, stamp
from troth.db import dumps, metadata
from troth.errors import ValidationError

_Tag = TypeVar("_Tag")


def _entry_columns() -> list[Column[Any]]:
    """What an entry says, as stored in the tree and while pending: new Column objects
    for each table, in :data:`ENTRY_COLUMNS` order after the seq."""
    return [
        stamp("at"),
        actor(),
        Column("action", String(100), nullable=False),
        Column("outcome", String(16), nullable=False),
        Column("subject_id", String(128)),
        Column("tenant_id", String(128)),
        Column("purpose", String(100)),
        # Canonical JSON text (troth.db.dumps), kept verbatim because it is what was hashed.
        Column("categories", Text, nullable=False),
        Column("reason", Text),
        Column("details", Text, nullable=False),
    ]


audit_entries = Table(
    "audit_entries",
    metadata,
    # INTEGER on SQLite makes seq the rowid: seq-ordered scans read the table in place.
    Column(
        "seq",
        BigInteger().with_variant(Integer, "sqlite"),
        primary_key=True,
        autoincrement=False,
    ),
    *_entry_columns(),
    Column("leaf_hash", LargeBinary(32), nullable=False),
    # The id the entry had in audit_pending (PostgreSQL, sequenced after its commit), so
    # the process that committed it can confirm it was sequenced; NULL when appended
    # inline. Not part of the entry's bytes.
    Column("pending_id", BigInteger),
    Index("ix_audit_entries_subject_id_seq", "subject_id", "seq"),
    # Partial where the backend has them: inline appends (pending_id NULL) skip it.
    Index(
        "ix_audit_entries_pending_id",
        "pending_id",
        postgresql_where=text("pending_id IS NOT NULL"),
        sqlite_where=text("pending_id IS NOT NULL"),
    ),
    Index("ix_audit_entries_actor_seq", "actor", "seq"),
    # "whose data was touched between t1 and t2" is answered from the index alone.
    Index("ix_audit_entries_at_subject_id", "at", "subject_id"),
)
audit_state = Table(
    "audit_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("size", BigInteger, nullable=False),
    Column("root", String(64), nullable=False),
    Column("frontier", Text, nullable=False),
)

# Entries committed with their operation but not yet in the tree (PostgreSQL, when another
# transaction holds the state row): each carries an HMAC under the key file's token key
# over its id and contents, so a row a database writer inserts or edits here is refused
# before it is sequenced (troth.audit.sequencer moves them into audit_entries).
audit_pending = Table(
    "audit_pending",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    *_entry_columns(),
    Column("mac", String(64), nullable=False),
)
STATE_ID = 1

# Columns in the order entry_bytes() reads them; at is an ISO string there.
ENTRY_COLUMNS = (
    "seq",
    "at",
    "actor",
    "action",
    "outcome",
    "subject_id",
    "tenant_id",
    "purpose",
    "categories",
    "reason",
    "details",
)


def iso(at: datetime) -> str:
    """The canonical text of a time in an entry: ISO 8601 in UTC."""
    return at.astimezone(UTC).isoformat()


def entry_bytes(
    row: Sequence[Any], at_text: str | None = None, q: Any = encode_basestring
) -> bytes:
    """The canonical bytes of one entry, hashed into its leaf: ``db.dumps`` of every field
    (``row`` in :data:`ENTRY_COLUMNS` order, extra items ignored; ``at`` a datetime or its
    :func:`iso` text, or given as ``at_text``; categories and details as their canonical
    JSON text, embedded verbatim: a JSON value is prefix-free, so no edit can move the
    boundary between them). Built by hand because verify calls it once per row."""
    if at_text is None:
        at = row[1]
        at_text = at if at.__class__ is str else iso(at)
    purpose, reason, subject, tenant = row[7], row[9], row[5], row[6]
    return (
        f'{{"action":{q(row[3])},"actor":{q(row[2])},"at":{q(at_text)},"categories":{row[8]},'
        f'"details":{row[10]},"outcome":{q(row[4])},'
        f'"purpose":{"null" if purpose is None else q(purpose)},'
        f'"reason":{"null" if reason is None else q(reason)},"seq":{int(row[0])},'
        f'"subject_id":{"null" if subject is None else q(subject)},'
        f'"tenant_id":{"null" if tenant is None else q(tenant)}}}'
    ).encode()


def canonical_fields(first: int, at_text: str, entry: AuditEntry) -> tuple[Any, ...]:
    """The canonical fields of an entry, led by its seq (in the tree) or its pending id:
    what its leaf hash or its pending MAC covers."""
    return (
        first,
        at_text,
        entry.actor,
        entry.action,
        str(entry.outcome),
        entry.subject_id,
        entry.tenant_id,
        entry.purpose,
        dumps(list(entry.categories)),
        entry.reason,
        dumps(dict(entry.details)),
    )


def entry_row(
    first: int,
    at: datetime,
    at_text: str,
    entry: AuditEntry,
    tag: Callable[[tuple[Any, ...]], _Tag],
) -> tuple[dict[str, Any], _Tag]:
    """The row of ``entry`` (its :data:`ENTRY_COLUMNS`, led by ``first``, at ``at``) and
    ``tag`` of its canonical fields (a leaf hash, a pending MAC). An entry whose text
    cannot be encoded (a lone surrogate) is a ValidationError."""
    canon = canonical_fields(first, at_text, entry)
    try:
        made = tag(canon)
    except UnicodeEncodeError as exc:
        raise ValidationError(f"audit entry {entry.action!r} is not valid text ({exc})") from exc
    row: dict[str, Any] = dict(zip(ENTRY_COLUMNS, canon, strict=True))
    row["at"] = at
    return row, made
