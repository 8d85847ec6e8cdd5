"""The sequencer: pending audit entries moved into the Merkle tree in batches (PostgreSQL).

An audited transaction that finds the tree's state row held by another transaction does
not wait for it: it commits its entries to ``audit_pending``, each with an HMAC under the
key file's token key over its random id and contents (troth.audit.pending). After its
commit it calls :func:`wait_sequenced`, which returns once those entries are in the tree
under a signed head. Within a process one waiting thread at a time runs rounds for all of
them. A round is one statement that takes the state row if no other transaction holds it
(``FOR UPDATE SKIP LOCKED``, a transaction-scoped lock: no session state, so it works
behind PgBouncer in transaction mode), takes out every pending entry (``DELETE ...
RETURNING``, up to a batch) and looks the waiting ids up in the tree; it then checks each
MAC, inserts the entries with the next seqs and stores the sealed frontier (a second
statement), commits and signs the head. Each entry lands in the tree exactly once,
whichever process moves it. A round that finds the row held pauses and looks again: the
round holding it may be another process's, which sequences this process's entries too.
So rounds grow with the load and the state row is taken once per batch instead of once
per operation.

An entry committed by a process that dies before it is sequenced stays pending, MAC'd,
until the next round: any later append that takes the state row, any waiting process,
``troth audit head`` / the worker's checkpoint (:func:`troth.audit.log.sign_head`).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, select

from troth.audit.log import PENDING_HEAD, NotSequenced, sequence_locked, transaction, try_sequencing
from troth.audit.tables import audit_entries
from troth.context import Context
from troth.dialects import dialect_for


def sequence_pending(
    ctx: Context, engine: Engine | None = None, waiting: Collection[int] = ()
) -> dict[int, int]:
    """Sequence every pending entry (in rounds of at most 10,000), each round committed
    and its head signed; returns {pending id: seq} for the ids in ``waiting`` that are in
    the tree (sequenced now or already by another process). Nothing to do except on
    PostgreSQL. IntegrityError when a pending entry's MAC or the stored state does not
    verify (nothing is sequenced then)."""
    engine = engine or ctx.engine
    if not dialect_for(engine).pending_appends:
        return {}
    found: dict[int, int] = {}
    while True:
        found_now, settled = _round(ctx, engine, waiting, wait=True)
        found.update(found_now)
        if settled:
            return found


def _round(
    ctx: Context, engine: Engine, ids: Collection[int], *, wait: bool
) -> tuple[dict[int, int], bool]:
    """One sequencing round in one transaction: ({pending id: seq} for those of ``ids``
    in the tree, whether that is settled: the round took the state row and nothing more
    is pending, so an id still missing was deleted). Without ``wait``, a row held by
    another transaction ends the round at once, unsettled, with the ids found in the
    tree (another process's round may have sequenced them)."""
    with transaction(ctx, engine=engine) as conn:
        if wait:
            seqs, more = sequence_locked(conn)
            found = {i: seqs[i] for i in ids if i in seqs}
        else:
            found, taken = try_sequencing(conn, ids)
            if taken is None:
                return found, False
            more = taken
        missing = [i for i in ids if i not in found]
        if missing and not more:
            # Sequenced by a round that committed after this statement began.
            found.update(_sequenced(conn, missing))
        if PENDING_HEAD not in conn.info:
            # Took the row, moved nothing: roll back, so the row lock costs no commit
            # (PostgreSQL waits for the disk on a commit, not on a rollback).
            conn.rollback()
    return found, not more


def _sequenced(conn: Connection, ids: Collection[int]) -> dict[int, int]:
    """{pending id: seq} of those of ``ids`` already in the tree."""
    t = audit_entries
    found: dict[int, int] = {}
    listed = list(ids)
    for at in range(0, len(listed), 1000):
        part = listed[at : at + 1000]
        found.update(
            (int(p), int(s))
            for p, s in conn.execute(
                select(t.c.pending_id, t.c.seq).where(t.c.pending_id.in_(part))
            )
        )
    return found


class _Waits:
    """One engine's (so one process's) threads waiting for their entries' sequencing."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.running = False
        self.waiting: set[int] = set()
        self.done: dict[int, int] = {}
        self.failed: dict[int, BaseException] = {}


_WAITS: weakref.WeakKeyDictionary[Any, _Waits] = weakref.WeakKeyDictionary()
_WAITS_LOCK = threading.Lock()
# How long a process's sequencing thread pauses after finding the state row held by
# another transaction before it looks again (doubling, up to the second figure).
_PAUSE = (0.001, 0.01)
# How long it keeps looking before it queues for the row instead.
_PATIENCE = 1.0


def _waits_of(engine: Engine) -> _Waits:
    with _WAITS_LOCK:
        waits = _WAITS.get(engine)
        if waits is None:
            waits = _WAITS[engine] = _Waits()
        return waits


def wait_sequenced(ctx: Context, engine: Engine, ids: Sequence[int]) -> list[int]:
    """The seqs of the committed pending entries ``ids``, once they are in the tree under
    a signed head. One thread per process sequences for every thread waiting (group
    commit for sequencing); the others wait for it. NotSequenced when a round fails or an
    entry was deleted before it was sequenced."""
    w = _waits_of(engine)
    with w.cond:
        w.waiting.update(ids)
    while True:
        with w.cond:
            while True:
                if all(i in w.done or i in w.failed for i in ids):
                    errors = [w.failed.pop(i) for i in ids if i in w.failed]
                    seqs = [w.done.pop(i, -1) for i in ids]
                    if errors:
                        raise errors[0]
                    return seqs
                if not w.running:
                    w.running = True
                    break
                w.cond.wait()
        try:
            _sequence_for(ctx, engine, w, ids)
        finally:
            with w.cond:
                w.running = False
                w.cond.notify_all()


def _sequence_for(ctx: Context, engine: Engine, w: _Waits, own: Sequence[int]) -> None:
    """Run rounds for the process's waiting entries until ``own`` (the calling thread's)
    are settled; another waiting thread then takes over. A round that finds the state
    row held (an inline append, another process's round) does not queue for it: it
    pauses, then looks the entries up (that round may have sequenced them) and tries the
    row again, so one process's round serves every process's waiters."""
    pause, since = _PAUSE[0], time.monotonic()
    while True:
        with w.cond:
            ids = set(w.waiting)
        if not ids:
            return
        error: BaseException | None = None
        found: dict[int, int] = {}
        settled = True
        try:
            # After a while, queue for the row: it is held for long (or is missing, which
            # the waiting round turns into an error instead of looking for ever).
            wait = time.monotonic() - since > _PATIENCE
            found, settled = _round(ctx, engine, ids, wait=wait)
        except BaseException as exc:  # every waiter of this round hears it
            error = exc
        with w.cond:
            for i in ids:
                if i in found:
                    w.done[i] = found[i]
                elif error is not None:
                    w.failed[i] = _not_sequenced(error)
                elif settled:
                    w.failed[i] = NotSequenced(
                        f"the audit entry this process committed as pending {i} was deleted"
                        " before it was sequenced into the tree: the database was written"
                        " outside troth. Run `troth audit verify`"
                    )
                else:
                    continue
                w.waiting.discard(i)
            w.cond.notify_all()
            mine_settled = all(i in w.done or i in w.failed for i in own)
        if settled or error is not None or mine_settled:
            return
        time.sleep(pause)
        pause = min(pause * 2, _PAUSE[1])


def _not_sequenced(error: BaseException) -> BaseException:
    if isinstance(error, NotSequenced) or not isinstance(error, Exception):
        return error
    message = getattr(error, "message", None) or str(error)
    out = NotSequenced(
        f"the operation is committed but its audit entry is not yet in the tree: {message}"
    )
    out.__cause__ = error
    return out
