"""Pages anyone may open: the front page, the cookie banner's form, one-click unsubscribe
(RFC 8058: GET shows a confirmation and never unsubscribes; POST unsubscribes at once with
no login and no cookie) and ``/.well-known/gpc.json``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.responses import Response

from troth.consent.optin import sold_cookies
from troth.consent.unsubscribe import describe_token, unsubscribe
from troth.web import csrf
from troth.web.cookies import CONSENT_COOKIE, decide_choices, encode_choices, names_to_remove
from troth.web.forms import PresessionFormDep, local_path
from troth.web.render import ctx_of, render

router = APIRouter(include_in_schema=False)

Token = Annotated[str, Path(max_length=200)]


@router.get("/")
def front(request: Request) -> Response:
    return render(request, "index.html")


@router.get("/.well-known/gpc.json")
def gpc_json(request: Request) -> JSONResponse:
    """We honour Global Privacy Control (https://privacycg.github.io/gpc-spec/)."""
    ctx = ctx_of(request)
    return JSONResponse({"gpc": True, "lastUpdate": ctx.policy.policy.effective.isoformat()})


@router.post("/cookies")
def cookie_choices(request: Request, form: PresessionFormDep) -> Response:
    """The banner's form: remember the choice, delete refused categories' cookies, and
    record it in the ledger when the person is signed in to the privacy centre. A
    category serving a sale/sharing purpose they opted out of less than 12 months ago
    stays off until they confirm it on the page this answers with (``confirm=two-step``
    posts the same choices again): the other choices are saved at once."""
    ctx = ctx_of(request)
    choices = decide_choices(ctx, request, form)
    from troth.web.privacy import record_cookie_choices

    back = local_path(form.get("next"), "/privacy")
    held = record_cookie_choices(request, choices, confirmed=form.get("confirm") == "two-step")
    response: Response
    if held:
        sold = sold_cookies(ctx)
        asked = [
            (c, since, [ctx.policy.purposes[p].description for p in sorted(sold[c])])
            for c, since in held.items()
        ]
        on = sorted(c for c, allowed in choices.items() if allowed)
        response = render(request, "cookies_opt_in.html", asked=asked, on=on, back=back)
    else:
        response = RedirectResponse(back, status_code=303)
    saved = {c: allowed and c not in held for c, allowed in choices.items()}
    # Readable by /static/consent.js, which activates the allowed scripts.
    csrf.set_cookie(request, response, CONSENT_COOKIE, encode_choices(ctx, saved), httponly=False)
    for name in names_to_remove(ctx, saved):
        response.delete_cookie(name, path="/")
    return response


@router.get("/u/{token}")
def unsubscribe_page(request: Request, token: Token) -> Response:
    """Confirmation only: link scanners follow GETs, so nothing changes here."""
    info = describe_token(ctx_of(request), token)
    return render(request, "unsubscribe.html", info=info, token=token, done=False)


@router.post("/u/{token}")
def unsubscribe_now(request: Request, token: Token) -> Response:
    """One click (RFC 8058 ``List-Unsubscribe=One-Click``): the token is the credential,
    so no login, no cookie and no CSRF token are needed; it takes effect at once."""
    result = unsubscribe(ctx_of(request), token)
    info: Any = describe_token(ctx_of(request), token)
    return render(request, "unsubscribe.html", info=info, token=token, done=True, result=result)
