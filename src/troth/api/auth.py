"""Who is calling: an application with ``Authorization: Bearer <api key>``, or a console
user with the session cookie (then every unsafe method also needs the ``X-CSRF-Token``
header, since a browser sends cookies on its own)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from troth.engine import Troth
from troth.errors import AuthenticationError, PermissionDenied
from troth.gate import Actor
from troth.office import authorize
from troth.policy.model import Power
from troth.web.session import csrf_for_session

SESSION_COOKIE = "troth_session"
SECURE_SESSION_COOKIE = "__Host-troth_session"
CSRF_HEADER = "X-CSRF-Token"
_SAFE = {"GET", "HEAD", "OPTIONS"}

bearer_scheme = HTTPBearer(
    auto_error=False,
    description="An API key (`troth keys api create`), sent as `Authorization: Bearer <key>`.",
)
cookie_scheme = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    description="The console's session cookie; unsafe methods also need X-CSRF-Token.",
)


async def troth_of(request: Request) -> Troth:
    """The :class:`Troth` the app was created for (async: no thread hop for a lookup)."""
    t: Troth = request.app.state.troth
    return t


async def current_actor(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    cookie: Annotated[str | None, Depends(cookie_scheme)],
) -> Actor:
    """The authenticated actor, or 401 with a problem document.

    A known API key whose last use is recorded is resolved on the event loop (one indexed
    read, never waiting for a writer); anything that writes (recording a use, auditing a
    refusal, a console session) runs in the thread pool."""
    t: Troth = request.app.state.troth
    if bearer is not None:
        if bearer.scheme.lower() != "bearer" or not bearer.credentials:
            raise AuthenticationError("send the API key as `Authorization: Bearer <key>`")
        actor = t.access.keys.peek_api_key(bearer.credentials)
        if actor is None:
            actor = await run_in_threadpool(t.access.keys.resolve_api_key, bearer.credentials)
        return actor
    token = cookie or request.cookies.get(SECURE_SESSION_COOKIE)
    if not token:
        raise AuthenticationError("authentication needed: send `Authorization: Bearer <api key>`")
    return await run_in_threadpool(_session_actor, request, t, token)


def _session_actor(request: Request, t: Troth, token: str) -> Actor:
    """A console session's actor; unsafe methods must also carry the CSRF token."""
    _user, actor = t.access.sessions.resolve_session(token)
    if request.method not in _SAFE:
        sent = request.headers.get(CSRF_HEADER, "")
        expected = csrf_for_session(t.ctx, t.access.sessions.session_csrf(token))
        if not sent or not hmac.compare_digest(sent, expected):
            raise PermissionDenied(
                f"send the page's CSRF token in the {CSRF_HEADER} header",
                code="csrf_failed",
            )
    return actor


ActorDep = Annotated[Actor, Depends(current_actor)]
TrothDep = Annotated[Troth, Depends(troth_of)]


def require_scope(t: Troth, actor: Actor, *accepted: str) -> None:
    """An application key needs one of ``accepted`` (or ``admin``), decided and audited by
    the access service; people are checked by the gate through their role, tenant or grant."""
    t.access.keys.require_scope(actor, *accepted)


def require_office(actor: Actor, troth: Troth, power: Power) -> None:
    """The vendor office's ``power``, decided and audited by the domain
    (:func:`troth.office.authorize`); for edges whose service does not take the actor."""
    authorize(troth.ctx, actor, power)


def client_ip(request: Request) -> str | None:
    """The caller's IP address for consent records (None when it is not an address)."""
    import ipaddress

    host = request.client.host if request.client else None
    try:
        return str(ipaddress.ip_address(host)) if host else None
    except ValueError:
        return None
