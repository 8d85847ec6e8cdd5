"""CSRF protection for every POST form: a synchroniser token bound to the session (console
or privacy centre), or, before anyone has signed in, to a pre-session cookie.

Tokens are derived (HMAC with the home's key), not stored: ``token = MAC(label, secret)``
where the secret is the session's own secret or the pre-session cookie's value.
"""

from __future__ import annotations

import hmac
import secrets

from starlette.requests import Request
from starlette.responses import Response

from troth.context import Context
from troth.errors import PermissionDenied

PRE_COOKIE = "troth_pre"
FIELD = "csrf_token"


def derive(ctx: Context, label: str, secret: str) -> str:
    """The token for ``secret`` in area ``label`` (console, privacy, pre)."""
    return ctx.keys.mac(f"csrf:{label}", secret.encode()).hex()[:48]


def presession(request: Request) -> str:
    """This browser's pre-session secret; made (and set on the response by
    :func:`remember_presession`) when the browser has none yet."""
    value = request.cookies.get(PRE_COOKIE)
    if value and 16 <= len(value) <= 128:
        return value
    made: str | None = getattr(request.state, "new_presession", None)
    if made is None:
        made = secrets.token_urlsafe(32)
        request.state.new_presession = made
    return made


def remember_presession(request: Request, response: Response) -> None:
    made = getattr(request.state, "new_presession", None)
    if made:
        set_cookie(request, response, PRE_COOKIE, made)


def check(ctx: Context, request: Request, sent: str | None, label: str, secret: str | None) -> None:
    """Refuse the POST unless ``sent`` is the token for ``secret`` (403 csrf_failed)."""
    check_token(sent, derive(ctx, label, secret) if secret else None)


def check_token(sent: str | None, expected: str | None) -> None:
    if not expected or not sent or not hmac.compare_digest(sent, expected):
        raise PermissionDenied(
            "the form's security token is missing or out of date; reload the page and try again",
            code="csrf_failed",
        )


def check_presession(ctx: Context, request: Request, sent: str | None) -> None:
    check(ctx, request, sent, "pre", request.cookies.get(PRE_COOKIE))


def set_cookie(
    request: Request, response: Response, name: str, value: str, *, httponly: bool = True
) -> None:
    """A session-only cookie (no Expires/Max-Age: it ends when the browser closes, P16),
    SameSite=Lax, HttpOnly unless scripts must read it, Secure over HTTPS."""
    ctx: Context = request.app.state.ctx
    secure = request.url.scheme == "https" or ctx.settings.public_url.startswith("https:")
    response.set_cookie(name, value, httponly=httponly, samesite="lax", secure=secure, path="/")
