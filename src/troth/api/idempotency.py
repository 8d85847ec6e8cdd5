"""``Idempotency-Key`` for the HTTP edge: the state and its rules live in
:mod:`troth.operations.idempotency` (a domain module; the edge holds no SQL). :func:`once`
is what every creating POST calls."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Header, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from troth.operations.idempotency import request_hash, run_once

if TYPE_CHECKING:
    from troth.engine import Troth
    from troth.gate import Actor

__all__ = ["IdemKey", "once", "request_hash", "run_once"]

# A creating POST's ``Idempotency-Key`` header, passed to :func:`once` as ``key``.
IdemKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="Send the same key to retry safely: the first response is returned again.",
    ),
]


async def once(
    request: Request,
    t: Troth,
    actor: Actor,
    key: str | None,
    work: Callable[[], tuple[int, Any]],
) -> Response:
    """Run a creating POST at most once per ``Idempotency-Key``: the first response is
    returned again (``Idempotent-Replayed: true``) for a retry with the same key and body."""
    raw = await request.body()
    status, out, replayed = await run_in_threadpool(
        run_once,
        t.ctx,
        actor.label,
        key,
        request_hash(request.method, request.url.path, raw),
        work,
    )
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    return JSONResponse(out, status_code=status, headers=headers)
