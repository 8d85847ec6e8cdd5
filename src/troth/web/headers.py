"""Security headers on every response (pages, API, static files and error documents)."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import Message, Receive, Scope, Send

from troth.operations.asgi import HttpMiddleware

# Pages load only their own scripts, styles and images; nobody may frame them.
CSP = (
    "default-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; "
    "object-src 'none'; img-src 'self' data:"
)
# The API docs (/docs, /redoc) are the one exception: Swagger UI and ReDoc start from an
# inline script and style themselves inline, and ReDoc runs a worker from a blob: URL.
# Everything they load comes from troth itself; they show no personal data.
DOCS_CSP = (
    "default-src 'self'; frame-ancestors 'none'; base-uri 'self'; object-src 'none'; "
    "script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'"
)
_PRIVATE_PREFIXES = ("/api/", "/console", "/privacy", "/tenant", "/u/")


class SecurityHeaders(HttpMiddleware):
    """CSP, frame-ancestors, nosniff, Referrer-Policy, and no-store on personal pages."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                h = MutableHeaders(scope=message)
                h["Content-Security-Policy"] = DOCS_CSP if path in ("/docs", "/redoc") else CSP
                h["X-Content-Type-Options"] = "nosniff"
                h["X-Frame-Options"] = "DENY"
                h["Referrer-Policy"] = "no-referrer"
                h["Cross-Origin-Opener-Policy"] = "same-origin"
                h["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
                if path.startswith(_PRIVATE_PREFIXES):
                    h["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, with_headers)
