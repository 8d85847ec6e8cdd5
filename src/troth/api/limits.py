"""ASGI middleware at the outer edge: a request body size limit (413 problem), one strict
JSON check of every JSON body (400 ``malformed_json``, see :func:`troth.validation.decode_json`)
and a guard that turns any unexpected exception into a 500 problem document (never a stack
trace)."""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from troth.api.problems import problem, problem_for, problem_response
from troth.collection.validation import decode_json
from troth.errors import MalformedInput
from troth.operations.asgi import HttpMiddleware

log = logging.getLogger("troth.http")

_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with 413, whether or not the client sent a
    Content-Length (chunked bodies are counted as they arrive, then replayed); refuse a JSON
    body that is not strict JSON (NaN, 1e400, a 5,000-digit integer, a lone surrogate,
    nesting past :data:`~troth.validation.MAX_DEPTH`) with 400 before any handler sees it."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        chunks: list[Message] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                chunks.append(message)
                break
            total += len(message.get("body", b""))
            if total > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            chunks.append(message)
            if not message.get("more_body", False):
                break
        if _is_json(scope, chunks):
            try:
                decode_json(b"".join(m.get("body", b"") for m in chunks))
            except MalformedInput as exc:
                await problem_response(problem_for(exc))(scope, receive, send)
                return
        replay = iter(chunks)

        async def replayed() -> Message:
            try:
                return next(replay)
            except StopIteration:
                return await receive()

        await self.app(scope, replayed, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = problem(
            413,
            "body_too_large",
            f"the request body is larger than {self.max_bytes:,} bytes; send less",
            limit=self.max_bytes,
        )
        await problem_response(body)(scope, receive, send)


class ErrorGuard(HttpMiddleware):
    """The last line: an exception no handler took becomes a 500 problem (logged)."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception as exc:
            from troth.operations.httplog import template_of

            # The route's template and the request id, never the path as sent (a token or
            # an address may be in it).
            route = template_of(scope)
            request_id = scope.get("troth.request_id", "-")
            log.error(
                "%s %s failed (request %s)", scope.get("method"), route, request_id, exc_info=exc
            )
            if started:
                raise
            handler: Any = getattr(scope.get("app"), "state", None)
            render = getattr(handler, "problem_handler", None)
            if render is not None:
                response = render(Request(scope), exc)
            else:
                response = problem_response(problem_for(exc))
            await response(scope, receive, send)


def _is_json(scope: Scope, chunks: list[Message]) -> bool:
    """Would the framework decode this body as JSON? (a JSON media type, or none at all
    and a body that opens like JSON)."""
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            media = bytes(value).split(b";", 1)[0].strip().lower()
            if not media:
                break  # an empty Content-Type is read as none
            return media == b"application/json" or (
                media.startswith(b"application/") and media.endswith(b"+json")
            )
    first: bytes = next((m.get("body", b"") for m in chunks if m.get("body")), b"")
    return first.lstrip()[:1] in (b"{", b"[")


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
