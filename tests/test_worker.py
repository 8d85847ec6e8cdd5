"""The worker: due jobs run once per pass, leases keep two workers apart, a failing task
does not stop the others."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from troth.notices.outbox import submit
from troth.worker import LEASE, Task, Worker, worker_jobs


def test_worker_runs_due_jobs_and_schedules_the_next(make_troth, db_url, clock):
    t = make_troth("itechno", db_url)
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


def test_two_workers_never_run_the_same_job(make_troth, db_url, clock):
    t = make_troth("itechno", db_url)
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


def test_a_failing_task_is_reported_and_retried_without_stopping_others(make_troth, clock):
    t = make_troth("itechno")

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
