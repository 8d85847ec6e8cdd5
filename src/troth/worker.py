"""The worker: troth's scheduled work (mail, retention, legal-demand notices, request
deadlines, audit checkpoints), one process on SQLite, many on PostgreSQL.

Each task is a row in ``worker_jobs`` (the job store, :mod:`troth.operations.jobs`,
holds the table and every query on it) with its next run time. A worker claims a due job
with ``SELECT ... FOR UPDATE SKIP LOCKED`` (PostgreSQL; SQLite's single writer serialises
the claim) and, in the same transaction, writes its lease: a token naming the worker and
this claim (``locked_by``) and an expiry (``locked_until``, ``worker_lease_seconds``
ahead). It runs the job outside that transaction, renewing the lease every third of its
length while the job runs, then schedules the next run, all conditional on still holding
that token. Every claim, renewal and completion is one short transaction and no session
state (session advisory locks, SET, LISTEN, temporary tables) is relied on between them,
so workers can reach PostgreSQL through PgBouncer in transaction mode.

A worker that dies mid-job stops renewing; its lease runs out and another worker runs the
job again. No effect is applied twice because every job is made of idempotent steps, each
committed with its own record: retention deletes a batch and audits it in one transaction
(a rerun finds those rows gone), mail is claimed per message and marked sent with its
audit entry (the ``.eml`` transport rewrites the same file; over SMTP a message whose
sending was cut off before it was marked is sent again with the same Message-ID),
legal-demand notices mark each disclosure notified with its notice, the purges and
scrubs are set-based conditions that a rerun finds already met, and a checkpoint signs
the head the log has.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from types import FrameType
from typing import Any

from troth.context import Context
from troth.errors import TamperedValue
from troth.operations.jobs import JobStore

log = logging.getLogger("troth.worker")

# The default lease (setting worker_lease_seconds).
LEASE = timedelta(seconds=60)


def _deliver_mail(ctx: Context) -> Any:
    from troth.notices.delivery import deliver_due

    return deliver_due(ctx, limit=500)


def _retention(ctx: Context) -> Any:
    from troth.retention.service import RetentionService

    return RetentionService(ctx).run()


def _legal_demands(ctx: Context) -> Any:
    from troth.disclosures import DisclosureService

    return DisclosureService(ctx).notify_due_demands()


def _requests(ctx: Context) -> Any:
    from troth.requests.service import RequestService

    service = RequestService(ctx)
    run = getattr(service, "run_due", None)
    return run() if run is not None else "no scheduled request work"


def _purge_exports(ctx: Context) -> Any:
    from troth.requests.service import RequestService

    return f"{RequestService(ctx).purge_exports()} expired download(s) removed"


def _purge_request_logs(ctx: Context) -> Any:
    from troth.requests.service import RequestService

    return f"{RequestService(ctx).purge_request_logs()} request log(s) reduced to the CCPA log"


def _purge_signin_codes(ctx: Context) -> Any:
    from troth.access.signin import purge_codes

    return f"{purge_codes(ctx)} old sign-in code(s) forgotten"


def _scrub_mail(ctx: Context) -> Any:
    from troth.notices.purge import scrub_settled_mail

    return scrub_settled_mail(ctx)


def _discovery(ctx: Context) -> Any:
    from troth.discovery.jobs import scheduled_scan

    return scheduled_scan(ctx)


def _audit_checkpoint(ctx: Context) -> Any:
    from troth.audit.log import sign_head

    return sign_head(ctx)


@dataclass(frozen=True)
class Task:
    name: str
    every: timedelta
    run: Callable[[Context], Any]


TASKS: tuple[Task, ...] = (
    Task("deliver_mail", timedelta(seconds=30), _deliver_mail),
    Task("legal_demand_notices", timedelta(hours=1), _legal_demands),
    Task("requests", timedelta(minutes=5), _requests),
    Task("purge_exports", timedelta(hours=1), _purge_exports),
    Task("purge_request_logs", timedelta(days=1), _purge_request_logs),
    Task("retention", timedelta(days=1), _retention),
    Task("audit_checkpoint", timedelta(hours=1), _audit_checkpoint),
    Task("scrub_mail", timedelta(days=1), _scrub_mail),
    Task("purge_signin_codes", timedelta(hours=1), _purge_signin_codes),
    Task("discovery", timedelta(days=1), _discovery),
)


_COUNTED = {
    "legal_demand_notices": "notice(s) of ended gags queued",
    "scrub_mail": "settled message(s) scrubbed",
}


def describe(name: str, result: Any) -> str:
    """One plain line for what a task did (never a Python repr)."""
    import dataclasses

    if isinstance(result, str):
        return result
    if isinstance(result, bool) or result is None:
        return "done"
    if isinstance(result, int):
        return f"{result} {_COUNTED.get(name, 'item(s)')}"
    kind = type(result).__name__
    if kind == "SignedHead":
        return f"signed the tree head at size {result.size}"
    if kind == "RetentionReport":
        held = sum(result.held.values())
        return f"{result.total} value(s) removed, {result.keys_shredded} key(s) shredded" + (
            f", {held} kept under legal hold" if held else ""
        )
    if dataclasses.is_dataclass(result):
        parts = [
            f"{f.name.replace('_', ' ')} {getattr(result, f.name)}"
            for f in dataclasses.fields(result)
            if isinstance(getattr(result, f.name), int | str)
        ]
        return ", ".join(parts) or "done"
    return str(result)


@dataclass
class WorkerReport:
    ran: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


class Worker:
    """Runs due tasks; ``run_once`` for one pass, ``run_forever`` until stopped."""

    def __init__(self, ctx: Context, tasks: tuple[Task, ...] = TASKS) -> None:
        self.ctx = ctx
        self.tasks = {t.name: t for t in tasks}
        self.ident = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.claims: dict[str, str] = {}  # job name -> the token of this worker's claim
        self.jobs = JobStore(ctx)
        from troth.policy.follow import follower

        self.follower = follower(ctx)
        self._ensure_jobs()

    def _ensure_jobs(self) -> None:
        self.jobs.ensure(self.tasks)

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.ctx.settings.worker_lease_seconds)

    def claim(self) -> str | None:
        """Claim one due job (a lease until now + the lease length); None when nothing
        is due. The token of the claim is kept in :attr:`claims` until it is settled."""
        token = f"{self.ident}:{uuid.uuid4().hex[:12]}"[:200]
        name = self.jobs.claim(self.tasks, token, self.lease)
        if name is None:
            return None
        self.claims[str(name)] = token
        return str(name)

    def renew(self, name: str) -> bool:
        """Extend the lease on ``name`` by the lease length if this worker still holds it;
        False when it does not (it ran out and another worker claimed the job)."""
        token = self.claims.get(name)
        if token is None:
            return False
        return self.jobs.renew(name, token, self.lease)

    def _renewing(self, name: str) -> tuple[threading.Event, threading.Thread]:
        """A thread renewing the lease on ``name`` every third of its length until the
        event is set."""
        stop = threading.Event()
        every = self.ctx.settings.worker_lease_seconds / 3

        def loop() -> None:
            while not stop.wait(every):
                try:
                    if not self.renew(name):
                        log.warning("worker lost its lease on %s; another worker may run it", name)
                        return
                except Exception:  # the database is away: try again next time
                    log.exception("could not renew the lease on %s", name)

        thread = threading.Thread(target=loop, name=f"troth-lease-{name}", daemon=True)
        thread.start()
        return stop, thread

    def run_once(self) -> WorkerReport:
        """Run every due job once, on the newest published policy (troth.policy.follow);
        a failing job is logged and retried next pass."""
        report = WorkerReport()
        try:
            self.follower.check()
        except Exception:  # the jobs still run, on the policy this worker holds
            log.exception("could not look for a newly published policy")
        while True:
            name = self.claim()
            if name is None:
                return report
            task = self.tasks[name]
            stop, renewer = self._renewing(name)
            try:
                result = task.run(self.ctx)
                text = describe(name, result)[:1000]
                report.ran[name] = text
                delay = task.every
            except Exception as exc:  # a task's failure must not stop the others
                log.exception("worker task %s failed", name)
                if isinstance(exc, TamperedValue):  # a row changed outside troth: audited
                    _audit_tampered(self.ctx, exc, name)
                text = f"failed: {type(exc).__name__}: {exc}"[:1000]
                report.failed[name] = text
                delay = min(task.every, timedelta(minutes=5))
            finally:
                stop.set()
                renewer.join()
            token = self.claims.pop(name)
            if not self.jobs.settle(name, token, delay=delay, result=text):
                log.warning("worker's lease on %s ran out before it finished", name)

    def run_until_signalled(self) -> None:
        """:meth:`run_forever` until SIGTERM or SIGINT, then sign the pending audit tree
        head (the default action of SIGTERM would end the process without its exit hooks,
        leaving entries unsigned until another process signs)."""
        stop = threading.Event()

        def on_signal(_signum: int, _frame: FrameType | None) -> None:
            stop.set()

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.run_forever(stop)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            from troth.audit import close_heads
            from troth.audit.group import close_group

            close_group(self.ctx)
            close_heads(self.ctx)

    def run_forever(self, stop: threading.Event | None = None) -> None:
        stop = stop or threading.Event()
        interval = self.ctx.settings.worker_interval_seconds
        while not stop.is_set():
            report = self.run_once()
            for name, text in report.ran.items():
                log.info("%s: %s", name, text)
            stop.wait(interval)


def _audit_tampered(ctx: Context, exc: TamperedValue, task: str) -> None:
    """Audit a task's refusal of a row changed outside troth (troth.audit.unreadable)."""
    from troth.audit.unreadable import audit_refusal

    try:
        audit_refusal(ctx, exc, f"worker {task}")
    except Exception:  # the database is away: the task is retried, and refused again
        log.exception("could not audit the refusal of worker task %s", task)
