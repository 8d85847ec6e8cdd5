"""The ASGI application: the HTTP API under ``/api/v1`` and the web pages (console,
privacy centre, tenant admin), behind one set of middleware and one error translation.

    app = create_app(open_context(home))      # uvicorn.run(app) -- or `troth serve`
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from troth.api import health
from troth.api.limits import BodyLimit, ErrorGuard
from troth.api.problems import install_problem_handlers
from troth.api.router import build_router
from troth.audit import close_heads
from troth.context import Context
from troth.engine import Troth
from troth.operations import metrics
from troth.operations.httplog import Observe
from troth.web.docs import mount_docs
from troth.web.headers import SecurityHeaders
from troth.web.render import render_problem
from troth.web.site import mount_web

DEFAULT_MAX_BODY = 1_048_576  # 1 MiB; a single value may be up to max_value_bytes


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """While serving, follow policies other processes publish (troth.policy.follow). At
    shutdown (uvicorn's graceful stop on SIGTERM or SIGINT, in every worker process,
    before it re-raises the signal and the process dies without its exit hooks): sign the
    pending audit tree head."""
    from troth.policy.follow import FollowThread

    following = FollowThread(app.state.ctx)
    try:
        yield
    finally:
        following.stop()
    close_heads(app.state.ctx)


def create_app(ctx: Context, *, max_body_bytes: int | None = None) -> FastAPI:
    """A FastAPI app serving one troth (OpenAPI at ``/openapi.json``, Swagger UI
    at ``/docs``, ReDoc at ``/redoc``)."""
    limit = max_body_bytes or max(DEFAULT_MAX_BODY, ctx.settings.max_value_bytes + 65_536)
    app = FastAPI(
        title="troth",
        version="1",
        summary="A privacy policy, enforced: collect, use, consent, requests, audit.",
        description=(
            "Authenticate applications with `Authorization: Bearer <api key>`. Every error is "
            "an RFC 9457 problem document (`application/problem+json`) with troth's `code`, "
            "and `reason` when the policy refused. Lists page with `limit` and `cursor`. "
            "Creating POSTs accept `Idempotency-Key`."
        ),
        docs_url=None,  # served by troth.web.docs with assets of its own (no CDN)
        redoc_url=None,
        openapi_url="/openapi.json",
        lifespan=_lifespan,
    )
    app.state.ctx = ctx
    app.state.troth = Troth(ctx)
    install_problem_handlers(app, html=render_problem)
    app.include_router(build_router(), prefix="/api/v1")
    app.include_router(health.router)
    mount_web(app)
    mount_docs(app)
    metrics.install()
    app.state.metrics_registry = metrics.registry_for(ctx)
    # Added last = outermost: headers on everything, then the size limit, then the guard;
    # outside them all, the request line (id, metrics, log) sees every answer.
    app.add_middleware(ErrorGuard)
    app.add_middleware(BodyLimit, max_bytes=limit)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(Observe)
    return app


def app_from_environment() -> FastAPI:
    """The app for the home in ``TROTH_HOME``: the factory each ``troth serve --workers N``
    process calls."""
    from troth.home import open_context

    return create_app(open_context(os.environ.get("TROTH_HOME")))
