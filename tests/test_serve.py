"""`troth serve` as a user starts it: a real process on a port, one worker or several
(each worker opens the home itself), answering the API with an API key."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

import troth
from troth.audit import list_entries, verify_log
from troth.engine import Troth
from troth.home import init_home

ORDER = {
    "name": "Bo",
    "email": "bo@example.com",
    "address": "2 Low St",
    "card_number": "5500000000000004",
    "card_expiry": "01/30",
    "order_items": "1 lamp",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_answers_api_reads_with_one_or_more_workers(tmp_path: Path, workers: int) -> None:
    ctx = init_home(tmp_path / "home", example="itechno")
    t = Troth(ctx)
    sid = t.collect("order_form", ORDER).subject_id
    key, _ = t.access.create_api_key("app", ["use"])
    t.close()
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from troth.cli import main; main()",
            "serve",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--workers",
            str(workers),
        ],
        env=dict(os.environ, TROTH_HOME=str(ctx.home)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/.well-known/gpc.json", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "troth serve did not answer within 60 s"
            time.sleep(0.2)
        auth = {"Authorization": f"Bearer {key}"}
        # Several reads: with two workers both processes append to one audit log.
        for _ in range(6):
            r = httpx.get(f"{base}/api/v1/subjects/{sid}?purpose=billing", headers=auth)
            assert r.status_code == 200, r.text
            assert {v["field"]: v["value"] for v in r.json()["values"]}["card_number"] == (
                "5500000000000004"
            )
        r = httpx.get(f"{base}/api/v1/subjects/{sid}?purpose=billing")
        assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
        r = httpx.get(
            f"{base}/api/v1/subjects/{sid}?purpose=billing",
            headers={"Authorization": "Bearer trk_" + "A" * 43},
        )
        assert r.status_code == 401 and r.json()["code"] == "unknown_key"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    with troth.open(ctx.home) as t2:
        report = verify_log(t2.ctx)
        uses = [e for e in list_entries(t2.ctx, subject_id=sid) if e.entry.action == "use"]
    assert report.ok and report.unsigned == 0, report.problem
    assert len(uses) == 6 and all(e.entry.outcome == "allow" for e in uses)


@pytest.mark.parametrize("workers", ["0", "65", "two"])
def test_serve_refuses_a_bad_worker_count(tmp_path: Path, workers: str) -> None:
    ctx = init_home(tmp_path / "home", example="itechno")
    ctx.engine.dispose()
    done = subprocess.run(
        [sys.executable, "-c", "from troth.cli import main; main()", "serve", "--workers", workers],
        env=dict(os.environ, TROTH_HOME=str(ctx.home)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--workers" in done.stderr
