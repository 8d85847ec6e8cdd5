"""request_line: what troth adds to each HTTP request for operations (a request id, the
request counter and duration histogram, one log line with the route template), against
what it replaces: uvicorn's own access log line (raw path and query). Both around the same
trivial ASGI app, both logging to /dev/null through a handler with their own formatter."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

from benchmarks import report
from troth.operations.httplog import Observe


class _Route:
    path = "/api/v1/subjects/{subject_id}"

    def endpoint(self) -> None:  # pragma: no cover - never called
        pass


_ROUTE = _Route()


async def _app(scope: Any, receive: Any, send: Any) -> None:
    scope["route"] = _ROUTE
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def _send(message: Any) -> None:
    return None


async def _receive() -> Any:
    return {"type": "http.request"}


def _logger(name: str, formatter: logging.Formatter) -> logging.Logger:
    log = logging.getLogger(name)
    handler = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115
    handler.setFormatter(formatter)
    log.handlers = [handler]
    log.setLevel(logging.INFO)
    log.propagate = False
    return log


def _scope() -> dict[str, Any]:
    return {
        "type": "http",
        "method": "GET",
        "path": "/api/v1/subjects/0123456789abcdef0123456789abcdef",
        "query_string": b"purpose=support",
        "headers": [],
        "app": None,
        "client": ("127.0.0.1", 50000),
        "http_version": "1.1",
    }


async def _troth(n: int) -> float:
    app = Observe(_app)
    t0 = time.perf_counter()
    for _ in range(n):
        await app(_scope(), _receive, _send)
    return (time.perf_counter() - t0) / n * 1e6


async def _uvicorn(n: int, log: logging.Logger) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        scope = _scope()
        await _app(scope, _receive, _send)
        # What uvicorn's httptools protocol logs for each response.
        log.info(
            '%s - "%s %s HTTP/%s" %d',
            "127.0.0.1:50000",
            scope["method"],
            f"{scope['path']}?{scope['query_string'].decode()}",
            scope["http_version"],
            200,
        )
    return (time.perf_counter() - t0) / n * 1e6


def run(quick: bool) -> list[str]:
    from uvicorn.logging import AccessFormatter

    n = 20_000 if quick else 100_000
    _logger("troth.http", logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    access = _logger(
        "bench.uvicorn.access",
        AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s'),
    )
    troth_us = asyncio.run(_troth(n))
    uvicorn_us = asyncio.run(_uvicorn(n, access))
    return [
        report(
            "request_line",
            troth_us,
            uvicorn_us,
            "us",
            "<= 1.5x uvicorn's access log line (request id and metrics included)",
        )
    ]
