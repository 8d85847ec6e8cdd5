"""The shape every pure ASGI middleware of troth shares: it wraps an app, lets what is not
an HTTP request (lifespan, websockets) through untouched, and handles an HTTP request in
:meth:`HttpMiddleware.http`."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class HttpMiddleware:
    """Base of a pure ASGI middleware: subclasses write :meth:`http`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.http(scope, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """One HTTP request (the default passes it on)."""
        await self.app(scope, receive, send)
