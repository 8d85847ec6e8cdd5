"""``/healthz``, ``/readyz`` and ``/metrics``: for load balancers, orchestrators and
Prometheus. None of them names a path, a setting's value or a secret: checks by name."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from troth.api.auth import bearer_scheme, cookie_scheme, current_actor
from troth.engine import Troth
from troth.errors import NotFound

router = APIRouter(include_in_schema=False)
_NO_STORE = {"Cache-Control": "no-store"}


@router.get("/healthz")
async def healthz() -> JSONResponse:
    """The process is alive and answering (touches nothing else)."""
    return JSONResponse({"status": "ok"}, headers=_NO_STORE)


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    """Ready for traffic: database reachable, key file readable, heads file writable,
    schema at this troth's head. 503 with the failing checks' names otherwise."""
    from troth.operations.checks import readiness

    t: Troth = request.app.state.troth
    checks = readiness(t.ctx)
    ready = all(checks.values())
    body = {
        "status": "ready" if ready else "not_ready",
        "checks": {name: "ok" if ok else "fail" for name, ok in checks.items()},
    }
    return JSONResponse(body, status_code=200 if ready else 503, headers=_NO_STORE)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """Prometheus metrics; who may read them is the ``metrics_access`` setting."""
    from troth.operations.metrics import CONTENT_TYPE, render

    t: Troth = request.app.state.troth
    access = t.ctx.settings.metrics_access
    if access == "off":
        raise NotFound("metrics are off here (metrics_access = off)")
    if access == "key":
        actor = await current_actor(
            request, await bearer_scheme(request), await cookie_scheme(request)
        )
        await run_in_threadpool(
            t.access.keys.require_vendor_key, actor, "metrics", action="metrics.read"
        )
    body = await run_in_threadpool(render, request.app.state.metrics_registry)
    return Response(body, media_type=CONTENT_TYPE, headers=_NO_STORE)
