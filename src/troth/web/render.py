"""Rendering pages: one Jinja2 environment (autoescaped), the common page context (the
organisation, the cookie banner, the CSRF token) and the HTML form of a problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from troth.consent import gpc_present
from troth.context import Context
from troth.store.ids import short_id
from troth.web import csrf
from troth.web.cookies import banner_for
from troth.web.words import as_use, duration_words, id_words, in_zone, listing

TEMPLATES = Path(__file__).parent / "templates"

_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html", "xml"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["short_id"] = short_id
_env.filters["duration_words"] = duration_words
_env.filters["local"] = in_zone  # {{ at|local(zone, "%-d %B %Y") }}
_env.globals["id_words"] = id_words  # account_history -> "account history"
_env.globals["listing"] = listing  # ["a", "b", "c"] -> "a, b and c"
# "Problem resolution." -> "Problem resolution", after "this use of your data: "
_env.filters["as_use"] = as_use


def ctx_of(request: Request) -> Context:
    c: Context = request.app.state.ctx
    return c


def render(
    request: Request,
    template: str,
    *,
    status: int = 200,
    csrf_token: str | None = None,
    **values: Any,
) -> Response:
    """Render ``template`` with the page context; ``csrf_token`` defaults to the
    pre-session token (forms shown before anyone signs in)."""
    ctx = ctx_of(request)
    if gpc_present(request.headers.get("sec-gpc")):
        # Any page a signed-in person opens honours their browser's GPC signal.
        from troth.web.privacy import person

        person(request)
    token = csrf_token or csrf.derive(ctx, "pre", csrf.presession(request))
    page = _env.get_template(template).render(
        request=request,
        org=ctx.policy.policy.organisation,
        policy=ctx.policy.policy,
        banner=banner_for(request, ctx),
        csrf_token=token,
        pre_token=csrf.derive(ctx, "pre", csrf.presession(request)),
        path=request.url.path,
        **values,
    )
    response = HTMLResponse(page, status_code=status)
    csrf.remember_presession(request, response)
    return response


def render_problem(request: Request, body: dict[str, Any]) -> Response:
    """A problem document as a page (same status, no stack trace)."""
    try:
        if request.url.path.startswith("/console"):
            return _console_problem(request, body)
        return render(request, "error.html", status=int(body["status"]), problem=body)
    except Exception:  # the error page itself must never fail
        return HTMLResponse(
            f"<!doctype html><title>{int(body['status'])}</title><p>{body['code']}</p>",
            status_code=int(body["status"]),
        )


def _console_problem(request: Request, body: dict[str, Any]) -> Response:
    """A console page's problem, in the console's layout (its menu to signed-in staff,
    the console's sign-in link to others) and in the console's words."""
    from troth.web.console_words import problem_words
    from troth.web.session import signed_in

    s = signed_in(request)
    values: dict[str, Any] = {"problem": problem_words(body), "me": None, "powers": set()}
    if s is not None and s.actor.kind.value in ("staff", "vendor_admin"):
        from troth.office import may
        from troth.policy.model import Power

        ctx = ctx_of(request)
        powers = {p.value for p in Power if may(ctx, s.actor, p)}
        values |= {"me": s, "powers": powers, "office": bool(powers)}
        return render(
            request,
            "console/error.html",
            status=int(body["status"]),
            csrf_token=s.csrf_token,
            **values,
        )
    return render(request, "console/error.html", status=int(body["status"]), **values)


def noted(request: Request, exc: Exception) -> None:
    """Where a page answers an error itself (a form shown again with it): a value troth
    never writes met on the way (troth.errors.TamperedValue) is audited once, as the
    app's problem handler does for the others (troth.audit.unreadable)."""
    from troth.errors import TamperedValue

    if isinstance(exc, TamperedValue):
        from troth.audit.unreadable import audit_refusal
        from troth.operations.httplog import template_of

        audit_refusal(ctx_of(request), exc, f"{request.method} {template_of(request.scope)}")
