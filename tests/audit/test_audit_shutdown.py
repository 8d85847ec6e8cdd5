"""A clean stop signs what is pending (issue 20, item 8): with a long
``audit_head_every_seconds``, SIGTERM or SIGINT to `troth serve` (one worker process or
several) and to the worker leaves no entry without a signed head. Real processes, real
signals."""

from __future__ import annotations

import signal
import subprocess
import sys
from typing import Any

import httpx
import pytest

import troth
from served import ORDER, Served, stop
from troth.audit import read_heads, verify_log
from troth.engine import Troth

SIGNALS = [signal.SIGTERM, signal.SIGINT]


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
@pytest.mark.parametrize("workers", [1, 2])
def test_serve_signs_pending_heads_when_stopped(
    home: Any, serve_troth: Served, workers: int, sig: int
) -> None:
    ctx = home("itechno", clock=None, context=True)
    t = Troth(ctx)
    sid = t.collect("order_form", ORDER).subject_id
    key, _ = t.access.keys.create_api_key("app", ["use"])
    t.close()
    proc, port = serve_troth(
        ctx.home,
        "--log-level",
        "warning",
        "--workers",
        str(workers),
        env={"TROTH_AUDIT_HEAD_EVERY_SECONDS": "3600"},
    )
    try:
        auth = {"Authorization": f"Bearer {key}"}
        for _ in range(12):
            r = httpx.get(
                f"http://127.0.0.1:{port}/api/v1/subjects/{sid}?purpose=billing", headers=auth
            )
            assert r.status_code == 200, r.text
        with troth.open(ctx.home) as during:
            pending = verify_log(during.ctx)
        # Each process signs its first commit at once and keeps the rest for an hour.
        assert pending.ok and pending.unsigned > 0, "the test must leave heads pending"
    finally:
        stop(proc, sig, timeout=60)
    with troth.open(ctx.home) as after:
        report = verify_log(after.ctx)
    assert report.ok and report.unsigned == 0, (report.problem, report.unsigned)


WORKER = """
import sys, troth
from troth.worker import Worker
t = troth.open(sys.argv[1], audit_head_every_seconds=3600)
worker = Worker(t.ctx)
worker.run_once()  # its checkpoint now, so the entries below stay pending
for i in range(3):
    t.collect("order_form", {**%r, "email": f"p{i}@example.com"})
print("ready", flush=True)
worker.run_until_signalled()
"""


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_worker_signs_pending_heads_when_stopped(home: Any, sig: int) -> None:
    ctx = home("itechno", clock=None, context=True)
    ctx.engine.dispose()
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKER % ORDER, str(ctx.home)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"ready", proc.stderr.read() if proc.stderr else ""
        with troth.open(ctx.home) as during:
            assert verify_log(during.ctx).unsigned > 0, "the test must leave heads pending"
    finally:
        stop(proc, sig, timeout=60)
    with troth.open(ctx.home) as after:
        report = verify_log(after.ctx)
        sizes = [h.size for _, h, _ in read_heads(after.ctx) if h]
    assert report.ok and report.unsigned == 0, report.problem
    assert max(sizes) == report.size
