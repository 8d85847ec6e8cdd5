"""The audit log: entries appended in the caller's transaction, an RFC 6962 tree over them,
and signed tree heads published outside the database.

Every audited change runs inside ``with transaction(ctx) as conn:`` and calls
:func:`append_entries` on that connection: the entry commits with the change or not at all.
The tree's frontier lives in the one-row ``audit_state`` table, locked per append, so seqs
are gapless across processes and the root after each append needs no re-read. After the
commit a signed tree head (Ed25519) is appended to the heads file; :func:`verify_log`
recomputes everything from the rows and checks it against those heads.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Callable, Iterator, Sequence
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
    func,
    insert,
    select,
    update,
)

from troth.audit import seal
from troth.audit.entry import AuditEntry, Outcome
from troth.audit.heads import SignedHead, head_signer, latest_head
from troth.audit.merkle import CompactRange, leaf_hash
from troth.context import Context
from troth.db import Prepared, UtcDateTime, dumps, insert_many, joined_connection, metadata
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
    Index("ix_audit_entries_subject_id_seq", "subject_id", "seq"),
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

_STATE_ID = 1
_PENDING = "troth.audit.pending_head"
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
# every audited operation runs them.
_UPDATE_STATE_IF = Prepared(_UPDATE_STATE.where(audit_state.c.size == bindparam("old_size")))
_INSERT_ENTRY = Prepared(_INSERT_ENTRIES)
# The last frontier each engine (so each process) appended at.
_FRONTIERS: weakref.WeakKeyDictionary[Any, CompactRange] = weakref.WeakKeyDictionary()
_SEALERS_SEEN: weakref.WeakKeyDictionary[Any, seal.Sealer] = weakref.WeakKeyDictionary()


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
        name = conn.dialect.name
        if name in ("postgresql", "sqlite"):
            dialect_insert: Any = __import__(
                f"sqlalchemy.dialects.{name}", fromlist=["insert"]
            ).insert
            conn.execute(dialect_insert(audit_state).values(values).on_conflict_do_nothing())
        else:
            conn.execute(insert(audit_state).values(values).prefix_with("IGNORE"))
        row = conn.execute(stmt).one()
    try:
        frontier = CompactRange.from_json(row.frontier)
    except ValidationError as exc:
        raise IntegrityError(f"{exc.message}; run `troth audit verify`") from exc
    if frontier.size != row.size:
        raise IntegrityError("audit_state is inconsistent; run `troth audit verify`")
    return str(row.frontier), frontier


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
    committing; returns their seqs (group commit appends many callers' entries at once)."""
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
    # Fast path: this process's last known frontier, confirmed by a conditional UPDATE of
    # the state row (which also takes its lock). Another writer since, or a rollback of
    # ours, makes the UPDATE match nothing: then read the row under its lock and redo.
    # The frontier stored is sealed with the key (troth.audit.seal); a stored one is
    # extended only when its seal verifies, so nobody without the key file can make this
    # process append to (and sign over) a tree they recomputed.
    sealer = seal.sealer_of(conn.engine)
    known = _FRONTIERS.get(conn.engine)
    if known is not None:
        frontier = known.copy()
        rows = _rows_for(timed, frontier)
        root_hex = frontier.root().hex()
        updated = _UPDATE_STATE_IF.execute(
            conn,
            {
                "new_size": frontier.size,
                "new_root": root_hex,
                "new_frontier": seal.seal(sealer.mac, frontier),
                "old_size": known.size,
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
        canon = (
            seq,
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
    conn.info[_PENDING] = (frontier.size, root_hex)
    # Remembered before commit: if the transaction rolls back, the next append's
    # conditional UPDATE matches nothing and takes the slow path.
    _FRONTIERS[conn.engine] = frontier.copy()
    return list(range(start, frontier.size))


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


def sign_head(ctx: Context) -> SignedHead:
    """Sign the current tree head and append it to the heads file (a checkpoint): the
    stored state only when it is sealed with the key (or is already a signed head), never
    a tree recomputed by whoever can write the database (IntegrityError then)."""
    sealer = _sealer(ctx, ctx.engine)
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
    with engine.begin() as conn:
        conn.info.pop(_PENDING, None)  # info outlives the checkout: start clean
        try:
            yield conn
            if _PENDING in conn.info:
                # Fail closed: a head that could not be written means nothing is committed.
                head_signer(ctx).ready(ctx)
        finally:
            pending = conn.info.pop(_PENDING, None)
    if pending is not None:
        sealer.floor = max(sealer.floor, pending[0])
        head_signer(ctx).committed(ctx, *pending)


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
