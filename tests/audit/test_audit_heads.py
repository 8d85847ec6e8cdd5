"""The head signer: every commit (the default), or at most once per interval with a timer
that signs the newest head, a flush at close and at exit; the heads file stays open and is
opened again when it is moved away."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import troth
from audit_helpers import build_context, entry
from troth.audit import close_heads, read_heads, sign_head, transaction, verify_log
from troth.audit.deferred import drain_deferred
from troth.audit.log import append_entries
from troth.context import Context


def _append(ctx: Context, n: int = 1) -> None:
    with transaction(ctx) as conn:
        append_entries(conn, ctx.clock.now(), [entry(i) for i in range(n)])


def _sizes(ctx: Context) -> list[int]:
    return [h.size for _, h, _ in read_heads(ctx) if h is not None]


def _interval(ctx: Context, seconds: float) -> None:
    ctx.settings = ctx.settings.model_copy(update={"audit_head_every_seconds": seconds})


def test_default_signs_after_every_commit(tmp_path: Path, db_url: str) -> None:
    ctx = build_context(tmp_path, db_url)
    assert ctx.settings.audit_head_every_seconds == 0
    for _ in range(3):
        _append(ctx, 2)
    assert _sizes(ctx) == [2, 4, 6]
    assert verify_log(ctx).unsigned == 0
    ctx.engine.dispose()


def test_interval_signs_the_newest_head_when_the_timer_fires(tmp_path: Path, db_url: str) -> None:
    ctx = build_context(tmp_path, db_url)
    _interval(ctx, 0.5)
    _append(ctx)  # the first commit of a process is signed at once
    assert _sizes(ctx) == [1]
    _append(ctx)
    _append(ctx, 3)
    assert _sizes(ctx) == [1], "within the interval: kept pending"
    # On PostgreSQL an entry that went pending is sequenced by the process's thread just
    # after its call returned (troth.audit.deferred): wait for that, not for the head.
    assert drain_deferred(ctx, timeout=10)
    report = verify_log(ctx)
    assert report.ok and report.unsigned == 4
    deadline = time.monotonic() + 10
    while _sizes(ctx) == [1] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _sizes(ctx) == [1, 5], "the timer signs only the newest head"
    assert verify_log(ctx).unsigned == 0
    close_heads(ctx)
    assert _sizes(ctx) == [1, 5], "nothing pending: close writes nothing"
    ctx.engine.dispose()


def test_close_signs_what_is_pending(tmp_path: Path, db_url: str) -> None:
    ctx = build_context(tmp_path, db_url)
    _interval(ctx, 3600)
    _append(ctx)
    _append(ctx, 2)
    assert _sizes(ctx) == [1]
    close_heads(ctx)
    assert _sizes(ctx) == [1, 3]
    assert verify_log(ctx).unsigned == 0
    # The context still works after close: the file is opened again when needed.
    _interval(ctx, 0)
    _append(ctx)
    assert _sizes(ctx) == [1, 3, 4]
    ctx.engine.dispose()


def test_sign_head_supersedes_a_pending_head(tmp_path: Path, db_url: str) -> None:
    ctx = build_context(tmp_path, db_url)
    _interval(ctx, 3600)
    _append(ctx)
    _append(ctx)
    head = sign_head(ctx)
    assert head.size == 2 and _sizes(ctx) == [1, 2]
    close_heads(ctx)
    assert _sizes(ctx) == [1, 2], "the pending head was covered by the checkpoint"
    ctx.engine.dispose()


def test_a_heads_file_moved_away_is_opened_again(tmp_path: Path, db_url: str) -> None:
    ctx = build_context(tmp_path, db_url)
    _append(ctx)
    path = ctx.settings.resolved_heads_file
    moved = path.with_name("heads-old.jsonl")
    os.replace(path, moved)
    _append(ctx)
    assert len(moved.read_text().splitlines()) == 1
    assert _sizes(ctx) == [2], "the new file at the path gets the next head"
    path.unlink()
    _append(ctx)
    assert _sizes(ctx) == [3]
    ctx.engine.dispose()


def test_a_process_that_exits_signs_its_pending_head(tmp_path: Path) -> None:
    """No close() and a long interval: the exit handler still signs the last commit."""
    home = tmp_path / "home"
    script = f"""
import troth
from troth.audit import AuditEntry, append_entries, transaction
from troth.home import init_home
init_home({str(home)!r}, example="itechno").engine.dispose()
t = troth.open({str(home)!r}, audit_head_every_seconds=3600)
for i in range(3):
    with transaction(t.ctx) as conn:
        append_entries(conn, t.ctx.clock.now(), [AuditEntry(action="use", actor="app:x")])
"""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    with troth.open(home) as t:
        report = verify_log(t.ctx)
    assert report.ok and report.unsigned == 0
    assert report.latest_head is not None and report.size == report.latest_head.size


@pytest.mark.parametrize("seconds", [-1.0])
def test_a_negative_interval_is_refused(tmp_path: Path, seconds: float) -> None:
    from pydantic import ValidationError

    from troth.settings import Settings

    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        Settings(home=tmp_path, audit_head_every_seconds=seconds)
