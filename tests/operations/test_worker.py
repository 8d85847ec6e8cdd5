"""The worker: due jobs run once per pass, leases keep two workers apart, a failing task
does not stop the others."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from troth.notices.outbox import submit
from troth.operations.jobs import worker_jobs
from troth.worker import LEASE, Task, Worker


def test_worker_runs_due_jobs_and_schedules_the_next(home, db_url, clock):
    t = home("itechno", db_url)
    submit(
        t.ctx,
        idempotency_key="k1",
        to_addr="ann@example.com",
        subject="Your order",
        body_text="Thanks",
        kind="transactional",
    )
    w = Worker(t.ctx)
    report = w.run_once()
    assert set(report.ran) >= {"deliver_mail", "retention", "audit_checkpoint"}, report
    assert not report.failed, report.failed
    assert len(list(t.ctx.settings.resolved_mail_dir.glob("*.eml"))) == 1
    # Nothing is due again until its interval has passed.
    assert w.run_once().ran == {}
    clock.advance(seconds=31)
    assert set(w.run_once().ran) == {"deliver_mail"}
    with t.ctx.engine.connect() as conn:
        runs = dict(conn.execute(sa.select(worker_jobs.c.name, worker_jobs.c.runs)).all())
    assert runs["deliver_mail"] == 2 and runs["retention"] == 1


def test_two_workers_never_run_the_same_job(home, db_url, clock):
    t = home("itechno", db_url)
    calls: list[str] = []
    tasks = (
        Task("a", timedelta(hours=1), lambda ctx: calls.append("a")),
        Task("b", timedelta(hours=1), lambda ctx: calls.append("b")),
    )
    w1, w2 = Worker(t.ctx, tasks), Worker(t.ctx, tasks)
    first, second = w1.claim(), w2.claim()
    assert {first, second} == {"a", "b"}
    assert w2.claim() is None  # both leased
    # A worker that died keeps its lease only until it ends.
    clock.advance(LEASE + timedelta(seconds=1))
    assert w2.claim() in {"a", "b"}


def test_a_failing_task_is_reported_and_retried_without_stopping_others(home, clock):
    t = home("itechno")

    def boom(ctx: object) -> None:
        raise RuntimeError("smtp down")

    tasks = (
        Task("boom", timedelta(days=1), boom),
        Task("fine", timedelta(days=1), lambda ctx: "ok"),
    )
    w = Worker(t.ctx, tasks)
    report = w.run_once()
    assert report.ran == {"fine": "ok"}
    assert "smtp down" in report.failed["boom"]
    clock.advance(minutes=5, seconds=1)
    assert set(w.run_once().failed) == {"boom"}  # retried within minutes, not a day


def test_a_running_job_renews_its_lease_and_a_lost_lease_is_not_settled(home, db_url, clock):
    t = home("itechno", db_url)
    tasks = (Task("a", timedelta(hours=1), lambda ctx: "ok"),)
    w1, w2 = Worker(t.ctx, tasks), Worker(t.ctx, tasks)
    assert w1.claim() == "a"
    lease = timedelta(seconds=t.ctx.settings.worker_lease_seconds)
    # While it runs, w1 renews: the job stays its own past the first expiry.
    clock.advance(lease * 0.9)
    assert w1.renew("a")
    clock.advance(lease * 0.9)
    assert w2.claim() is None
    # w1 stops renewing (it died, or stalled): after the lease, w2 takes the job over...
    clock.advance(lease + timedelta(seconds=1))
    assert w2.claim() == "a"
    # ...and the stalled w1 can neither renew nor settle it (its token is no longer there).
    assert not w1.renew("a")
    with t.ctx.engine.connect() as conn:
        row = conn.execute(sa.select(worker_jobs).where(worker_jobs.c.name == "a")).one()
    assert row.locked_by == w2.claims["a"] and row.locked_by.startswith(w2.ident)
    assert w1.claims["a"] != w2.claims["a"]


def test_a_long_job_keeps_its_lease_on_real_time(home, clock, tmp_path):
    """The renewal thread runs on real time: a job longer than its lease keeps it."""
    import os
    import threading

    os.environ["TROTH_WORKER_LEASE_SECONDS"] = "1.5"
    try:
        t = home("itechno")
    finally:
        del os.environ["TROTH_WORKER_LEASE_SECONDS"]
    assert t.ctx.settings.worker_lease_seconds == 1.5
    seen: list[object] = []
    started, release = threading.Event(), threading.Event()

    def slow(ctx: object) -> str:
        started.set()
        release.wait(10)
        return "done"

    tasks = (Task("slow", timedelta(hours=1), slow),)
    w1, w2 = Worker(t.ctx, tasks), Worker(t.ctx, tasks)
    runner = threading.Thread(target=lambda: seen.append(w1.run_once()))
    runner.start()
    assert started.wait(10)
    # The manual clock moves past the lease as each second of real time passes; the
    # renewals (every 0.5 s) keep moving the expiry ahead of it.
    for _ in range(6):
        threading.Event().wait(0.5)
        clock.advance(seconds=0.5)
        assert w2.claim() is None
    release.set()
    runner.join(10)
    assert seen and seen[0].ran == {"slow": "done"}  # type: ignore[attr-defined]
    with t.ctx.engine.connect() as conn:
        row = conn.execute(sa.select(worker_jobs).where(worker_jobs.c.name == "slow")).one()
    assert row.runs == 1 and row.locked_by is None
