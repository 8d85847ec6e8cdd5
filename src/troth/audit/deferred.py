"""Deferred sequencing: with ``audit_head_every_seconds`` > 0 on PostgreSQL, an audited
transaction whose entries went pending returns once they are committed, and a thread of
the process sequences them into the tree straight after (as RFC 6962 logs merge an entry
after promising it, within a maximum merge delay).

With an interval, a head is signed within the interval instead of before the call
returns; an entry committed pending is then durable and MAC'd with the key, and is in the
tree within milliseconds and under a signed head within the interval, the same promise
the interval already made for heads. The caller does not wait for the round, so the
round's statements, commit and fsync leave the operation's path (issue 19: audited
operations per second grow with clients instead of waiting on the rounds).

Per context, one thread (started on demand, ended after a second idle) runs
:func:`troth.audit.sequencer.wait_sequenced` for every id the process deferred, so its
rounds take all of them at once. What a round finds decides what happens next:

- sequenced: the lists each ``append_entries`` call returned are filled with the seqs;
- an entry of the process deleted before it was sequenced, or a pending row or stored
  state that fails its MAC (the database was written outside troth): the process fails
  closed, every later audited append raises the IntegrityError (:func:`check_deferred`)
  and nothing more is stored, as a forged state already makes every process refuse;
- anything else (the database unreachable for a moment): the entries stay pending and
  the thread tries again (backing off up to a second); they are durable meanwhile and
  any process's round, ``troth audit head`` or the worker's checkpoint moves them.

Closing the context (``Troth.close``, :func:`troth.audit.close_heads`) and the interpreter
exiting wait (up to :data:`DRAIN_SECONDS`) until the deferred entries are sequenced, so
the head signed at close covers them.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from typing import Any

from sqlalchemy import Engine

from troth.audit.log import NotSequenced
from troth.audit.pending import Waiting
from troth.context import Context
from troth.errors import IntegrityError

log = logging.getLogger(__name__)

DRAIN_SECONDS = 30.0
_IDLE_SECONDS = 1.0
# How long the thread lets entries gather before a round (far below any interval).
_LINGER = 0.02
_RETRY = (0.01, 1.0)


class _Deferred:
    """One context's entries committed pending that nobody waits for."""

    def __init__(self, ctx: Context, engine: Engine) -> None:
        self.ctx_ref = weakref.ref(ctx)
        self.engine = engine
        self.cond = threading.Condition()
        self.ids: set[int] = set()
        self.calls: list[tuple[list[int], list[int]]] = []
        self.busy = False  # a round is running for ids taken out of ``ids``
        self.thread: threading.Thread | None = None
        self.broken: IntegrityError | None = None

    def add(self, waiting: Waiting) -> None:
        with self.cond:
            self.ids.update(waiting.ids)
            self.calls.extend(waiting.calls)
            if self.thread is None:
                self.thread = threading.Thread(
                    target=_run, args=(self,), name="troth-audit-deferred", daemon=True
                )
                self.thread.start()
            self.cond.notify_all()

    def drain(self, timeout: float) -> bool:
        """Wait until every deferred entry is sequenced (or the process failed closed);
        False when ``timeout`` passed first."""
        end = time.monotonic() + timeout
        with self.cond:
            while (self.ids or self.busy) and self.broken is None:
                left = end - time.monotonic()
                if left <= 0 or self.thread is None:
                    return False
                self.cond.wait(left)
            return True

    def settle(self, ids: list[int], seqs: dict[int, int] | None, error: Any = None) -> None:
        with self.cond:
            self.busy = False
            if seqs is not None:
                done = []
                for call in self.calls:
                    if all(i in seqs for i in call[0]):
                        call[1].extend(seqs[i] for i in call[0])
                        done.append(call)
                self.calls = [c for c in self.calls if c not in done]
            if error is not None:
                self.broken = _BROKEN[self.engine.pool] = error
                self.ids.clear()
                self.calls.clear()
            self.cond.notify_all()


_ALL: weakref.WeakSet[_Deferred] = weakref.WeakSet()
# The processes whose deferred rounds found the log tampered with, by their engine's pool
# (shared by the engines made from it with other options, e.g. troth.db.no_wait).
_BROKEN: weakref.WeakKeyDictionary[Any, IntegrityError] = weakref.WeakKeyDictionary()


def defer(ctx: Context, engine: Engine, waiting: Waiting) -> None:
    """Hand a committed transaction's pending entries to the context's thread."""
    deferred_of(ctx, engine).add(waiting)


def deferred_of(ctx: Context, engine: Engine) -> _Deferred:
    def make() -> _Deferred:
        d = _Deferred(ctx, engine)
        _ALL.add(d)
        return d

    return ctx.companion(f"_audit_deferred_{id(engine)}", make)


def check_deferred(engine: Engine) -> None:
    """Raise the IntegrityError of a deferred round of this process that found the log
    tampered with: fail closed, nothing more is appended."""
    broken = _BROKEN.get(engine.pool)
    if broken is not None:
        raise broken


def drain_deferred(ctx: Context, timeout: float = DRAIN_SECONDS) -> bool:
    """Wait until the context's deferred entries are sequenced (``close_heads`` calls it
    before signing the last head); False when some were still pending at ``timeout``."""
    ok = True
    for d in list(_ALL):
        if d.ctx_ref() is ctx:
            ok = d.drain(timeout) and ok
    return ok


def _tampered(exc: Exception) -> bool:
    """Whether a round's error says the log was written outside troth (a pending entry
    deleted, a MAC or seal that fails), not that the database was out of reach."""
    if isinstance(exc, NotSequenced):
        return exc.__cause__ is None or isinstance(exc.__cause__, IntegrityError)
    return isinstance(exc, IntegrityError)


def _run(d: _Deferred) -> None:
    try:
        _rounds(d)
    finally:  # however it ends, nobody waits on a thread that is gone
        with d.cond:
            if d.thread is threading.current_thread():  # not a successor add() started
                d.thread = None
                d.busy = False
            d.cond.notify_all()


def _rounds(d: _Deferred) -> None:
    from troth.audit.sequencer import wait_sequenced

    pause = _RETRY[0]
    while True:
        with d.cond:
            if not d.ids and not d.cond.wait_for(lambda: bool(d.ids), _IDLE_SECONDS):
                d.thread = None  # under the lock: the next add() starts a thread
                return
        time.sleep(_LINGER)  # let a round take many: fewer rounds, the same few statements
        with d.cond:
            ids = sorted(d.ids)
            d.ids.clear()
            d.busy = True
        ctx = d.ctx_ref()
        if ctx is None:  # the context is gone: its entries stay pending for any round
            return
        try:
            seqs = wait_sequenced(ctx, d.engine, ids)
        except Exception as exc:
            if _tampered(exc):
                message = getattr(exc, "message", str(exc))
                log.error("audit log tampered with, appends refused from now on: %s", message)
                _alarm(ctx, message)
                d.settle(ids, None, exc)
                continue
            if pause == _RETRY[0]:  # once per streak of failures, not per try
                log.warning(
                    "could not sequence %d audit entries yet (%s); retrying",
                    len(ids),
                    type(exc.__cause__ or exc).__name__,
                )
            with d.cond:
                d.ids.update(ids)
            d.settle([], None)
            time.sleep(pause)
            pause = min(pause * 2, _RETRY[1])
            continue
        finally:
            del ctx
        pause = _RETRY[0]
        d.settle(ids, dict(zip(ids, seqs, strict=True)))


def _alarm(ctx: Context, message: str) -> None:
    """Keep what a round found outside the database, signed (the deleted row is gone, and
    the process's refusal ends with it): `troth audit verify` fails on it from now on."""
    from troth.audit.heads import head_signer

    try:
        head_signer(ctx).alarm(message)
    except Exception:  # the thread has no caller: the process fails closed regardless
        log.exception("could not write the audit alarm to the heads file")


@atexit.register
def _drain_at_exit() -> None:
    from troth.audit.heads import close_heads

    for d in list(_ALL):
        ctx = d.ctx_ref()
        try:
            if ctx is not None and (d.ids or d.busy):
                close_heads(ctx)  # sequences what is deferred, then signs the last head
            elif not d.drain(DRAIN_SECONDS):
                log.error("audit entries still pending at exit: the next round sequences them")
        except Exception:  # at exit there is no caller: log, go on with the others
            log.exception("could not sequence the deferred audit entries at exit")
