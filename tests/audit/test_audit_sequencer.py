"""Pending audit entries on PostgreSQL: committed with their operation while another
transaction holds the tree's state row, MAC'd with the key, sequenced into the tree in
batches after the commit. Every entry lands exactly once; a crash between the commit and
the sequencing loses nothing; a forged, edited, re-numbered or deleted pending entry is
caught."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from audit_helpers import count_rows, entry_of, hold_state, tree_size
from repo_paths import ROOT
from served import until
from troth.audit import (
    AuditEntry,
    append_entries,
    append_entry,
    sign_head,
    transaction,
    verify_log,
)
from troth.audit.heads import read_heads
from troth.audit.log import NotSequenced, read_state
from troth.audit.tables import audit_entries, audit_pending
from troth.db import make_engine
from troth.errors import IntegrityError


@pytest.fixture
def t(pg_url: str, home: Any) -> Any:
    return home("itechno", pg_url)


def _append_in_thread(ctx: Any, entry: AuditEntry) -> tuple[threading.Thread, list[Any]]:
    """Append ``entry`` on a thread; its result (seqs or the exception) lands in the list."""
    out: list[Any] = []

    def run() -> None:
        try:
            with transaction(ctx) as conn:
                seqs = append_entries(conn, ctx.clock.now(), [entry])
            out.append(seqs)
        except BaseException as exc:  # examined by the test
            out.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


def test_many_threads_over_two_engines_land_every_entry_exactly_once(t: Any) -> None:
    ctx = t.ctx
    # A second engine on the same database stands for a second process.
    other = make_engine(ctx.settings.resolved_database_url)
    ctx2 = type(ctx)(
        settings=ctx.settings, engine=other, policy=ctx.policy, keys=ctx.keys, clock=ctx.clock
    )
    before = tree_size(ctx)
    threads, each = 12, 15
    returned: dict[tuple[str, int], int] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(threads + 1)

    def worker(k: int) -> None:
        c = ctx if k % 2 else ctx2
        try:
            start.wait()
            for i in range(each):
                with transaction(c) as conn:
                    seqs = append_entries(conn, c.clock.now(), [entry_of(f"app:w{k}", i)])
                # Known by the time the transaction returns, inline or sequenced later.
                (returned[(f"app:w{k}", i)],) = seqs
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    workers = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    # Every first append finds the state row held: they all commit pending, then wait.
    release = hold_state(ctx)
    start.wait()
    until(lambda: count_rows(ctx, audit_pending) >= threads, "every thread committed pending")
    release()
    for w in workers:
        w.join(timeout=120)
    assert errors == []
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            sa.select(audit_entries.c.seq, audit_entries.c.actor, audit_entries.c.details)
            .where(audit_entries.c.seq >= before)
            .order_by(audit_entries.c.seq)
        ).all()
        via_pending = conn.execute(
            sa.select(sa.func.count()).where(audit_entries.c.pending_id.is_not(None))
        ).scalar_one()
    seqs = [r.seq for r in rows]
    assert seqs == list(range(before, before + threads * each))  # gap-free
    found = [(r.actor, int(r.details.split(":")[1].rstrip("}"))) for r in rows]
    assert sorted(found) == sorted(returned) and len(set(found)) == len(found)  # once each
    assert {returned[k]: k for k in returned} == dict(zip(seqs, found, strict=True))
    assert via_pending >= threads  # the held row sent at least the first round pending
    assert count_rows(ctx, audit_pending) == 0
    report = verify_log(ctx)
    assert report.ok, report.problem
    assert report.size == before + threads * each and report.pending == 0
    assert report.unsigned == 0  # every round signed its head before returning
    other.dispose()


_APPENDER = """
import sys, threading
from datetime import UTC, datetime
from troth.audit import AuditEntry, append_entries, transaction
from troth.home import open_context
ctx = open_context(sys.argv[1])
name, threads, each = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
errors = []
def run(k):
    try:
        for i in range(each):
            with transaction(ctx) as conn:
                append_entries(conn, datetime.now(UTC), [AuditEntry(
                    action="use", actor=f"app:{name}-{k}", details={"n": i})])
    except BaseException as exc:
        errors.append(repr(exc))
workers = [threading.Thread(target=run, args=(k,)) for k in range(threads)]
for w in workers: w.start()
for w in workers: w.join()
print("errors", errors, flush=True)
"""


def test_processes_appending_at_once_land_every_entry_exactly_once(t: Any) -> None:
    ctx = t.ctx
    before = tree_size(ctx)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _APPENDER, str(ctx.settings.home), f"p{n}", "6", "15"],
            stdout=subprocess.PIPE,
            env=env,
        )
        for n in range(3)
    ]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert outs == [b"errors []\n"] * 3
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            sa.select(audit_entries.c.seq, audit_entries.c.actor, audit_entries.c.details)
            .where(audit_entries.c.seq >= before)
            .order_by(audit_entries.c.seq)
        ).all()
    assert [r.seq for r in rows] == list(range(before, before + 3 * 6 * 15))
    assert len({(r.actor, r.details) for r in rows}) == len(rows)
    assert {r.actor for r in rows} == {f"app:p{n}-{k}" for n in range(3) for k in range(6)}
    assert count_rows(ctx, audit_pending) == 0
    report = verify_log(ctx)
    assert report.ok, report.problem
    assert report.size == before + 270 and report.pending == 0


_CRASHER = """
import sys
from datetime import UTC, datetime
from troth.audit import AuditEntry, append_entries, transaction
from troth.home import open_context
ctx = open_context(sys.argv[1])
with transaction(ctx) as conn:
    append_entries(conn, datetime.now(UTC), [AuditEntry(action="crash", actor="app:crash")])
print("sequenced", flush=True)
"""


def test_a_crash_between_commit_and_sequencing_loses_nothing(t: Any, tmp_path: Path) -> None:
    ctx = t.ctx
    release = hold_state(ctx)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen(
        [sys.executable, "-c", _CRASHER, str(ctx.settings.home)],
        stdout=subprocess.PIPE,
        env=env,
    )
    try:
        # Its transaction committed the entry pending; it now waits for the state row.
        until(lambda: count_rows(ctx, audit_pending) == 1, "the entry is committed pending")
        proc.kill()  # killed before it could sequence it
        proc.wait(timeout=30)
    finally:
        release()
    assert proc.stdout is not None and proc.stdout.read() == b""
    size_before = tree_size(ctx)
    report = verify_log(ctx)
    assert report.ok, report.problem
    assert report.pending == 1 and report.size == size_before
    # The next append that takes the state row sequences it first, then its own entry.
    with transaction(ctx) as conn:
        [seq] = append_entries(conn, ctx.clock.now(), [entry_of("app:next", 1)])
    assert seq == size_before + 1
    with ctx.engine.connect() as conn:
        crashed = conn.execute(
            sa.select(audit_entries.c.seq).where(audit_entries.c.action == "crash")
        ).all()
    assert [r.seq for r in crashed] == [size_before]  # in the tree, exactly once
    assert count_rows(ctx, audit_pending) == 0
    report = verify_log(ctx)
    assert report.ok and report.size == size_before + 2 and report.pending == 0


def test_troth_audit_head_sequences_what_a_crashed_process_left_pending(t: Any) -> None:
    ctx = t.ctx
    release = hold_state(ctx)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen([sys.executable, "-c", _CRASHER, str(ctx.settings.home)], env=env)
    try:
        until(lambda: count_rows(ctx, audit_pending) == 1, "the entry is committed pending")
        proc.kill()
        proc.wait(timeout=30)
    finally:
        release()
    size_before = tree_size(ctx)
    head = sign_head(ctx)  # the worker's checkpoint and `troth audit head`
    assert head.size == size_before + 1 and count_rows(ctx, audit_pending) == 0
    report = verify_log(ctx)
    assert report.ok and report.size == head.size and report.unsigned == 0


def test_a_forged_pending_row_is_caught_and_never_sequenced(t: Any) -> None:
    ctx = t.ctx
    with transaction(ctx) as conn:
        append_entries(conn, ctx.clock.now(), [entry_of("app:real", 0)])
    size = tree_size(ctx)
    heads_before = len(read_heads(ctx))
    forged = {
        "id": 12345,
        "at": ctx.clock.now(),
        "actor": "staff:mallory",
        "action": "use",
        "outcome": "allow",
        "subject_id": "s1",
        "tenant_id": None,
        "purpose": "billing",
        "categories": "[]",
        "reason": None,
        "details": "{}",
        "mac": "00" * 32,
    }
    with ctx.engine.begin() as conn:  # a database writer without the key file
        conn.execute(sa.insert(audit_pending).values(forged))
    report = verify_log(ctx)
    assert not report.ok
    assert "pending audit entry 12345 is not MAC'd" in (report.problem or "")
    # Every process refuses to sequence it: the next append stores nothing ...
    with pytest.raises(IntegrityError, match="12345"), transaction(ctx) as conn:
        append_entries(conn, ctx.clock.now(), [entry_of("app:after", 1)])
    with pytest.raises(IntegrityError, match="12345"):
        sign_head(ctx)
    assert tree_size(ctx) == size
    assert count_rows(ctx, audit_entries) == size
    assert len(read_heads(ctx)) == heads_before  # no head signed over the forgery
    with ctx.engine.begin() as conn:
        conn.execute(sa.delete(audit_pending).where(audit_pending.c.id == 12345))
    assert verify_log(ctx).ok


@pytest.mark.parametrize("how", ["renumbered", "edited", "swapped"])
def test_a_pending_row_changed_before_sequencing_is_caught(t: Any, how: str) -> None:
    ctx = t.ctx
    release = hold_state(ctx)
    try:
        first, out1 = _append_in_thread(ctx, entry_of("app:a", 1))
        second, out2 = _append_in_thread(ctx, entry_of("app:b", 2))
        until(lambda: count_rows(ctx, audit_pending) == 2, "both are committed pending")
        with ctx.engine.begin() as conn:  # a database writer, while they wait
            ids = sorted(conn.execute(sa.select(audit_pending.c.id)).scalars())
            p = audit_pending
            if how == "renumbered":
                conn.execute(sa.update(p).where(p.c.id == ids[0]).values(id=ids[0] + 1))
            elif how == "edited":
                conn.execute(sa.update(p).where(p.c.id == ids[0]).values(purpose="marketing"))
            else:  # the two rows' places (ids) exchanged
                conn.execute(sa.update(p).where(p.c.id == ids[0]).values(id=-1))
                conn.execute(sa.update(p).where(p.c.id == ids[1]).values(id=ids[0]))
                conn.execute(sa.update(p).where(p.c.id == -1).values(id=ids[1]))
        report = verify_log(ctx)
        assert not report.ok and "not MAC'd" in (report.problem or "")
    finally:
        release()
    first.join(timeout=30)
    second.join(timeout=30)
    for out in (out1, out2):
        assert isinstance(out[0], NotSequenced)  # the operation is told, not a seq
        assert "not MAC'd" in out[0].message
    assert count_rows(ctx, audit_entries) == tree_size(ctx)
    assert not verify_log(ctx).ok


def test_a_pending_row_deleted_before_sequencing_fails_its_operation(t: Any) -> None:
    ctx = t.ctx
    release = hold_state(ctx)
    try:
        thread, out = _append_in_thread(ctx, entry_of("app:gone", 1))
        until(lambda: count_rows(ctx, audit_pending) == 1, "it is committed pending")
        with ctx.engine.begin() as conn:
            conn.execute(sa.delete(audit_pending))
    finally:
        release()
    thread.join(timeout=30)
    assert isinstance(out[0], NotSequenced)
    assert "was deleted before it was sequenced" in out[0].message


def test_an_uncontended_append_stays_inline_and_returns_its_seq_at_once(t: Any) -> None:
    ctx = t.ctx
    with transaction(ctx) as conn:
        size = read_state(conn)[0]
        assert append_entries(conn, ctx.clock.now(), [entry_of("app:x", 1)]) == [size]
    assert count_rows(ctx, audit_pending) == 0
    with ctx.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.max(audit_entries.c.pending_id))).scalar() is None


def test_append_entry_waits_for_a_held_row_instead_of_going_pending(t: Any) -> None:
    ctx = t.ctx
    release = hold_state(ctx)
    out: list[int] = []

    def run() -> None:
        with transaction(ctx) as conn:
            out.append(append_entry(conn, ctx.clock.now(), entry_of("app:one", 1)))

    thread = threading.Thread(target=run)
    try:
        thread.start()
        time.sleep(0.3)
        assert out == [] and count_rows(ctx, audit_pending) == 0  # waiting for the row
    finally:
        release()
    thread.join(timeout=30)
    assert out == [tree_size(ctx) - 1]  # its seq, known inside its transaction
    assert count_rows(ctx, audit_pending) == 0
    assert verify_log(ctx).ok
