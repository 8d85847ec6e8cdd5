"""Group commit: audit entries from many callers appended in one shared transaction.

Under concurrent load every use would otherwise run its own write transaction: one lock
wait, one commit and one signed head each. Here the callers of a process share them.

- A thread calling :func:`append_committed` when nobody is committing becomes the
  leader: it commits everything queued so far in one transaction (one commit, one signed
  head). Callers arriving meanwhile queue and wait; once the leader's own entry is
  committed it hands the lead to the first of them. A lone caller leads a batch of one
  at once, so sequential use costs what it did.
- A coroutine awaiting :meth:`GroupCommit.append_async` (the HTTP read) must not block
  its event loop, so when it finds nobody committing, the context's writer thread leads
  instead; the coroutine resumes when its entry is committed.

Every caller returns only once its own entry is committed, so no value leaves troth
before its use is in the log. If a shared transaction fails, each of its entries is
retried in a transaction of its own, so one caller's failure never becomes another's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import weakref
from collections.abc import Callable, Sequence
from datetime import datetime

from troth.audit.entry import AuditEntry, check_entry
from troth.audit.log import NotSequenced, append_timed, transaction
from troth.context import Context
from troth.db import WriteBusy, no_wait
from troth.dialects import dialect_for

MAX_BATCH = 256
log = logging.getLogger("troth.audit")

Done = Callable[[int, BaseException | None], None]
_Pending = tuple[datetime, AuditEntry, "asyncio.Future[int]"]


class _Waiter:
    __slots__ = ("at", "done", "entry", "error", "lead", "notify", "seq")

    def __init__(self, at: datetime, entry: AuditEntry, notify: Done | None = None) -> None:
        self.at = at
        self.entry = entry
        self.notify = notify  # set for a coroutine's entry: called once it is committed
        self.done = threading.Event()
        self.lead = False  # woken to lead the next batch, not because it is committed
        self.seq = -1
        self.error: BaseException | None = None


class GroupCommit:
    """One per context: the queue of entries waiting for a shared transaction."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._lock = threading.Lock()
        self._queue: list[_Waiter] = []
        self._leading = False
        self._writer: threading.Thread | None = None
        self._wake = threading.Event()
        self._writer_leads = False  # the lead was handed to the writer thread
        self._closed = False
        # SQLite: coroutines' entries gathered per loop turn, committed on the loop.
        self._inline = dialect_for(ctx.engine).in_process
        self._no_wait = no_wait(ctx.engine)
        self._on_loop: dict[asyncio.AbstractEventLoop, list[_Pending]] = {}

    @property
    def waiting(self) -> int:
        """How many entries are queued for the next shared transaction."""
        with self._lock:
            return len(self._queue)

    @property
    def leading(self) -> bool:
        """Whether a caller (or the writer thread) is committing a batch now."""
        return self._leading

    def append(self, at: datetime, entry: AuditEntry) -> int:
        """Append one entry and return its seq once it is committed."""
        check_entry(at, entry)  # a bad entry fails here, alone, before anything is shared
        me = _Waiter(at, entry)
        with self._lock:
            self._queue.append(me)
            lead = not self._leading
            self._leading = True
        while not lead:
            me.done.wait()
            if not me.lead:
                if me.error is not None:
                    raise me.error
                return me.seq
            me.done.clear()
            lead = True
        self._lead_until(me)
        if me.error is not None:
            raise me.error
        return me.seq

    async def append_async(self, at: datetime, entry: AuditEntry) -> int:
        """:meth:`append` for a coroutine: its loop runs on while the entry commits.

        On SQLite the entries of every coroutine that reaches this point in one turn of
        the loop are committed together, on the loop, if the write lock is free at once
        (a short local write: no thread hand-offs, no waiting); if another connection
        holds it, they go to the writer thread, which waits for it. Elsewhere every entry
        goes to the writer thread."""
        check_entry(at, entry)
        if self._closed:
            raise RuntimeError("this troth is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        if self._inline:
            pending = self._on_loop.get(loop)
            if pending is None:
                pending = self._on_loop[loop] = []
                loop.call_soon(self._flush_loop, loop)
            pending.append((at, entry, future))
        else:
            self.submit(at, entry, _settler(loop, future))
        # The entry commits whether or not this request is still waiting for it.
        return await asyncio.shield(future)

    def _flush_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Commit the entries this loop gathered in one turn (see :meth:`append_async`)."""
        pending = self._on_loop.pop(loop, [])
        if not pending:
            return
        if not self._leading:
            try:
                with transaction(self._ctx, engine=self._no_wait) as conn:
                    seqs = append_timed(conn, [(at, entry) for at, entry, _ in pending])
            except WriteBusy:
                pass  # another writer holds the lock: the writer thread waits for it
            except Exception:  # the writer thread retries them one by one
                log.debug("a shared audit commit on the loop failed", exc_info=True)
            else:
                for i, (_, _, future) in enumerate(pending):
                    if not future.done():  # -1: sequencing deferred, the seq comes later
                        future.set_result(seqs[i] if i < len(seqs) else -1)
                return
        for at, entry, future in pending:
            try:
                self.submit(at, entry, _settler(loop, future))
            except RuntimeError as exc:  # closed meanwhile: the caller must not wait on
                if not future.done():
                    future.set_exception(exc)

    def submit(self, at: datetime, entry: AuditEntry, done: Done) -> None:
        """Queue ``entry`` without waiting; ``done(seq, error)`` is called, on the
        committing thread, once it is committed (or has failed)."""
        check_entry(at, entry)
        with self._lock:
            if self._closed:
                raise RuntimeError("this troth is closed")
            self._queue.append(_Waiter(at, entry, done))
            if self._leading:
                return
            self._leading = True
        self._to_writer()

    def close(self) -> None:
        """Refuse new coroutine entries, let the writer thread commit what it leads, then
        stop it. (Entries queued later behind a thread's lead are committed by it.)"""
        with self._lock:
            self._closed = True
            writer = self._writer
        self._wake.set()
        if writer is not None and writer is not threading.current_thread():
            writer.join(timeout=60)

    # -- leading -------------------------------------------------------------------------
    def _lead_until(self, me: _Waiter) -> None:
        """Commit batches until ``me`` is committed, then hand the lead on."""
        while not me.done.is_set():
            with self._lock:
                batch = self._queue[:MAX_BATCH]
                del self._queue[:MAX_BATCH]
            self._commit(batch)
        self._hand_on()

    def _hand_on(self) -> None:
        """Give the lead to the first queued caller (the writer thread for a coroutine's
        entry), or give it up when nothing is queued."""
        with self._lock:
            if not self._queue:
                self._leading = False
                return
            nxt = self._queue[0]
            if nxt.notify is None:
                nxt.lead = True
                nxt.done.set()
                return
            closed = self._closed
        if closed:  # no writer thread any more: commit the coroutines' entries here
            self._drain()
        else:
            self._to_writer()

    def _to_writer(self) -> None:
        """Hand the lead (held by the caller) to the writer thread, starting it once."""
        with self._lock:
            self._writer_leads = True
            if self._writer is None:
                self._writer = threading.Thread(
                    target=_write_forever,
                    args=(weakref.ref(self),),
                    name="troth-audit-writer",
                    daemon=True,
                )
                self._writer.start()
        self._wake.set()

    def _drain(self) -> None:
        """Commit until nothing is queued, then give up the lead (held by the caller)."""
        while True:
            with self._lock:
                batch = self._queue[:MAX_BATCH]
                del self._queue[:MAX_BATCH]
                if not batch:
                    self._leading = self._writer_leads = False
                    return
            self._commit(batch)

    def _writer_turn(self) -> bool:
        """Woken: drain if the lead was handed over; False once the thread should stop."""
        self._wake.clear()
        with self._lock:
            leads = self._writer_leads
        if leads:
            self._drain()
        with self._lock:
            return not self._closed

    def _commit(self, batch: Sequence[_Waiter]) -> None:
        try:
            with transaction(self._ctx) as conn:
                seqs = append_timed(conn, [(w.at, w.entry) for w in batch])
        except NotSequenced as exc:  # committed: retrying would log the uses twice
            for w in batch:
                _finish(w, -1, exc)
            return
        except BaseException as exc:
            if len(batch) == 1:
                _finish(batch[0], -1, exc)
                return
            for w in batch:  # find whose entry (or which moment) failed
                try:
                    with transaction(self._ctx) as conn:
                        got = append_timed(conn, [(w.at, w.entry)])
                    (seq,) = got
                except BaseException as one:
                    _finish(w, -1, one)
                else:
                    _finish(w, seq, None)
            return
        # With deferred sequencing (troth.audit.deferred) the seqs come after the commit:
        # the caller's entry is committed; its seq is not known yet (-1).
        for i, w in enumerate(batch):
            _finish(w, seqs[i] if i < len(seqs) else -1, None)


def _write_forever(ref: weakref.ref[GroupCommit]) -> None:
    """The writer thread: leads whenever a coroutine's entry finds nobody committing.
    It holds its group only while working, so an abandoned context can be collected
    (then the thread ends at its next look)."""
    while True:
        group = ref()
        if group is None:
            return
        wake = group._wake
        del group
        if not wake.wait(timeout=5.0):
            continue
        group = ref()
        if group is None or not group._writer_turn():
            return
        del group


def _settler(loop: asyncio.AbstractEventLoop, future: asyncio.Future[int]) -> Done:
    """A ``done`` callback that settles ``future`` on its loop (from any thread)."""

    def settle(seq: int, error: BaseException | None) -> None:
        if future.done():  # the awaiting request was cancelled meanwhile
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(seq)

    def done(seq: int, error: BaseException | None) -> None:
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting
            loop.call_soon_threadsafe(settle, seq, error)

    return done


def _finish(w: _Waiter, seq: int, error: BaseException | None) -> None:
    w.seq, w.error, w.lead = seq, error, False
    if w.notify is not None:
        try:
            w.notify(seq, error)
        except Exception:  # a waiter's callback must not stop the batch
            log.exception("could not report a committed audit entry")
    w.done.set()


def group_commit(ctx: Context) -> GroupCommit:
    """The context's group-commit queue (one per context, made on first use)."""
    return ctx.companion("_group_commit", lambda: GroupCommit(ctx))


def close_group(ctx: Context) -> None:
    """Commit queued entries and stop the writer thread (``Troth.close`` calls this)."""
    group: GroupCommit | None = ctx.companion_if_made("_group_commit")
    if group is not None:
        group.close()


def append_committed(ctx: Context, at: datetime, entry: AuditEntry) -> int:
    """Append ``entry`` in its own (possibly shared) transaction and return its seq once
    committed: for audited reads, which change nothing else."""
    return group_commit(ctx).append(at, entry)
