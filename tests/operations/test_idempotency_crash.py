"""Idempotency survives a crash (issue 20 item 4): a real `troth serve` killed with SIGKILL
between the work and its stored answer, or after the commit before the answer reached the
client; the retry with the same key runs the work once or replays its answer. On SQLite
and PostgreSQL."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from served import Served, free_port, stop
from troth.clock import ManualClock
from troth.engine import Troth
from troth.operations.idempotency import idempotency_keys
from troth.store.tables import records

SUPPORT = {"name": "Ada Lovelace", "email": "ada@example.com", "message": "Hello"}
URL = "/api/v1/collect/support_request"


def _serve(
    serve_troth: Served, home: Path, port: int, fault: str | None
) -> subprocess.Popen[bytes]:
    """`troth serve` on ``port`` with the fault hook ``fault`` armed (None: none)."""
    proc, _ = serve_troth(
        home,
        "--log-level",
        "warning",
        port=port,
        env={"TROTH_TEST_FAULT": fault},
        stdout=subprocess.DEVNULL,
    )
    return proc


def _count(ctx: Any, table: Any) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _post(port: int, headers: dict[str, str], data: dict[str, Any] = SUPPORT) -> httpx.Response:
    return httpx.post(
        f"http://127.0.0.1:{port}{URL}", json={"data": data}, headers=headers, timeout=60
    )


def _killed(proc: subprocess.Popen[bytes]) -> None:
    assert proc.wait(timeout=60) == -9  # SIGKILL, as the fault hook does


def test_kill_between_work_and_answer_then_retry_runs_once(
    home: Any, serve_troth: Served, db_url: str
) -> None:
    ctx = home("mindlink", db_url, clock=ManualClock(), context=True)
    key, _ = Troth(ctx).access.keys.create_api_key("shop", ["collect"])
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": "order-17"}
    port = free_port()

    # 1. Killed after the work ran, before its answer was stored: nothing is left half-done.
    proc = _serve(serve_troth, ctx.home, port, "idempotency-after-work")
    with pytest.raises(httpx.TransportError):
        _post(port, headers)
    _killed(proc)
    assert _count(ctx, records) == 0 and _count(ctx, idempotency_keys) == 0

    # 2. Killed after the commit, before the answer reached the client: all of it is stored.
    proc = _serve(serve_troth, ctx.home, port, "idempotency-after-commit")
    with pytest.raises(httpx.TransportError):
        _post(port, headers)
    _killed(proc)
    assert _count(ctx, records) == 3 and _count(ctx, idempotency_keys) == 1

    # 3. The retry (a fresh process) gets the stored answer: the client learns the id, the
    # order is stored once; another body with the key is still a conflict.
    proc = _serve(serve_troth, ctx.home, port, None)
    try:
        again = _post(port, headers)
        assert again.status_code == 201, again.text
        assert again.headers.get("Idempotent-Replayed") == "true"
        sid = again.json()["subject_id"]
        assert sid and _count(ctx, records) == 3
        assert _post(port, headers).json()["subject_id"] == sid
        other = _post(port, headers, dict(SUPPORT, message="another order"))
        assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"
        # A refused request frees its key (the refusal is audited, nothing stored).
        bad = dict(headers, **{"Idempotency-Key": "order-18"})
        refused = _post(port, bad, {"name": "x", "undeclared": "y"})
        assert refused.status_code in (403, 422)
        fixed = _post(port, bad, dict(SUPPORT, email="bo@example.com"))
        assert fixed.status_code == 201 and "Idempotent-Replayed" not in fixed.headers
        assert _count(ctx, records) == 6
    finally:
        stop(proc, timeout=60)
    ctx.engine.dispose()
