"""The sequencer: pending audit entries moved into the Merkle tree in batches (PostgreSQL).

An audited transaction that finds the tree's state row held by another transaction does
not wait for it: it commits its entries to ``audit_pending``, each with an HMAC under the
key file's token key over its random id and contents (troth.audit.log). After its commit
it calls :func:`wait_sequenced`, which returns once those entries are in the tree under a
signed head. Within a process one waiting thread at a time runs a sequencing round for
all of them; a round locks the state row (``SELECT ... FOR UPDATE``, a transaction-scoped
lock: no session state, so it works behind PgBouncer in transaction mode), moves every
pending entry into ``audit_entries`` (checking each MAC, deleting it from pending in the
same transaction, so each entry lands in the tree exactly once whichever process moves
it), stores the sealed frontier and commits; its head is then signed. A round run by one
process sequences the entries of every process, so rounds grow with the load and the
state row is taken once per batch instead of once per operation.

An entry committed by a process that dies before it is sequenced stays pending, MAC'd,
until the next round: any later append that takes the state row, any waiting process,
``troth audit head`` / the worker's checkpoint (:func:`troth.audit.log.sign_head`).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Engine, select

from troth.audit.log import NotSequenced, audit_entries, sequence_locked, transaction
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
        with transaction(ctx, engine=engine) as conn:
            seqs, more = sequence_locked(conn)
            found.update((i, seqs[i]) for i in waiting if i in seqs)
            missing = [i for i in waiting if i not in found]
            if missing and not more:
                t = audit_entries
                for at in range(0, len(missing), 1000):
                    part = missing[at : at + 1000]
                    found.update(
                        (int(p), int(s))
                        for p, s in conn.execute(
                            select(t.c.pending_id, t.c.seq).where(t.c.pending_id.in_(part))
                        )
                    )
        if not more:
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


def _waits_of(engine: Engine) -> _Waits:
    with _WAITS_LOCK:
        waits = _WAITS.get(engine)
        if waits is None:
            waits = _WAITS[engine] = _Waits()
        return waits


def wait_sequenced(ctx: Context, engine: Engine, ids: Sequence[int]) -> list[int]:
    """The seqs of the committed pending entries ``ids``, once they are in the tree under
    a signed head. One waiting thread per process runs a round at a time, for every
    thread waiting when it starts; the others wait for it (group commit for sequencing).
    NotSequenced when a round fails or an entry was deleted before it was sequenced."""
    w = _waits_of(engine)
    while True:
        with w.cond:
            w.waiting.update(ids)
            while True:
                if all(i in w.done or i in w.failed for i in ids):
                    errors = [w.failed.pop(i) for i in ids if i in w.failed]
                    seqs = [w.done.pop(i, -1) for i in ids]
                    if errors:
                        raise errors[0]
                    return seqs
                if not w.running:
                    w.running = True
                    round_ids = set(w.waiting)
                    break
                w.cond.wait()
        error: BaseException | None = None
        found: dict[int, int] = {}
        try:
            found = sequence_pending(ctx, engine, round_ids)
        except BaseException as exc:  # every waiter of this round hears it
            error = exc
        with w.cond:
            w.running = False
            for i in round_ids:
                w.waiting.discard(i)
                if i in found:
                    w.done[i] = found[i]
                elif error is not None:
                    w.failed[i] = _not_sequenced(error)
                else:
                    w.failed[i] = NotSequenced(
                        f"the audit entry this process committed as pending {i} was deleted"
                        " before it was sequenced into the tree: the database was written"
                        " outside troth. Run `troth audit verify`"
                    )
            w.cond.notify_all()


def _not_sequenced(error: BaseException) -> BaseException:
    if isinstance(error, NotSequenced) or not isinstance(error, Exception):
        return error
    message = getattr(error, "message", None) or str(error)
    out = NotSequenced(
        f"the operation is committed but its audit entry is not yet in the tree: {message}"
    )
    out.__cause__ = error
    return out
