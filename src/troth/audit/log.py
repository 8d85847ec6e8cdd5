"""The audit log: entries appended in the caller's transaction, an RFC 6962 tree over them,
and signed tree heads published outside the database.

Every audited change runs inside ``with transaction(ctx) as conn:`` and calls
:func:`append_entries` on that connection: the entry commits with the change or not at all.
The tree's frontier lives in the one-row ``audit_state`` table, locked by the append that
extends it, so seqs are gapless across processes and the root after each append needs no
re-read. On PostgreSQL a transaction that finds the row held by another commits its
entries pending instead (MAC'd, in ``audit_pending``) and :mod:`troth.audit.sequencer`
moves them into the tree in batches after the commit, before the transaction returns.
After the commit a signed tree head (Ed25519) is appended to the heads file;
:func:`verify_log` recomputes everything from the rows and checks it against those heads.
"""

from __future__ import annotations

import hmac
import json
import secrets
import time
import weakref
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from json.encoder import encode_basestring
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy import text as sql_text

from troth.audit import seal
from troth.audit.entry import AuditEntry, Outcome
from troth.audit.heads import SignedHead, head_signer, latest_head
from troth.audit.merkle import CompactRange, leaf_hash
from troth.context import Context
from troth.db import Prepared, UtcDateTime, dumps, insert_many, joined_connection, metadata
from troth.dialects import dialect_for
from troth.errors import IntegrityError, ValidationError

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
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(255), nullable=False),
    Column("action", String(100), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("subject_id", String(128)),
    Column("tenant_id", String(128)),
    Column("purpose", String(100)),
    # Canonical JSON text (troth.db.dumps), kept verbatim because it is what was hashed.
    Column("categories", Text, nullable=False),
    Column("reason", Text),
    Column("details", Text, nullable=False),
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
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(255), nullable=False),
    Column("action", String(100), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("subject_id", String(128)),
    Column("tenant_id", String(128)),
    Column("purpose", String(100)),
    Column("categories", Text, nullable=False),
    Column("reason", Text),
    Column("details", Text, nullable=False),
    Column("mac", String(64), nullable=False),
)

_STATE_ID = 1
# conn.info key: the head (size, root hex) a transaction's commit is to sign.
PENDING_HEAD = "troth.audit.pending_head"
_LIMITS = {"actor": 255, "action": 100, "subject_id": 128, "tenant_id": 128, "purpose": 100}

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


# -- appending ---------------------------------------------------------------------------
# Built once: every audited operation runs these three statements (the hot path).
_SELECT_STATE = (
    select(audit_state.c.size, audit_state.c.frontier)
    .where(audit_state.c.id == _STATE_ID)
    .with_for_update()
)
_INSERT_ENTRIES = insert(audit_entries)
_UPDATE_STATE = (
    update(audit_state)
    .where(audit_state.c.id == _STATE_ID)
    .values(
        size=bindparam("new_size"), root=bindparam("new_root"), frontier=bindparam("new_frontier")
    )
)


# The fast path's two statements, compiled once and run on the driver (troth.db.Prepared):
# every audited operation runs them. The conditional UPDATE matches size and root: the
# same size alone could be another tree (a rolled-back append of ours, then another
# process's of the same length).
_UPDATE_STATE_IF = Prepared(
    _UPDATE_STATE.where(
        audit_state.c.size == bindparam("old_size"), audit_state.c.root == bindparam("old_root")
    )
)
_INSERT_ENTRY = Prepared(_INSERT_ENTRIES)
# PostgreSQL: the state row if no other transaction holds it (else no row: go pending).
_TRY_STATE = Prepared(
    select(audit_state.c.size, audit_state.c.frontier)
    .where(audit_state.c.id == _STATE_ID)
    .with_for_update(skip_locked=True)
)
_HAS_STATE = select(audit_state.c.id).where(audit_state.c.id == _STATE_ID)
_INSERT_PENDING = Prepared(insert(audit_pending))
_PENDING_BATCH = 10_000
# Take (at most a batch of) the pending entries out in one statement; under the state
# row's lock no other sequencer runs, and a MAC that fails rolls the DELETE back.
_TAKE_PENDING = (
    delete(audit_pending)
    .where(
        audit_pending.c.id.in_(
            select(audit_pending.c.id)
            .order_by(audit_pending.c.at, audit_pending.c.id)
            .limit(_PENDING_BATCH)
        )
    )
    .returning(
        audit_pending.c.id,
        *[audit_pending.c[name] for name in ENTRY_COLUMNS[1:]],
        audit_pending.c.mac,
    )
)
# PostgreSQL, one statement for a sequencing round that does not wait: the state row if
# no other transaction holds it (kind 0), the pending entries taken out only then (kind
# 1, at most a batch), and which of :ids are in the tree already (kind 2).
_TRY_ROUND = sql_text(
    "WITH st AS (SELECT size, frontier FROM audit_state WHERE id = 1 FOR UPDATE SKIP LOCKED),"  # noqa: S608
    " taken AS (DELETE FROM audit_pending WHERE EXISTS (SELECT 1 FROM st) AND id IN"
    f" (SELECT id FROM audit_pending ORDER BY at, id LIMIT {_PENDING_BATCH})"
    " RETURNING id, at, actor, action, outcome, subject_id, tenant_id, purpose, categories,"
    " reason, details, mac)"
    " SELECT 0 AS kind, size AS n, frontier AS text, NULL::timestamptz AS at, NULL AS actor,"
    " NULL AS action, NULL AS outcome, NULL AS subject_id, NULL AS tenant_id,"
    " NULL AS purpose, NULL AS categories, NULL AS reason, NULL AS details FROM st"
    " UNION ALL SELECT 1, id, mac, at, actor, action, outcome, subject_id, tenant_id,"
    " purpose, categories, reason, details FROM taken"
    " UNION ALL SELECT 2, pending_id, seq::text, NULL, NULL, NULL, NULL, NULL, NULL, NULL,"
    " NULL, NULL, NULL FROM audit_entries WHERE pending_id = ANY(CAST(:ids AS bigint[]))"
)
# PostgreSQL: a round's (or an inline append's) rows inserted and the sealed state stored
# in one statement.
_STORE_COLUMNS = (*ENTRY_COLUMNS, "leaf_hash", "pending_id")
_STORE_TYPES = (
    "bigint",
    "timestamptz",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "bytea",
    "bigint",
)
_STORE = sql_text(
    f"WITH ins AS (INSERT INTO audit_entries ({', '.join(_STORE_COLUMNS)}) SELECT * FROM"  # noqa: S608
    " unnest("
    + ", ".join(f"CAST(:{c} AS {t}[])" for c, t in zip(_STORE_COLUMNS, _STORE_TYPES, strict=True))
    + ")) UPDATE audit_state SET size = :new_size, root = :new_root,"
    " frontier = :new_frontier WHERE id = 1"
)
_PENDING_LABEL = "troth.audit.pending"
# The last frontier each engine (so each process) appended at, and its sealed text.
_FRONTIERS: weakref.WeakKeyDictionary[Any, CompactRange] = weakref.WeakKeyDictionary()
_SEALED: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
_STATE_SEEN: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()
# Until when (monotonic) an engine's appends go pending without probing the state row.
_BUSY_UNTIL: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()
_BUSY_SECONDS = 0.05
_SEALERS_SEEN: weakref.WeakKeyDictionary[Any, seal.Sealer] = weakref.WeakKeyDictionary()
_WAIT = "troth.audit.wait_sequenced"


class NotSequenced(IntegrityError):
    """Entries were committed (pending) but could not be sequenced into the tree: a
    forged or damaged pending row, a state not sealed with the key, or an entry deleted
    before it was sequenced. The operation they record is committed; do not retry it."""


@dataclass(slots=True)
class _Waiting:
    """The pending entries a transaction committed: their ids, and the lists returned to
    each append call, filled with the seqs once the entries are sequenced."""

    ids: list[int] = field(default_factory=list)
    calls: list[tuple[list[int], list[int]]] = field(default_factory=list)


def _lock_state(conn: Connection) -> tuple[str, CompactRange]:
    """Lock the state row for this transaction (FOR UPDATE; SQLite's BEGIN IMMEDIATE has
    already serialised writers) and return its stored text and the frontier it holds
    (not yet trusted: see :func:`troth.audit.seal.trusted`)."""
    stmt = _SELECT_STATE
    row = conn.execute(stmt).first()
    if row is None:
        empty = CompactRange()
        values = {
            "id": _STATE_ID,
            "size": 0,
            "root": empty.root().hex(),
            "frontier": empty.to_json(),
        }
        conn.execute(dialect_for(conn).insert_ignore(audit_state, values))
        row = conn.execute(stmt).one()
    return str(row.frontier), _stored_frontier(int(row.size), str(row.frontier))


def _stored_frontier(size: int, text: str) -> CompactRange:
    """The frontier the state row stores as ``text`` for a tree of ``size`` (not yet
    trusted); IntegrityError when it is unreadable or disagrees with ``size``."""
    try:
        frontier = CompactRange.from_json(text)
    except ValidationError as exc:
        raise IntegrityError(f"{exc.message}; run `troth audit verify`") from exc
    if frontier.size != size:
        raise IntegrityError("audit_state is inconsistent; run `troth audit verify`")
    return frontier


def _check(entry: AuditEntry) -> None:
    if not isinstance(entry, AuditEntry):
        raise ValidationError(f"audit entries must be AuditEntry, not {type(entry).__name__}")
    if not entry.action or not entry.actor:
        raise ValidationError("an audit entry needs an action and an actor")
    if entry.outcome not in Outcome.__members__:
        raise ValidationError(
            f"audit outcome {entry.outcome!r} is not one of {', '.join(Outcome.__members__)}"
        )
    for name, limit in _LIMITS.items():
        value = getattr(entry, name)
        if value is not None and len(value) > limit:
            raise ValidationError(f"audit entry {name} is longer than {limit} characters")


def append_entries(conn: Connection, at: datetime, entries: Sequence[AuditEntry]) -> list[int]:
    """Append ``entries`` (all at time ``at``) in the caller's transaction, without
    committing; returns their seqs. Concurrent appenders queue on the state row."""
    return append_timed(conn, [(at, entry) for entry in entries])


# Called with the entries of every append (troth.operations.metrics counts them); empty
# unless a server installed one, so the CLI pays nothing.
APPEND_OBSERVERS: list[Callable[[Sequence[tuple[datetime, AuditEntry]]], None]] = []


def append_timed(conn: Connection, items: Sequence[tuple[datetime, AuditEntry]]) -> list[int]:
    """Append ``(at, entry)`` pairs, in order, in the caller's transaction without
    committing; returns their seqs (group commit appends many callers' entries at once).

    On PostgreSQL, when another transaction holds the tree's state row, the entries are
    committed *pending* instead (with a MAC under the key) and sequenced into the tree
    right after the commit, by :func:`troth.audit.transaction`, which returns only once
    they are: the list returned here is empty until then and holds their seqs after."""
    if not items:
        return []
    seqs = _append_timed(conn, items)
    for observe in APPEND_OBSERVERS:
        observe(items)
    return seqs


def _append_timed(conn: Connection, items: Sequence[tuple[datetime, AuditEntry]]) -> list[int]:
    for at, entry in items:
        check_entry(at, entry)
    timed = [(at, iso(at), entry) for at, entry in items]
    sealer = seal.sealer_of(conn.engine)
    if dialect_for(conn).pending_appends:
        return _append_postgresql(conn, sealer, timed)
    # Fast path: this process's last known frontier, confirmed by a conditional UPDATE of
    # the state row (which also takes its lock). Another writer since, or a rollback of
    # ours, makes the UPDATE match nothing: then read the row under its lock and redo.
    # The frontier stored is sealed with the key (troth.audit.seal); a stored one is
    # extended only when its seal verifies, so nobody without the key file can make this
    # process append to (and sign over) a tree they recomputed.
    known = _FRONTIERS.get(conn.engine)
    if known is not None:
        frontier = known.copy()
        old_root = known.root().hex()
        rows = _rows_for(timed, frontier)
        root_hex = frontier.root().hex()
        updated = _UPDATE_STATE_IF.execute(
            conn,
            {
                "new_size": frontier.size,
                "new_root": root_hex,
                "new_frontier": seal.seal(sealer.mac, frontier),
                "old_size": known.size,
                "old_root": old_root,
            },
        )
        if updated == 1:
            return _finish(conn, rows, frontier, root_hex, known.size)
    frontier = seal.trusted(sealer, *_lock_state(conn))
    start = frontier.size
    rows = _rows_for(timed, frontier)
    root_hex = frontier.root().hex()
    conn.execute(
        _UPDATE_STATE,
        {
            "new_size": frontier.size,
            "new_root": root_hex,
            "new_frontier": seal.seal(sealer.mac, frontier),
        },
    )
    return _finish(conn, rows, frontier, root_hex, start)


def _append_postgresql(
    conn: Connection, sealer: seal.Sealer, timed: list[tuple[datetime, str, AuditEntry]]
) -> list[int]:
    """PostgreSQL: sequence inline when the state row is free (taking it until commit, and
    sequencing every pending entry with ours); else commit the entries pending."""
    engine = conn.engine
    now = time.monotonic()
    if _BUSY_UNTIL.get(engine, 0.0) > now:
        # The row was busy a moment ago: under load, skip the probe and go pending.
        return _append_pending(conn, sealer, timed)
    got = _TRY_STATE.all(conn, {})
    if not got:
        if not _STATE_SEEN.get(engine) and conn.execute(_HAS_STATE).first() is None:
            # A new database: make the state row (and take it) the slow way.
            text, stored = _lock_state(conn)
            return _sequence_with(conn, sealer, text, seal.trusted(sealer, text, stored), timed)
        _STATE_SEEN[engine] = True
        _BUSY_UNTIL[engine] = now + _BUSY_SECONDS
        return _append_pending(conn, sealer, timed)
    _STATE_SEEN[engine] = True
    text = str(got[0][1])
    if _SEALED.get(engine) == text:
        return _sequence_with(conn, sealer, text, _FRONTIERS[engine].copy(), timed)
    stored = _stored_frontier(int(got[0][0]), text)
    return _sequence_with(conn, sealer, text, seal.trusted(sealer, text, stored), timed)


def _sequence_with(
    conn: Connection,
    sealer: seal.Sealer,
    text: str,
    frontier: CompactRange,
    timed: Sequence[tuple[datetime, str, AuditEntry]],
) -> list[int]:
    """With the state row locked and ``frontier`` (stored as ``text``) trusted: sequence
    the pending entries, then ``timed``; returns the seqs of ``timed``."""
    absorbed, _seqs, _full = _absorb(conn, sealer, frontier)
    start = frontier.size
    rows = absorbed + _rows_for(timed, frontier)
    if not rows:
        return []
    _store(conn, sealer, rows, frontier)
    return list(range(start, frontier.size))


def sequence_locked(conn: Connection) -> tuple[dict[int, int], bool]:
    """Lock the state row (waiting for it) and sequence the pending entries into the tree
    in this transaction: ({pending id: seq}, whether more may be pending). PostgreSQL."""
    sealer = seal.sealer_of(conn.engine)
    text, stored = _lock_state(conn)
    frontier = _trusted(conn, sealer, text, stored)
    absorbed, seqs, full = _absorb(conn, sealer, frontier)
    if absorbed:
        _store(conn, sealer, absorbed, frontier)
    return seqs, full


def try_sequencing(conn: Connection, ids: Collection[int]) -> tuple[dict[int, int], bool | None]:
    """One statement: take the state row unless another transaction holds it, then the
    pending entries, and look ``ids`` (pending ids) up in the tree; sequence what was
    taken in this transaction. Returns ({pending id: seq} for those of ``ids`` found or
    sequenced now, whether more may be pending: None when the row was held). PostgreSQL."""
    got = conn.execute(_TRY_ROUND, {"ids": list(ids)}).all()
    found = {int(r[1]): int(r[2]) for r in got if r[0] == 2}
    state = [r for r in got if r[0] == 0]
    if not state:
        return found, None
    sealer = seal.sealer_of(conn.engine)
    text = str(state[0][2])
    frontier = _trusted(conn, sealer, text, _stored_frontier(int(state[0][1]), text))
    pending = sorted((r for r in got if r[0] == 1), key=lambda r: (r[3], r[1]))
    taken = [(int(r[1]), r[3], *r[4:], r[2]) for r in pending]
    rows, seqs = _pending_rows(sealer, frontier, taken)
    if rows:
        _store(conn, sealer, rows, frontier)
    found.update((i, seqs[i]) for i in ids if i in seqs)
    return found, len(pending) == _PENDING_BATCH


def _trusted(
    conn: Connection, sealer: seal.Sealer, text: str, stored: CompactRange
) -> CompactRange:
    """The frontier to extend: this process's own when the row still holds what it
    stored, else the stored one once its seal verifies (:func:`troth.audit.seal.trusted`)."""
    if _SEALED.get(conn.engine) == text:
        return _FRONTIERS[conn.engine].copy()
    return seal.trusted(sealer, text, stored)


def _store(
    conn: Connection, sealer: seal.Sealer, rows: list[dict[str, Any]], frontier: CompactRange
) -> None:
    """PostgreSQL: insert ``rows`` (which ``frontier`` now ends with) and store the sealed
    frontier, in one statement."""
    root_hex = frontier.root().hex()
    sealed = seal.seal(sealer.mac, frontier)
    params: dict[str, Any] = {c: [r[c] for r in rows] for c in _STORE_COLUMNS}
    params.update(new_size=frontier.size, new_root=root_hex, new_frontier=sealed)
    conn.execute(_STORE, params)
    _remember(conn, frontier, root_hex)
    _SEALED[conn.engine] = sealed


def pending_mac(mac: seal.Mac, pending_id: int, canon: Sequence[Any]) -> str:
    """The MAC of a pending entry: over its id and its canonical bytes (``canon`` in
    :data:`ENTRY_COLUMNS` order, the id in the seq's place)."""
    return mac(_PENDING_LABEL, entry_bytes((pending_id, *canon[1:]))).hex()


def _canon(first: int, at_text: str, entry: AuditEntry) -> tuple[Any, ...]:
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


def _append_pending(
    conn: Connection, sealer: seal.Sealer, timed: Sequence[tuple[datetime, str, AuditEntry]]
) -> list[int]:
    """Insert ``timed`` into audit_pending, each with a random id and its MAC; the
    transaction sequences them after its commit. Returns the (for now empty) seq list."""
    rows: list[dict[str, Any]] = []
    for at, at_text, entry in timed:
        pid = secrets.randbits(63)
        canon = _canon(pid, at_text, entry)
        try:
            tag = pending_mac(sealer.mac, pid, canon)
        except UnicodeEncodeError as exc:
            raise ValidationError(
                f"audit entry {entry.action!r} is not valid text ({exc})"
            ) from exc
        row: dict[str, Any] = dict(zip(ENTRY_COLUMNS, canon, strict=True))
        del row["seq"]
        row["id"], row["at"], row["mac"] = pid, at, tag
        rows.append(row)
    if len(rows) == 1:
        _INSERT_PENDING.execute(conn, rows[0])
    else:
        insert_many(conn, audit_pending, rows)
    waiting = conn.info.get(_WAIT)
    if waiting is None:
        waiting = conn.info[_WAIT] = _Waiting()
    ids = [r["id"] for r in rows]
    out: list[int] = []
    waiting.ids.extend(ids)
    waiting.calls.append((ids, out))
    return out


def _absorb(
    conn: Connection, sealer: seal.Sealer, frontier: CompactRange
) -> tuple[list[dict[str, Any]], dict[int, int], bool]:
    """Move the pending entries (oldest first, at most a batch) into the tree after
    ``frontier`` (extended): their audit_entries rows, {pending id: seq}, and whether the
    batch was full. IntegrityError, and nothing moved, when one's MAC does not verify.
    PostgreSQL only (elsewhere nothing is ever pending)."""
    if not dialect_for(conn).pending_appends:
        return [], {}, False
    pending = conn.execute(_TAKE_PENDING).all()
    rows, seqs = _pending_rows(sealer, frontier, sorted(pending, key=lambda p: (p[1], p[0])))
    return rows, seqs, len(pending) == _PENDING_BATCH


def _pending_rows(
    sealer: seal.Sealer, frontier: CompactRange, pending: Sequence[Sequence[Any]]
) -> tuple[list[dict[str, Any]], dict[int, int]]:
    """The audit_entries rows of ``pending`` (id, the entry's columns, mac) appended after
    ``frontier`` (extended), and {pending id: seq}; IntegrityError when a MAC fails."""
    rows: list[dict[str, Any]] = []
    seqs: dict[int, int] = {}
    for p in pending:
        pid, at = int(p[0]), p[1]
        canon = (pid, iso(at), *p[2:11])
        if not hmac.compare_digest(pending_mac(sealer.mac, pid, canon), str(p[11])):
            raise IntegrityError(
                f"the pending audit entry {pid} is not MAC'd with this home's key: it was"
                " inserted or edited outside troth; nothing was sequenced. Run `troth audit"
                " verify`"
            )
        seq = frontier.size
        canon = (seq, *canon[1:])
        leaf = leaf_hash(entry_bytes(canon))
        frontier.append(leaf)
        row: dict[str, Any] = dict(zip(ENTRY_COLUMNS, canon, strict=True))
        row["at"], row["leaf_hash"], row["pending_id"] = at, leaf, pid
        rows.append(row)
        seqs[pid] = seq
    return rows, seqs


def check_entry(at: datetime, entry: AuditEntry) -> None:
    """Raise ValidationError unless ``entry`` at ``at`` can be appended (checked before
    anything is written, so one bad entry never fails a shared transaction)."""
    if at.tzinfo is None:
        raise ValidationError("audit time must be timezone-aware")
    _check(entry)


def _rows_for(
    timed: Sequence[tuple[datetime, str, AuditEntry]], frontier: CompactRange
) -> list[dict[str, Any]]:
    """The rows of ``(at, at_text, entry)`` appended after ``frontier`` (which they
    extend)."""
    start = frontier.size
    rows: list[dict[str, Any]] = []
    for offset, (at, at_text, entry) in enumerate(timed):
        seq = start + offset
        canon = _canon(seq, at_text, entry)
        try:
            leaf = leaf_hash(entry_bytes(canon))
        except UnicodeEncodeError as exc:
            raise ValidationError(
                f"audit entry {entry.action!r} is not valid text ({exc})"
            ) from exc
        frontier.append(leaf)
        row: dict[str, Any] = dict(zip(ENTRY_COLUMNS, canon, strict=True))
        row["at"] = at
        row["leaf_hash"] = leaf
        row["pending_id"] = None
        rows.append(row)
    return rows


def _finish(
    conn: Connection,
    rows: list[dict[str, Any]],
    frontier: CompactRange,
    root_hex: str,
    start: int,
) -> list[int]:
    if len(rows) == 1:
        _INSERT_ENTRY.execute(conn, rows[0])
    else:
        insert_many(conn, audit_entries, rows)
    _remember(conn, frontier, root_hex)
    return list(range(start, frontier.size))


def _remember(conn: Connection, frontier: CompactRange, root_hex: str) -> None:
    """The new head for the transaction to sign after its commit, and this process's new
    frontier."""
    conn.info[PENDING_HEAD] = (frontier.size, root_hex)
    # Remembered before commit: if the transaction rolls back, the next append's
    # conditional UPDATE (or, on PostgreSQL, its comparison with the stored sealed text)
    # matches nothing and takes the slow path.
    _FRONTIERS[conn.engine] = frontier.copy()
    _SEALED.pop(conn.engine, None)


def append_entry(conn: Connection, at: datetime, entry: AuditEntry) -> int:
    """Append one entry in the caller's transaction; returns its seq."""
    return append_entries(conn, at, [entry])[0]


# -- signed tree heads (troth.audit.heads signs and publishes them) ---------------------
def read_state(conn: Connection) -> tuple[int, str]:
    """(size, root hex) of the tree as the database records it."""
    row = conn.execute(
        select(audit_state.c.size, audit_state.c.root).where(audit_state.c.id == _STATE_ID)
    ).first()
    if row is None:
        return 0, CompactRange().root().hex()
    return int(row.size), str(row.root)


def log_size(ctx: Context) -> int:
    """How many entries the log holds (its tree's size, as the database records it)."""
    with ctx.engine.connect() as conn:
        return read_state(conn)[0]


def sign_head(ctx: Context) -> SignedHead:
    """Sign the current tree head and append it to the heads file (a checkpoint): the
    stored state only when it is sealed with the key (or is already a signed head), never
    a tree recomputed by whoever can write the database (IntegrityError then)."""
    sealer = _sealer(ctx, ctx.engine)
    if dialect_for(ctx.engine).pending_appends:
        # Entries committed pending go into the tree first: the head covers them.
        from troth.audit.sequencer import sequence_pending

        sequence_pending(ctx)
    with ctx.engine.connect() as conn:
        row = conn.execute(
            select(audit_state.c.size, audit_state.c.frontier).where(audit_state.c.id == _STATE_ID)
        ).first()
    if row is None:
        frontier = CompactRange()
    else:
        try:
            stored = CompactRange.from_json(row.frontier)
        except ValidationError as exc:
            raise IntegrityError(f"{exc.message}; run `troth audit verify`") from exc
        frontier = seal.trusted(sealer, str(row.frontier), stored)
    return head_signer(ctx).sign_now(ctx, frontier.size, frontier.root().hex())


def _sealer(ctx: Context, engine: Engine) -> seal.Sealer:
    return seal.register(engine, ctx.keys.mac, lambda: latest_head(ctx))


@contextmanager
def transaction(ctx: Context, *, engine: Engine | None = None) -> Iterator[Connection]:
    """``engine.begin()`` for audited changes; after a successful commit that grew the tree,
    its head goes to the context's signer (signed at once, or within
    ``audit_head_every_seconds``). ``engine`` stands in for the context's (the same
    database with other execution options, e.g. :func:`troth.db.no_wait`)."""
    outer = joined_connection(engine or ctx.engine)
    if outer is not None:  # part of a larger unit (troth.db.joined): commits with it
        with outer.begin_nested():
            yield outer
        return
    pending: tuple[int, str] | None = None
    engine = engine or ctx.engine
    sealer = _SEALERS_SEEN.get(engine)
    if sealer is None:
        sealer = _SEALERS_SEEN[engine] = _sealer(ctx, engine)
    waiting: _Waiting | None = None
    with engine.begin() as conn:
        conn.info.pop(PENDING_HEAD, None)  # info outlives the checkout: start clean
        conn.info.pop(_WAIT, None)
        try:
            yield conn
            if PENDING_HEAD in conn.info or _WAIT in conn.info:
                # Fail closed: a head that could not be written means nothing is committed.
                head_signer(ctx).ready(ctx)
        finally:
            pending = conn.info.pop(PENDING_HEAD, None)
            waiting = conn.info.pop(_WAIT, None)
    if pending is not None:
        sealer.floor = max(sealer.floor, pending[0])
        head_signer(ctx).committed(ctx, *pending)
    if waiting is not None:
        # Committed pending (another transaction held the state row): return only once
        # they are in the tree under a signed head, as an inline append does.
        from troth.audit.sequencer import wait_sequenced

        seqs = dict(zip(waiting.ids, wait_sequenced(ctx, engine, waiting.ids), strict=True))
        for ids, out in waiting.calls:
            out.extend(seqs[i] for i in ids)


# -- reading -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LoggedEntry:
    """An entry as stored: its place in the log, its time and what it says."""

    seq: int
    at: datetime
    entry: AuditEntry
    leaf_hash: bytes = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        e = self.entry
        return {
            "seq": self.seq,
            "at": iso(self.at),
            "actor": e.actor,
            "action": e.action,
            "outcome": str(e.outcome),
            "subject_id": e.subject_id,
            "tenant_id": e.tenant_id,
            "purpose": e.purpose,
            "categories": list(e.categories),
            "reason": e.reason,
            "details": dict(e.details),
            "leaf_hash": self.leaf_hash.hex(),
        }


def _logged(row: Any) -> LoggedEntry:
    entry = AuditEntry(
        action=row.action,
        actor=row.actor,
        outcome=Outcome(row.outcome),
        subject_id=row.subject_id,
        tenant_id=row.tenant_id,
        purpose=row.purpose,
        categories=tuple(json.loads(row.categories)),
        reason=row.reason,
        details=json.loads(row.details),
    )
    return LoggedEntry(int(row.seq), row.at, entry, bytes(row.leaf_hash))


def list_entries(
    ctx: Context,
    subject_id: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    after_seq: int | None = None,
    newest_first: bool = False,
    outcome: str | None = None,
    action: str | None = None,
    offset: int = 0,
) -> list[LoggedEntry]:
    """Entries matching every filter given (``since`` <= at < ``until``, ``outcome``,
    ``action``: that action or, ending in ``.``, every action it begins), in seq order
    (newest first when asked); page with ``after_seq`` = the last seq seen, or ``offset``."""
    if limit < 1 or limit > 10_000:
        raise ValidationError("limit must be between 1 and 10000")
    if offset < 0:
        raise ValidationError("offset must be 0 or more")
    t = audit_entries
    stmt = select(t).where(*_entry_filters(subject_id, actor, since, until, outcome, action))
    if after_seq is not None:
        stmt = stmt.where(t.c.seq < after_seq if newest_first else t.c.seq > after_seq)
    stmt = stmt.order_by(t.c.seq.desc() if newest_first else t.c.seq).limit(limit)
    if offset:
        stmt = stmt.offset(offset)
    with ctx.engine.connect() as conn:
        return [_logged(row) for row in conn.execute(stmt)]


def count_entries(
    ctx: Context,
    subject_id: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    outcome: str | None = None,
    action: str | None = None,
) -> int:
    """How many entries :func:`list_entries` with the same filters would page through."""
    t = audit_entries
    stmt = select(func.count()).select_from(t)
    stmt = stmt.where(*_entry_filters(subject_id, actor, since, until, outcome, action))
    with ctx.engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def _entry_filters(
    subject_id: str | None,
    actor: str | None,
    since: datetime | None,
    until: datetime | None,
    outcome: str | None,
    action: str | None,
) -> list[Any]:
    t = audit_entries
    where: list[Any] = []
    if subject_id is not None:
        where.append(t.c.subject_id == subject_id)
    if actor is not None:
        where.append(t.c.actor == actor)
    if outcome is not None:
        where.append(t.c.outcome == outcome)
    if action is not None:
        if action.endswith("."):
            where.append(t.c.action.startswith(action, autoescape=True))
        else:
            where.append(t.c.action == action)
    if since is not None:
        where.append(t.c.at >= since)
    if until is not None:
        where.append(t.c.at < until)
    return where


def accessed_subjects(conn: Connection, since: datetime, until: datetime) -> list[str]:
    """Distinct subjects any entry names with ``since`` <= at < ``until`` (breach scoping)."""
    t = audit_entries
    stmt = (
        select(t.c.subject_id)
        .where(t.c.at >= since, t.c.at < until, t.c.subject_id.is_not(None))
        .distinct()
        .order_by(t.c.subject_id)
    )
    return [str(s) for s in conn.execute(stmt).scalars()]
