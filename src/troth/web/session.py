"""The console's login session (server-side, from :mod:`troth.access`): who is signed in,
the CSRF token bound to that session, and the cookie that carries it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from troth.context import Context
from troth.errors import AuthenticationError, TrothError
from troth.gate import Actor
from troth.web import csrf
from troth.web.render import render

COOKIE_NAMES = ("__Host-troth_session", "troth_session")


@dataclass(frozen=True)
class Signed:
    """A signed-in console user: the account, the gate's actor, the session token, and
    the CSRF token of the session's forms."""

    user: Any
    actor: Actor
    token: str
    csrf_token: str


def session_token(request: Request) -> str | None:
    for name in COOKIE_NAMES:
        value = request.cookies.get(name)
        if value:
            return value
    return None


def csrf_for_session(ctx: Context, secret: str) -> str:
    return csrf.derive(ctx, "console", secret)


def signed_in(request: Request, *, strict: bool = False) -> Signed | None:
    """The signed-in user, or None (no cookie, or an ended/expired session). ``strict``:
    an account changed outside troth raises its AuthenticationError (401,
    ``record_tampered``: the page says so) instead of asking to sign in again; a session
    row changed outside troth is no session (the sign-in page)."""
    token = session_token(request)
    if not token:
        return None
    t = request.app.state.troth
    try:
        user, actor = t.access.sessions.resolve_session(token)
        secret = t.access.sessions.session_csrf(token)
    except AuthenticationError as exc:
        if strict and exc.details.get("changed") == "account":
            raise
        return None
    return Signed(user, actor, token, csrf_for_session(t.ctx, secret))


def require_signed_in(request: Request) -> Signed:
    s = signed_in(request, strict=True)
    if s is None:
        raise AuthenticationError("sign in to continue", code="login_required")
    return s


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    from troth.access.sessions import session_cookie_attributes

    ctx: Context = request.app.state.ctx
    secure = request.url.scheme == "https" or ctx.settings.public_url.startswith("https:")
    response.set_cookie(value=token, **session_cookie_attributes(secure))


def clear_session_cookie(response: Response) -> None:
    for name in COOKIE_NAMES:
        response.delete_cookie(name, path="/")


CODE_FIELD = "totp_code"  # the login forms' field for the authenticator app's code
WRONG_WITH_CODE = "wrong e-mail, password or code"


def totp_code(form: dict[str, str]) -> str | None:
    """The authenticator code typed on a login form (spaces allowed), or None when empty."""
    code = (form.get(CODE_FIELD) or "").strip()[:16]
    return code or None


def refused_login(
    request: Request, template: str, exc: TrothError, code: str | None, **values: Any
) -> Response:
    """The login form again after a refused login, the address kept. A code typed with a
    wrong password or a wrong code reads alike ("wrong e-mail, password or code"), so the
    answer never says which of them was right; only the right password of an account with
    a second factor, without a code, asks for the code (``need_code``)."""
    message = exc.message
    if code and exc.code == AuthenticationError.code:
        message = WRONG_WITH_CODE
    need = exc.code == "second_factor_required"
    return render(request, template, status=exc.status, error=message, need_code=need, **values)


def sign_in(request: Request, user: Any, home: str) -> Response:
    """Start a session for ``user``, who has just proven who they are, and go to ``home``
    with its cookie set."""
    token, _session = request.app.state.troth.access.sessions.start_session(user)
    response = RedirectResponse(home, status_code=303)
    set_session_cookie(request, response, token)
    return response


def sign_out(request: Request, form: dict[str, str], login_page: str) -> Response:
    """End the signed-in session (a POST carrying the session's CSRF token: a forged form
    ends nothing) and go back to ``login_page`` with the cookie cleared."""
    s = require_signed_in(request)
    csrf.check_token(form.get(csrf.FIELD), s.csrf_token)
    request.app.state.troth.access.sessions.end_session(s.token)
    response = RedirectResponse(login_page, status_code=303)
    clear_session_cookie(response)
    return response
