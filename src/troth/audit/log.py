"""The audit log: entries appended in the caller's transaction, an RFC 6962 tree over them,
and signed tree heads published outside the database.

Every audited change runs inside ``with transaction(ctx) as conn:`` and calls
:func:`append_entries` on that connection: the entry commits with the change or not at all.
The tree's frontier lives in the one-row ``audit_state`` table, locked by the append that
extends it, so seqs are gapless across processes and the root after each append needs no
re-read. On PostgreSQL a transaction that finds the row held by another commits its
entries pending instead (MAC'd, in ``audit_pending``: :mod:`troth.audit.pending`) and
:mod:`troth.audit.sequencer` moves them into the tree in batches after the commit, before
the transaction returns. After the commit a signed tree head (Ed25519) is appended to the
heads file; :func:`troth.audit.verify.verify_log` recomputes everything from the rows and
checks it against those heads. The tables and an entry's canonical bytes are in
:mod:`troth.audit.tables`; reading the log is :mod:`troth.audit.entries`.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    bindparam,
    insert,
    select,
    update,
)

from troth.audit import seal
from troth.audit.entry import AuditEntry, check_entry
from troth.audit.heads import SignedHead, head_signer, latest_head
from troth.audit.merkle import CompactRange, leaf_hash
from troth.audit.pending import (
    PENDING_BATCH,
    STORE,
    STORE_COLUMNS,
    TRY_ROUND,
    WAITING,
    Waiting,
    commit_pending,
    pending_rows,
    take_pending,
)
from troth.audit.tables import (
    STATE_ID,
    audit_entries,
    audit_state,
    entry_bytes,
    entry_row,
    iso,
)
from troth.context import Context
from troth.db import end_after_commit, joined_connection, savepoint_actions, start_after_commit
from troth.dialects import dialect_for
from troth.driver import Prepared, insert_many
from troth.errors import IntegrityError, ValidationError

# conn.info key: the head (size, root hex) a transaction's commit is to sign.
PENDING_HEAD = "troth.audit.pending_head"

# -- appending ---------------------------------------------------------------------------
# Built once: every audited operation runs these three statements (the hot path).
_SELECT_STATE = (
    select(audit_state.c.size, audit_state.c.frontier)
    .where(audit_state.c.id == STATE_ID)
    .with_for_update()
)
_INSERT_ENTRIES = insert(audit_entries)
_UPDATE_STATE = (
    update(audit_state)
    .where(audit_state.c.id == STATE_ID)
    .values(
        size=bindparam("new_size"), root=bindparam("new_root"), frontier=bindparam("new_frontier")
    )
)

# The fast path's two statements, compiled once and run on the driver (troth.driver.Prepared):
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
    .where(audit_state.c.id == STATE_ID)
    .with_for_update(skip_locked=True)
)
_HAS_STATE = select(audit_state.c.id).where(audit_state.c.id == STATE_ID)

# The last frontier each engine (so each process) appended at, and its sealed text.
_FRONTIERS: weakref.WeakKeyDictionary[Any, CompactRange] = weakref.WeakKeyDictionary()
_SEALED: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
_STATE_SEEN: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()

# Until when (monotonic) an engine's appends go pending without probing the state row.
_BUSY_UNTIL: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()
_BUSY_SECONDS = 0.05
# conn.info: set by transaction() when the context defers sequencing (an interval).
DEFERRING = "troth.audit.deferring"
_SEALERS_SEEN: weakref.WeakKeyDictionary[Any, seal.Sealer] = weakref.WeakKeyDictionary()


class NotSequenced(IntegrityError):
    """Entries were committed (pending) but could not be sequenced into the tree: a
    forged or damaged pending row, a state not sealed with the key, or an entry deleted
    before it was sequenced. The operation they record is committed; do not retry it."""


def _lock_state(conn: Connection) -> tuple[str, CompactRange]:
    """Lock the state row for this transaction (FOR UPDATE; SQLite's BEGIN IMMEDIATE has
    already serialised writers) and return its stored text and the frontier it holds
    (not yet trusted: see :func:`troth.audit.seal.trusted`)."""
    stmt = _SELECT_STATE
    row = conn.execute(stmt).first()
    if row is None:
        empty = CompactRange()
        values = {
            "id": STATE_ID,
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


def append_entries(
    conn: Connection, at: datetime, entries: Sequence[AuditEntry], *, inline: bool = False
) -> list[int]:
    """Append ``entries`` (all at time ``at``) in the caller's transaction, without
    committing; returns their seqs (see :func:`append_timed` for PostgreSQL, and
    ``inline``)."""
    return append_timed(conn, [(at, entry) for entry in entries], inline=inline)


# Called with the entries of every append (troth.operations.metrics counts them); empty
# unless a server installed one, so the CLI pays nothing.
APPEND_OBSERVERS: list[Callable[[Sequence[tuple[datetime, AuditEntry]]], None]] = []


def append_timed(
    conn: Connection, items: Sequence[tuple[datetime, AuditEntry]], *, inline: bool = False
) -> list[int]:
    """Append ``(at, entry)`` pairs, in order, in the caller's transaction without
    committing; returns their seqs (group commit appends many callers' entries at once).

    On PostgreSQL, when another transaction holds the tree's state row, the entries are
    committed *pending* instead (with a MAC under the key) and sequenced into the tree
    right after the commit, by :func:`troth.audit.transaction`, which returns only once
    they are: the list returned here is empty until then and holds their seqs after.
    ``inline``: wait for the state row instead, so the seqs are known at once (for a
    caller that records its entry's seq in the same transaction)."""
    if not items:
        return []
    seqs = _append_timed(conn, items, inline)
    for observe in APPEND_OBSERVERS:
        observe(items)
    return seqs


def _append_timed(
    conn: Connection, items: Sequence[tuple[datetime, AuditEntry]], inline: bool
) -> list[int]:
    for at, entry in items:
        check_entry(at, entry)
    if not dialect_for(conn).fractional_seconds:  # a leaf hashes the time as stored
        items = [(at.replace(microsecond=0), entry) for at, entry in items]
    timed = [(at, iso(at), entry) for at, entry in items]
    sealer = seal.sealer_of(conn.engine)
    if dialect_for(conn).pending_appends:
        from troth.audit.deferred import check_deferred

        check_deferred(conn.engine)  # fail closed once a deferred round found tampering
        if inline:
            text, stored = _lock_state(conn)
            frontier = _trusted(conn, sealer, text, stored)
            return _sequence_with(conn, sealer, frontier, timed)
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
    if conn.info.get(DEFERRING) and _STATE_SEEN.get(engine):
        # Sequencing is deferred (troth.audit.deferred): no probe, one INSERT.
        return commit_pending(conn, sealer, timed)
    if _BUSY_UNTIL.get(engine, 0.0) > now:
        # The row was busy a moment ago: under load, skip the probe and go pending.
        return commit_pending(conn, sealer, timed)
    got = _TRY_STATE.all(conn, {})
    if not got:
        if not _STATE_SEEN.get(engine) and conn.execute(_HAS_STATE).first() is None:
            # A new database: make the state row (and take it) the slow way.
            text, stored = _lock_state(conn)
            return _sequence_with(conn, sealer, seal.trusted(sealer, text, stored), timed)
        _STATE_SEEN[engine] = True
        _BUSY_UNTIL[engine] = now + _BUSY_SECONDS
        return commit_pending(conn, sealer, timed)
    _STATE_SEEN[engine] = True
    text = str(got[0][1])
    if _SEALED.get(engine) == text:
        return _sequence_with(conn, sealer, _FRONTIERS[engine].copy(), timed)
    stored = _stored_frontier(int(got[0][0]), text)
    return _sequence_with(conn, sealer, seal.trusted(sealer, text, stored), timed)


def _sequence_with(
    conn: Connection,
    sealer: seal.Sealer,
    frontier: CompactRange,
    timed: Sequence[tuple[datetime, str, AuditEntry]],
) -> list[int]:
    """With the state row locked and its ``frontier`` trusted: sequence
    the pending entries, then ``timed``; returns the seqs of ``timed``."""
    absorbed, _seqs, _full = take_pending(conn, sealer, frontier)
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
    absorbed, seqs, full = take_pending(conn, sealer, frontier)
    if absorbed:
        _store(conn, sealer, absorbed, frontier)
    return seqs, full


def try_sequencing(conn: Connection, ids: Collection[int]) -> tuple[dict[int, int], bool | None]:
    """One statement: take the state row unless another transaction holds it, then the
    pending entries, and look ``ids`` (pending ids) up in the tree; sequence what was
    taken in this transaction. Returns ({pending id: seq} for those of ``ids`` found or
    sequenced now, whether more may be pending: None when the row was held). PostgreSQL."""
    got = conn.execute(TRY_ROUND, {"ids": list(ids)}).all()
    found = {int(r[1]): int(r[2]) for r in got if r[0] == 2}
    state = [r for r in got if r[0] == 0]
    if not state:
        return found, None
    sealer = seal.sealer_of(conn.engine)
    text = str(state[0][2])
    frontier = _trusted(conn, sealer, text, _stored_frontier(int(state[0][1]), text))
    pending = sorted((r for r in got if r[0] == 1), key=lambda r: (r[3], r[1]))
    taken = [(int(r[1]), r[3], *r[4:], r[2]) for r in pending]
    rows, seqs = pending_rows(sealer, frontier, taken)
    if rows:
        _store(conn, sealer, rows, frontier)
    found.update((i, seqs[i]) for i in ids if i in seqs)
    return found, len(pending) == PENDING_BATCH


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
    params: dict[str, Any] = {c: [r[c] for r in rows] for c in STORE_COLUMNS}
    params.update(new_size=frontier.size, new_root=root_hex, new_frontier=sealed)
    conn.execute(STORE, params)
    _remember(conn, frontier, root_hex)
    _SEALED[conn.engine] = sealed


def _leaf_of(canon: tuple[Any, ...]) -> bytes:
    return leaf_hash(entry_bytes(canon))


def _rows_for(
    timed: Sequence[tuple[datetime, str, AuditEntry]], frontier: CompactRange
) -> list[dict[str, Any]]:
    """The rows of ``(at, at_text, entry)`` appended after ``frontier`` (which they
    extend)."""
    start = frontier.size
    rows: list[dict[str, Any]] = []
    for offset, (at, at_text, entry) in enumerate(timed):
        row, leaf = entry_row(start + offset, at, at_text, entry, _leaf_of)
        frontier.append(leaf)
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
    """Append one entry in the caller's transaction; returns its seq (on PostgreSQL it
    waits for the state row rather than commit the entry pending, to know it now)."""
    return append_entries(conn, at, [entry], inline=True)[0]


# -- signed tree heads (troth.audit.heads signs and publishes them) ---------------------
def read_state(conn: Connection) -> tuple[int, str]:
    """(size, root hex) of the tree as the database records it."""
    row = conn.execute(
        select(audit_state.c.size, audit_state.c.root).where(audit_state.c.id == STATE_ID)
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
            select(audit_state.c.size, audit_state.c.frontier).where(audit_state.c.id == STATE_ID)
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
        with outer.begin_nested(), savepoint_actions(outer):
            yield outer
        return
    pending: tuple[int, str] | None = None
    engine = engine or ctx.engine
    sealer = _SEALERS_SEEN.get(engine)
    if sealer is None:
        sealer = _SEALERS_SEEN[engine] = _sealer(ctx, engine)
    waiting: Waiting | None = None
    with engine.begin() as conn:
        conn.info.pop(PENDING_HEAD, None)  # info outlives the checkout: start clean
        conn.info.pop(WAITING, None)
        conn.info[DEFERRING] = ctx.settings.audit_head_every_seconds > 0
        committed = start_after_commit(conn)  # troth.db.after_commit: run once committed
        try:
            yield conn
            if PENDING_HEAD in conn.info or WAITING in conn.info:
                # Fail closed: a head that could not be written means nothing is committed.
                head_signer(ctx).ready(ctx)
        finally:
            pending = conn.info.pop(PENDING_HEAD, None)
            waiting = conn.info.pop(WAITING, None)
            conn.info.pop(DEFERRING, None)  # info outlives the checkout: not for the next
            end_after_commit(conn)
    for action in committed:
        action()
    if pending is not None:
        sealer.floor = max(sealer.floor, pending[0])
        head_signer(ctx).committed(ctx, *pending)
    if waiting is not None:
        if ctx.settings.audit_head_every_seconds > 0:
            # Heads within an interval: the entries are committed (durable, MAC'd); the
            # process's thread sequences them now, a head covers them within the interval.
            from troth.audit.deferred import defer

            defer(ctx, engine, waiting)
            return
        # Committed pending (another transaction held the state row): return only once
        # they are in the tree under a signed head, as an inline append does.
        from troth.audit.sequencer import wait_sequenced

        seqs = dict(zip(waiting.ids, wait_sequenced(ctx, engine, waiting.ids), strict=True))
        for ids, out in waiting.calls:
            out.extend(seqs[i] for i in ids)
