"""Deferred sequencing (PostgreSQL, ``audit_head_every_seconds`` > 0): an audited call
returns once its entries are committed pending; the process's thread sequences them into
the tree after. Every entry still lands exactly once, heads cover them within the
interval and at close or exit, a kill loses nothing, a database hiccup is retried, and a
pending entry deleted or forged meanwhile makes the process fail closed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from audit_helpers import count_rows, entry_of, hold_state, tree_size
from repo_paths import ROOT
from served import until
from troth.audit import append_entries, sign_head, transaction, verify_log
from troth.audit.alarms import read_alarms
from troth.audit.deferred import deferred_of, drain_deferred
from troth.audit.heads import close_heads, read_heads
from troth.audit.tables import audit_entries, audit_pending
from troth.db import make_engine
from troth.errors import IntegrityError


@pytest.fixture
def t(pg_url: str, home: Any) -> Any:
    return home("itechno", pg_url)


def _deferring(ctx: Any, engine: Any = None) -> Any:
    """The same home with heads every hour (so sequencing is deferred)."""
    settings = ctx.settings.model_copy(update={"audit_head_every_seconds": 3600.0})
    return type(ctx)(
        settings=settings,
        engine=engine or make_engine(ctx.settings.resolved_database_url),
        policy=ctx.policy,
        keys=ctx.keys,
        clock=ctx.clock,
    )


def _close(*contexts: Any) -> None:
    for c in contexts:
        close_heads(c)
        c.engine.dispose()


def test_a_call_returns_while_the_tree_is_held_and_its_entry_lands_once(t: Any) -> None:
    d = _deferring(t.ctx)
    try:
        size = tree_size(d)
        release = hold_state(d)
        try:
            # The row is held the whole time: a waiting append could not return.
            with transaction(d) as conn:
                seqs = append_entries(conn, d.clock.now(), [entry_of("app:d", 1)])
            assert seqs == [] and count_rows(d, audit_pending) == 1
        finally:
            release()
        assert drain_deferred(d, timeout=30)
        assert seqs == [size]  # the list the call got is filled once sequenced
        assert count_rows(d, audit_pending) == 0
        with d.engine.connect() as conn:
            rows = conn.execute(
                sa.select(audit_entries.c.seq).where(audit_entries.c.actor == "app:d")
            ).all()
        assert [r.seq for r in rows] == [size]
    finally:
        _close(d)
    report = verify_log(t.ctx)
    assert report.ok, report.problem
    assert report.pending == 0 and report.unsigned == 0  # close signed the last head


def test_many_threads_over_two_processes_land_every_entry_exactly_once(t: Any) -> None:
    a, b = _deferring(t.ctx), _deferring(t.ctx)
    before = tree_size(a)
    threads, each = 8, 25
    errors: list[BaseException] = []

    def work(k: int) -> None:
        c = a if k % 2 else b
        try:
            for i in range(each):
                with transaction(c) as conn:
                    append_entries(conn, c.clock.now(), [entry_of(f"app:w{k}", i)])
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert errors == []
    assert drain_deferred(a, timeout=30) and drain_deferred(b, timeout=30)
    _close(a, b)
    with t.ctx.engine.connect() as conn:
        rows = conn.execute(
            sa.select(audit_entries.c.seq, audit_entries.c.actor, audit_entries.c.subject_id)
            .where(audit_entries.c.seq >= before)
            .order_by(audit_entries.c.seq)
        ).all()
    assert [r.seq for r in rows] == list(range(before, before + threads * each))
    got = [(r.actor, r.subject_id) for r in rows]
    assert len(set(got)) == len(got) == threads * each
    report = verify_log(t.ctx)
    assert report.ok and report.pending == 0 and report.unsigned == 0


def test_a_pending_entry_deleted_before_its_round_makes_the_process_fail_closed(
    t: Any,
) -> None:
    d = _deferring(t.ctx)
    try:
        release = hold_state(d)
        try:
            with transaction(d) as conn:
                append_entries(conn, d.clock.now(), [entry_of("app:gone", 1)])
            with d.engine.begin() as conn:  # a database writer, before the round
                conn.execute(sa.delete(audit_pending))
        finally:
            release()
        drain_deferred(d, timeout=30)
        assert deferred_of(d, d.engine).broken is not None
        size = tree_size(d)
        # Every later append of the process refuses, and stores nothing.
        gone = "deleted before it was sequenced"
        with pytest.raises(IntegrityError, match=gone), transaction(d) as conn:
            conn.execute(sa.text("CREATE TABLE op_done (n int)"))
            append_entries(conn, d.clock.now(), [entry_of("app:after", 2)])
        assert tree_size(d) == size and count_rows(d, audit_pending) == 0
        with d.engine.connect() as conn:
            assert not sa.inspect(conn).has_table("op_done")  # the operation rolled back
    finally:
        d.engine.dispose()
    # A restart forgets the refusal (a new process appends again), but not the loss: a
    # signed alarm in the heads file, outside the database, fails every verify from now.
    restarted = _deferring(t.ctx)
    try:
        with transaction(restarted) as conn:
            append_entries(conn, restarted.clock.now(), [entry_of("app:restarted", 3)])
        assert drain_deferred(restarted, timeout=30)
    finally:
        _close(restarted)
    report = verify_log(t.ctx)
    assert not report.ok and gone in (report.problem or "")
    assert "troth found the log tampered with" in (report.problem or "")
    [(lineno, alarm)] = read_alarms(t.ctx)
    assert alarm.verify(t.ctx.keys.public_key) and gone in alarm.problem
    assert all(n != lineno for n, _h, _p in read_heads(t.ctx))  # not a head to the readers
    # An alarm line edited (to hide what was lost) no longer verifies, and says so.
    path = t.ctx.settings.resolved_heads_file
    lines = path.read_text().splitlines(keepends=True)
    lines[lineno - 1] = lines[lineno - 1].replace("deleted", "kept")
    path.write_text("".join(lines))
    report = verify_log(t.ctx)
    assert not report.ok and "alarm line whose signature does not verify" in report.problem


def test_a_forged_pending_row_makes_the_deferring_process_fail_closed(t: Any) -> None:
    d = _deferring(t.ctx)
    try:
        forged = {
            "id": 777,
            "at": d.clock.now(),
            "actor": "staff:mallory",
            "action": "use",
            "outcome": "allow",
            "categories": "[]",
            "details": "{}",
            "mac": "00" * 32,
        }
        with d.engine.begin() as conn:
            conn.execute(sa.insert(audit_pending).values(forged))
        release = hold_state(d)
        try:
            with transaction(d) as conn:
                append_entries(conn, d.clock.now(), [entry_of("app:mine", 1)])
        finally:
            release()
        drain_deferred(d, timeout=30)
        with pytest.raises(IntegrityError, match="777"), transaction(d) as conn:
            append_entries(conn, d.clock.now(), [entry_of("app:after", 2)])
    finally:
        d.engine.dispose()
    report = verify_log(t.ctx)
    assert not report.ok and "777" in (report.problem or "")


def test_a_round_that_fails_for_a_moment_is_retried_and_nothing_is_lost(t: Any) -> None:
    d = _deferring(t.ctx)
    try:
        with transaction(d) as conn:  # the process has seen the tree
            append_entries(conn, d.clock.now(), [entry_of("app:first", 0)])
        assert drain_deferred(d, timeout=30)
        size = tree_size(d)
        with d.engine.begin() as conn:  # the tree's state is unreachable for a while
            conn.execute(sa.text("ALTER TABLE audit_state RENAME TO audit_state_away"))
        with transaction(d) as conn:
            append_entries(conn, d.clock.now(), [entry_of("app:later", 1)])
        assert not drain_deferred(d, timeout=0.5)  # its rounds fail and are retried
        assert deferred_of(d, d.engine).broken is None and count_rows(d, audit_pending) == 1
        with d.engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE audit_state_away RENAME TO audit_state"))
        assert drain_deferred(d, timeout=30)
        assert tree_size(d) == size + 1 and count_rows(d, audit_pending) == 0
    finally:
        _close(d)
    assert verify_log(t.ctx).ok


_ACK_THEN = """
import os, signal, sys
from datetime import UTC, datetime
from troth.audit import AuditEntry, append_entries, transaction
from troth.home import open_context
ctx = open_context(sys.argv[1], audit_head_every_seconds=3600)
for i in range(5):
    with transaction(ctx) as conn:
        append_entries(conn, datetime.now(UTC), [AuditEntry(action="use", actor="app:p",
            subject_id=f"s{i}")])
print("acknowledged", flush=True)
if sys.argv[2] == "kill":
    os.kill(os.getpid(), signal.SIGKILL)
"""


def _run(home: Path, how: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run(
        [sys.executable, "-c", _ACK_THEN, str(home), how],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_process_killed_after_acknowledging_loses_nothing(t: Any) -> None:
    ctx = t.ctx
    size = tree_size(ctx)
    release = hold_state(ctx)  # its rounds cannot run before the kill
    try:
        done = _run(ctx.settings.home, "kill")
    finally:
        release()
    assert done.returncode == -signal.SIGKILL and "acknowledged" in done.stdout
    report = verify_log(ctx)
    assert report.ok and report.pending == 5 and report.size == size
    head = sign_head(ctx)  # `troth audit head`, the worker's checkpoint, any round
    assert head.size == size + 5 and count_rows(ctx, audit_pending) == 0
    assert verify_log(ctx).ok


def test_a_process_that_exits_sequences_and_signs_what_it_deferred(t: Any) -> None:
    ctx = t.ctx
    size = tree_size(ctx)
    done = _run(ctx.settings.home, "exit")
    assert done.returncode == 0, done.stderr
    assert "acknowledged" in done.stdout and "still pending" not in done.stderr
    report = verify_log(ctx)
    assert report.ok and report.pending == 0 and report.size == size + 5
    assert report.unsigned == 0  # the exit signed a head over them


def test_without_an_interval_a_call_still_waits_for_its_seq(t: Any) -> None:
    ctx = t.ctx  # audit_head_every_seconds = 0: unchanged
    release = hold_state(ctx)
    out: list[Any] = []

    def run() -> None:
        try:
            with transaction(ctx) as conn:
                out.append(append_entries(conn, ctx.clock.now(), [entry_of("app:w", 1)]))
        except BaseException as exc:  # examined below
            out.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        until(lambda: count_rows(ctx, audit_pending) == 1, "it is committed pending")
        thread.join(timeout=0.3)
        assert thread.is_alive(), out  # it waits for the round
    finally:
        release()
    thread.join(timeout=30)
    assert len(out) == 1 and len(out[0]) == 1 and count_rows(ctx, audit_pending) == 0


def test_a_read_through_the_group_commit_returns_before_its_seq_is_known(t: Any) -> None:
    """The path of every audited read (``append_committed``, shared commits): with an
    interval it answers -1 for the seq while the tree's row is held, and the entry then
    lands exactly once."""
    from troth.audit.group import append_committed, close_group

    d = _deferring(t.ctx)
    try:
        with transaction(d) as conn:  # the process has seen the tree
            append_entries(conn, d.clock.now(), [entry_of("app:first", 0)])
        assert drain_deferred(d, timeout=30)
        size = tree_size(d)
        release = hold_state(d)
        try:
            assert append_committed(d, d.clock.now(), entry_of("app:read", 1)) == -1
            assert count_rows(d, audit_pending) == 1
        finally:
            release()
        assert drain_deferred(d, timeout=30)
        with d.engine.connect() as conn:
            rows = conn.execute(
                sa.select(audit_entries.c.seq).where(audit_entries.c.actor == "app:read")
            ).all()
        assert [r.seq for r in rows] == [size]
    finally:
        close_group(d)
        _close(d)
    assert verify_log(t.ctx).ok
