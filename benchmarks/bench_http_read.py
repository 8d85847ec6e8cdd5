"""http_read: an HTTP read of one person's data (GET /api/v1/subjects/{id}?purpose=...)
sent at a fixed 1,000 requests/s for 30 s (quick: 5 s) on loopback against `troth serve`
in a subprocess; latency is measured from each request's scheduled send time (so a
stalled server cannot hide its backlog). Baseline: the same read through the Python API
in-process (``Troth.use``)."""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time

from benchmarks import report
from benchmarks._homes import bench_home, order

RATE = 1000
IN_FLIGHT = 64


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _paced(
    url: str, paths: list[str], headers: dict[str, str], seconds: float
) -> tuple[list[float], int, int]:
    """Send at RATE/s for ``seconds``; returns (latencies in ms, errors, unfinished). A
    saturated server is given ``2 * seconds + 10`` s in all; requests still unanswered
    then count with the time they had waited (a lower bound on their latency)."""
    import httpx

    total = int(RATE * seconds)
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
    async with httpx.AsyncClient(
        base_url=url, headers=headers, limits=limits, timeout=None
    ) as client:
        for _ in range(50):  # warm the connection pool and the server
            await client.get(paths[0])
        start = time.perf_counter()
        give_up = start + 2 * seconds + 10

        # At most IN_FLIGHT requests on the wire; the rest wait their turn, and the wait
        # counts in their latency (measured from the scheduled time).
        gate = asyncio.Semaphore(IN_FLIGHT)
        late = 0

        async def one(i: int, due: float) -> None:
            nonlocal errors, late
            async with gate:
                if time.perf_counter() > give_up:
                    late += 1
                    latencies.append((time.perf_counter() - due) * 1000)
                    return
                r = await client.get(paths[i % len(paths)])
            if r.status_code != 200:
                errors += 1
            latencies.append((time.perf_counter() - due) * 1000)

        tasks: list[tuple[float, asyncio.Task[None]]] = []
        for i in range(total):
            due = start + i / RATE
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if time.perf_counter() > give_up:
                break
            tasks.append((due, asyncio.create_task(one(i, due))))
        remaining = max(0.0, give_up - time.perf_counter())
        await asyncio.wait([task for _, task in tasks], timeout=remaining or None)
        now = time.perf_counter()
        unfinished = 0
        for due, task in tasks:
            if not task.done():
                task.cancel()
                unfinished += 1
                latencies.append((now - due) * 1000)
        unfinished += total - len(tasks) + late
        latencies += [(now - (start + i / RATE)) * 1000 for i in range(len(tasks), total)]
    return latencies, errors, unfinished


def run(quick: bool) -> list[str]:
    seconds = 5.0 if quick else 30.0
    t = bench_home("itechno")
    people = [r.subject_id for r in t.collect_many("order_form", [order(i) for i in range(500)])]
    key, _ = t.access.create_api_key("bench", ["use"])
    actor = t.access.resolve_api_key(key)
    home = t.ctx.home
    # Baseline: the same read in-process.
    base: list[float] = []
    for i in range(2000 if quick else 10000):
        t0 = time.perf_counter()
        t.use(people[i % len(people)], purpose="billing", actor=actor)
        base.append((time.perf_counter() - t0) * 1000)
    t.close()

    port = _free_port()
    env = dict(os.environ, TROTH_HOME=str(home))
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
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    raise RuntimeError(f"troth serve did not start: {err[-2000:]}") from None
                time.sleep(0.1)
        paths = [f"/api/v1/subjects/{sid}?purpose=billing" for sid in people]
        latencies, errors, unfinished = asyncio.run(
            _paced(url, paths, {"Authorization": f"Bearer {key}"}, seconds)
        )
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    if errors:
        raise RuntimeError(f"http_read: {errors} requests did not return 200")
    return [
        report("http_read", _pct(latencies, 0.99), _pct(base, 0.99), "ms", "p99 <= 10 ms"),
        report(
            "http_read_p50",
            statistics.median(latencies),
            statistics.median(base),
            "ms",
            f"p50 at {RATE}/s offered, {len(latencies)} requests, {unfinished} unanswered in time",
        ),
    ]
