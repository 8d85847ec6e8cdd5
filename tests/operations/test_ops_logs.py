"""`troth serve --log-format json` as an operator runs it: a real process, real requests
carrying an e-mail address, a phone number and a card number in bodies, query strings and
paths; its output holds one JSON object a line, one request line per request (method,
route template, status, duration, request id), and none of those values. With several
workers, /metrics sums every worker's counts (prometheus-client's multiprocess mode)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from served import Served, stop
from troth.engine import Troth

EMAIL = "bo.private@example.com"
PHONE = "+447700900123"
CARD = "5500000000000004"
ORDER = {
    "name": "Bo",
    "email": EMAIL,
    "address": "2 Low St",
    "card_number": CARD,
    "card_expiry": "01/30",
    "order_items": "1 lamp",
}


def test_json_logs_of_a_scenario_hold_no_personal_data(home: Any, serve_troth: Served) -> None:
    ctx = home("itechno", clock=None, context=True)
    t = Troth(ctx)
    key, _ = t.access.keys.create_api_key("app", ["collect", "use"])
    t.close()
    proc, port = serve_troth(ctx.home, "--log-format", "json", ready="/healthz", text=True)
    h = {"Authorization": f"Bearer {key}"}
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, headers=h, timeout=10) as c:
            r = c.post("/api/v1/collect/order_form", json={"data": ORDER})
            assert r.status_code == 201, r.text
            sid = r.json()["subject_id"]
            assert c.get(f"/api/v1/subjects/{sid}", params={"purpose": "fulfilment"}).status_code
            c.post("/api/v1/search/subjects", json={"email": EMAIL})
            c.post("/api/v1/search/subjects", json={"phone": PHONE})
            # Personal data where it must never be: query strings and paths.
            c.get("/api/v1/subjects", params={"email": EMAIL, "phone": PHONE, "card": CARD})
            c.get(f"/u/{EMAIL}")
            c.get(f"/no/such/{PHONE}/{CARD}", params={"q": EMAIL})
            c.get("/privacy", params={"email": EMAIL})
            sent = c.get("/healthz", headers={"X-Request-Id": "scenario-0001"})
            assert sent.headers["x-request-id"] == "scenario-0001"
    finally:
        out, err = stop(proc)
    output = out + err
    for value in (EMAIL, PHONE, CARD, "07700900123", "bo.private", sid):
        assert value not in output, (value, output[-3000:])
    # stdout: the banner; stderr: the logs, each line one JSON object.
    records = [json.loads(line) for line in err.splitlines() if line.strip()]
    requests = [r for r in records if r.get("event") == "http_request"]
    assert {tuple(sorted(r)) for r in requests} == {
        tuple(
            sorted(
                (
                    "time",
                    "level",
                    "logger",
                    "event",
                    "method",
                    "route",
                    "status",
                    "duration_ms",
                    "request_id",
                )
            )
        )
    }
    routes = {(r["method"], r["route"], r["status"]) for r in requests}
    assert ("POST", "/api/v1/collect/{point}", 201) in routes
    assert ("GET", "/api/v1/subjects/{subject_id}", 200) in routes or (
        "GET",
        "/api/v1/subjects/{subject_id}",
        403,
    ) in routes
    assert ("GET", "/u/{token}", 200) in routes or any(r[1] == "/u/{token}" for r in routes)
    assert ("GET", "<unmatched>", 404) in routes
    assert any(r["request_id"] == "scenario-0001" for r in requests)
    # uvicorn's access log (raw path and query) is silenced: no line names a raw path.
    assert not any("GET /" in json.dumps(r) for r in records if r["logger"] == "uvicorn.access")
    assert all(r["logger"] != "uvicorn.access" for r in records)
    assert any(r["logger"].startswith("uvicorn") for r in records)  # its other lines are JSON


def test_several_workers_sum_their_metrics(home: Any, serve_troth: Served, tmp_path: Path) -> None:
    ctx = home("itechno", clock=None, context=True)
    ctx.engine.dispose()
    with (ctx.home / "troth.toml").open("a") as fh:
        fh.write('metrics_access = "open"\n')  # a private bind: the test's loopback
    folder = tmp_path / "metrics"
    proc, port = serve_troth(
        ctx.home,
        "--workers",
        "2",
        "--log-level",
        "warning",
        env={"PROMETHEUS_MULTIPROC_DIR": str(folder)},
        ready="/healthz",
        text=True,
    )
    try:
        n = 40
        for _ in range(n):  # new connections: the kernel spreads them over both workers
            assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200
        seen = set()
        for _ in range(6):
            body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            line = next(
                ln
                for ln in body.splitlines()
                if ln.startswith('troth_http_requests_total{method="GET",route="/readyz"')
            )
            seen.add(float(line.rsplit(" ", 1)[1]))
        assert seen == {float(n)}, seen  # the same total whichever worker answered
        assert len(list(folder.glob("counter_*.db"))) == 2  # one file per worker
    finally:
        stop(proc)
