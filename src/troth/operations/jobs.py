"""The job store: one row per scheduled task in ``worker_jobs`` (its next run time, the
lease of the worker running it, its last result). :mod:`troth.worker` is the loop that
runs the tasks; every read and write of their rows is here.

A claim takes a due, unleased job with ``SELECT ... FOR UPDATE SKIP LOCKED`` (PostgreSQL
and MariaDB; SQLite's single writer serialises the claim) and writes its lease in the same
transaction: a token naming the worker and this claim (``locked_by``) and an expiry
(``locked_until``). Renewing and settling are conditional on still holding that token,
each one short transaction with no session state between them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy import Column, String, Table, Text, and_, or_, select, update

from troth.columns import counter, key, open_stamps, stamp
from troth.context import Context
from troth.db import metadata
from troth.dialects import dialect_for

worker_jobs = Table(
    "worker_jobs",
    metadata,
    key("name", length=64),
    stamp("next_run_at"),
    Column("locked_by", String(200)),
    *open_stamps("locked_until", "last_run_at"),
    Column("last_result", Text),
    counter("runs"),
)


class JobStore:
    """The rows of the scheduled tasks, read and written in short transactions."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def ensure(self, names: Iterable[str]) -> None:
        """Give each named task a row, due now, unless it has one."""
        now = self.ctx.clock.now()
        with self.ctx.engine.begin() as conn:
            have = set(conn.execute(select(worker_jobs.c.name)).scalars())
            missing = [{"name": n, "next_run_at": now, "runs": 0} for n in names if n not in have]
            if missing:
                conn.execute(worker_jobs.insert(), missing)

    def claim(self, names: Iterable[str], token: str, lease: timedelta) -> str | None:
        """Lease the named task due first (until now + ``lease``) to ``token``; None when
        none is due and unleased."""
        now = self.ctx.clock.now()
        j = worker_jobs.c
        with self.ctx.engine.begin() as conn:
            q = (
                select(j.name)
                .where(
                    j.name.in_(list(names)),
                    j.next_run_at <= now,
                    or_(j.locked_until.is_(None), j.locked_until < now),
                )
                .order_by(j.next_run_at)
                .limit(1)
            )
            q = dialect_for(conn).claim(q)
            name = conn.execute(q).scalar()
            if name is None:
                return None
            conn.execute(
                update(worker_jobs)
                .where(j.name == name)
                .values(locked_by=token, locked_until=now + lease)
            )
        return str(name)

    def renew(self, name: str, token: str, lease: timedelta) -> bool:
        """Extend the lease on ``name`` to now + ``lease`` if ``token`` still holds it."""
        j = worker_jobs.c
        with self.ctx.engine.begin() as conn:
            done = conn.execute(
                update(worker_jobs)
                .where(and_(j.name == name, j.locked_by == token))
                .values(locked_until=self.ctx.clock.now() + lease)
            )
        return bool(done.rowcount)

    def settle(self, name: str, token: str, *, delay: timedelta, result: str) -> bool:
        """Record a run of ``name`` (its result line), schedule the next ``delay`` from now
        and release the lease, if ``token`` still holds it; False when it ran out."""
        now = self.ctx.clock.now()
        j = worker_jobs.c
        with self.ctx.engine.begin() as conn:
            settled = conn.execute(
                update(worker_jobs)
                .where(and_(j.name == name, j.locked_by == token))
                .values(
                    next_run_at=now + delay,
                    locked_by=None,
                    locked_until=None,
                    last_run_at=now,
                    last_result=result,
                    runs=j.runs + 1,
                )
            )
        return bool(settled.rowcount)
