"""Group commit: concurrent audited reads share one transaction and one signed head, each
caller returns only once its own entry is committed, and one bad entry in a shared batch
fails only its own caller."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest
import sqlalchemy as sa

from audit_helpers import build_context
from troth.audit import AuditEntry, verify_log
from troth.audit.group import append_committed, close_group, group_commit
from troth.audit.heads import read_heads
from troth.audit.tables import audit_entries
from troth.context import Context
from troth.errors import ValidationError

QUEUED = 12


@pytest.fixture(params=["sqlite", "postgresql"])
def ctx(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Context]:
    url = (
        str(request.getfixturevalue("pg_url"))
        if request.param == "postgresql"
        else f"sqlite:///{tmp_path}/troth.db"
    )
    c = build_context(tmp_path, url, audit_head_every_seconds=0)
    yield c
    c.engine.dispose()


def _entry(n: int, actor: str = "app:reader") -> AuditEntry:
    return AuditEntry(action="use", actor=actor, subject_id=f"s{n}", purpose="billing")


def _hold_write_lock(ctx: Context) -> Callable[[], None]:
    """Take the audit log's write lock from another connection; returns its release."""
    if ctx.engine.dialect.name == "sqlite":
        raw = sqlite3.connect(
            str(ctx.engine.url.database), isolation_level=None, check_same_thread=False
        )
        raw.execute("BEGIN IMMEDIATE")

        def release_sqlite() -> None:
            raw.execute("ROLLBACK")
            raw.close()

        return release_sqlite
    conn = ctx.engine.connect()
    conn.begin()
    conn.execute(sa.text("SELECT size FROM audit_state WHERE id = 1 FOR UPDATE"))

    def release_pg() -> None:
        conn.rollback()
        conn.close()

    return release_pg


def _until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.005)


def _run_queued(ctx: Context, entries: list[AuditEntry]) -> list[Any]:
    """A leader blocked on the write lock, then ``entries`` queued behind it; the lock is
    released once all are queued. Returns each caller's seq or exception (leader first)."""
    group = group_commit(ctx)
    results: list[Any] = [None] * (len(entries) + 1)

    def call(i: int, entry: AuditEntry) -> None:
        try:
            results[i] = append_committed(ctx, ctx.clock.now(), entry)
        except BaseException as exc:  # examined by the test
            results[i] = exc

    release = _hold_write_lock(ctx)
    try:
        leader = threading.Thread(target=call, args=(0, _entry(0)))
        leader.start()
        _until(lambda: group.leading and group.waiting == 0, "the leader took its batch")
        others = [threading.Thread(target=call, args=(i + 1, e)) for i, e in enumerate(entries)]
        for t in others:
            t.start()
        _until(lambda: group.waiting == len(entries), "every caller is queued")
        time.sleep(0.02)
        assert all(r is None for r in results), "nobody returns before the commit"
    finally:
        release()
    for t in [leader, *others]:
        t.join(timeout=30)
    assert not group.leading and group.waiting == 0
    return results


def test_queued_uses_commit_together_under_one_head(ctx: Context) -> None:
    append_committed(ctx, ctx.clock.now(), _entry(-1))  # a lone caller: a batch of one
    results = _run_queued(ctx, [_entry(n) for n in range(1, QUEUED + 1)])
    assert sorted(results) == list(range(1, QUEUED + 2))
    # Three transactions in all, so three heads: the first use, the leader's, and one
    # for the twelve that queued behind it.
    sizes = [h.size for _, h, _ in read_heads(ctx) if h is not None]
    assert sizes == [1, 2, QUEUED + 2]
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            sa.select(audit_entries.c.seq, audit_entries.c.subject_id).order_by("seq")
        ).all()
    by_seq = {seq: sid for seq, sid in rows}
    assert [by_seq[s] for s in results] == [f"s{n}" for n in range(QUEUED + 1)]
    report = verify_log(ctx)
    assert report.ok and report.size == QUEUED + 2, report.problem


def test_a_bad_entry_in_a_shared_batch_fails_only_its_caller(ctx: Context) -> None:
    append_committed(ctx, ctx.clock.now(), _entry(-1))
    entries = [_entry(n) for n in range(1, QUEUED + 1)]
    # Passes the up-front checks but cannot be encoded: the shared transaction fails.
    entries[5] = _entry(6, actor="app:\ud800")
    results = _run_queued(ctx, entries)
    bad = results[6]
    assert isinstance(bad, ValidationError) and "not valid text" in bad.message
    good = [r for i, r in enumerate(results) if i != 6]
    assert all(isinstance(r, int) for r in good)
    assert sorted(good) == list(range(1, QUEUED + 1))
    with ctx.engine.connect() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(audit_entries)).scalar()
    assert count == QUEUED + 1  # nothing of the bad entry, nothing of the others lost
    report = verify_log(ctx)
    assert report.ok and report.size == QUEUED + 1, report.problem


def test_an_entry_that_fails_the_checks_never_joins_a_batch(ctx: Context) -> None:
    naive = ctx.clock.now().replace(tzinfo=None)
    with pytest.raises(ValidationError, match="timezone-aware"):
        append_committed(ctx, naive, _entry(1))
    with pytest.raises(ValidationError, match="longer than 100"):
        append_committed(ctx, ctx.clock.now(), AuditEntry(action="x" * 101, actor="app:a"))
    group = group_commit(ctx)
    assert not group.leading and group.waiting == 0
    assert append_committed(ctx, ctx.clock.now(), _entry(2)) == 0


def test_many_threads_reading_concurrently_get_every_entry_committed(ctx: Context) -> None:
    threads, each = 8, 40
    seqs: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def worker(n: int) -> None:
        try:
            start.wait()
            for i in range(each):
                seqs.append(append_committed(ctx, ctx.clock.now(), _entry(n * 1000 + i)))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    workers = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    assert errors == []
    assert sorted(seqs) == list(range(threads * each))
    sizes = [h.size for _, h, _ in read_heads(ctx) if h is not None]
    assert sizes == sorted(set(sizes)) and sizes[-1] == threads * each
    report = verify_log(ctx)
    assert report.ok and report.size == threads * each, report.problem


# -- coroutines (the HTTP read) ---------------------------------------------------------
T = TypeVar("T")


def _run(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """``asyncio.run(main())`` in a thread of its own, as a server's loop would be (and
    since another test in this process may have left a loop running in this thread)."""
    out: list[tuple[bool, Any]] = []

    def target() -> None:
        try:
            out.append((True, asyncio.run(main())))
        except BaseException as exc:  # re-raised in the test's thread
            out.append((False, exc))

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(timeout=60)
    assert out, "the event loop did not finish within 60 s"
    ok, value = out[0]
    if not ok:
        raise value
    return cast(T, value)


def _sizes(ctx: Context) -> list[int]:
    return [h.size for _, h, _ in read_heads(ctx) if h is not None]


def test_coroutines_of_one_loop_turn_commit_together(ctx: Context) -> None:
    append_committed(ctx, ctx.clock.now(), _entry(-1))

    async def main() -> list[int]:
        group = group_commit(ctx)
        return await asyncio.gather(
            *(group.append_async(ctx.clock.now(), _entry(n)) for n in range(QUEUED))
        )

    seqs = _run(main)
    assert sorted(seqs) == list(range(1, QUEUED + 1))
    assert _sizes(ctx) == [1, QUEUED + 1]  # one transaction, one head, for all of them
    report = verify_log(ctx)
    assert report.ok and report.size == QUEUED + 1, report.problem


def test_a_coroutine_never_blocks_its_loop_on_another_writer(ctx: Context) -> None:
    append_committed(ctx, ctx.clock.now(), _entry(-1))
    release = _hold_write_lock(ctx)

    async def main() -> tuple[list[int], int]:
        group = group_commit(ctx)
        ticks = 0
        appends = asyncio.ensure_future(
            asyncio.gather(*(group.append_async(ctx.clock.now(), _entry(n)) for n in range(5)))
        )
        for _ in range(20):  # the loop keeps running while the lock is held elsewhere
            await asyncio.sleep(0.005)
            ticks += 1
            assert not appends.done(), "nothing returns before its entry is committed"
        await asyncio.get_running_loop().run_in_executor(None, release)
        return await asyncio.wait_for(appends, 30), ticks

    try:
        seqs, ticks = _run(main)
    except BaseException:
        release()
        raise
    assert ticks == 20
    assert sorted(seqs) == list(range(1, 6))
    report = verify_log(ctx)
    assert report.ok and report.size == 6, report.problem


def test_a_cancelled_request_still_has_its_use_logged(ctx: Context) -> None:
    append_committed(ctx, ctx.clock.now(), _entry(0))  # the state row exists to be locked
    release = _hold_write_lock(ctx)

    async def main() -> None:
        task = asyncio.ensure_future(group_commit(ctx).append_async(ctx.clock.now(), _entry(1)))
        await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    try:
        _run(main)
    finally:
        release()
    _until(lambda: not group_commit(ctx).leading, "the writer thread committed")
    with ctx.engine.connect() as conn:
        subjects = conn.execute(sa.select(audit_entries.c.subject_id)).scalars().all()
    assert sorted(subjects) == ["s0", "s1"]


def test_a_coroutines_bad_entry_fails_alone(ctx: Context) -> None:
    async def main() -> list[Any]:
        group = group_commit(ctx)
        entries = [_entry(n) for n in range(6)]
        entries[2] = _entry(2, actor="app:\ud800")
        return await asyncio.gather(
            *(group.append_async(ctx.clock.now(), e) for e in entries), return_exceptions=True
        )

    results = _run(main)
    assert isinstance(results[2], ValidationError)
    assert sorted(r for i, r in enumerate(results) if i != 2) == list(range(5))
    report = verify_log(ctx)
    assert report.ok and report.size == 5, report.problem


def test_close_stops_the_writer_thread_and_refuses_new_coroutine_entries(
    ctx: Context,
) -> None:
    append_committed(ctx, ctx.clock.now(), _entry(0))
    release = _hold_write_lock(ctx)

    async def main() -> int:
        return await group_commit(ctx).append_async(ctx.clock.now(), _entry(1))

    writers_before = {t for t in threading.enumerate() if t.name == "troth-audit-writer"}
    runner = threading.Thread(target=lambda: results.append(_run(main)))
    results: list[int] = []
    runner.start()
    _until(lambda: group_commit(ctx).leading, "the entry is with the writer thread")
    threading.Timer(0.05, release).start()
    close_group(ctx)  # waits for the writer to commit what it leads
    runner.join(timeout=30)
    assert results == [1]
    writers = {t for t in threading.enumerate() if t.name == "troth-audit-writer"}
    assert writers <= writers_before, "this context's writer thread has stopped"
    with pytest.raises(RuntimeError, match="closed"):
        _run(main)


@pytest.mark.parametrize("ctx", ["sqlite"], indirect=True)  # the loop commits on SQLite only
def test_an_entry_caught_by_close_fails_instead_of_waiting_forever(ctx: Context) -> None:
    append_committed(ctx, ctx.clock.now(), _entry(0))
    release = _hold_write_lock(ctx)

    async def main() -> None:
        task = asyncio.ensure_future(group_commit(ctx).append_async(ctx.clock.now(), _entry(1)))
        await asyncio.sleep(0)  # queued for this turn's commit, which finds the lock taken
        close_group(ctx)
        with pytest.raises(RuntimeError, match="closed"):
            await asyncio.wait_for(task, 10)

    try:
        _run(main)
    finally:
        release()
    with ctx.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(audit_entries)).scalar() == 1
