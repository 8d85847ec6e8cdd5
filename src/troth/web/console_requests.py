"""The console's request desk (privacy office): requests by due date (overdue marked,
extensions shown), one request with its history and report, and the actions on it as
plain CSRF-protected forms: verify by staff, extend, execute, refuse (each with the reason
the law asks for). A refused action shows its message on the request's page."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from troth.errors import TrothError
from troth.policy.model import Power, Regime
from troth.requests.receipt import local_day
from troth.requests.record import RequestRecord
from troth.requests.states import RequestState
from troth.web.console import page, staff
from troth.web.forms import FormDep
from troth.web.render import ctx_of

router = APIRouter(include_in_schema=False)

RequestId = Annotated[str, Path(min_length=1, max_length=32)]
_CLOSED = (RequestState.completed, RequestState.refused)


def due_rows(request: Request, records: list[RequestRecord]) -> list[dict[str, Any]]:
    """Requests as rows for a table: deadline, overdue, days left, extension."""
    ctx = ctx_of(request)
    now = ctx.clock.now()
    rows = []
    for r in records:
        # Today where the organisation is, as the deadline was counted.
        known = r.regime if r.regime in Regime.__members__ else None
        today = local_day(now, ctx.policy.policy.organisation.zone(known))
        closed = r.state in _CLOSED
        rows.append(
            {
                "r": r,
                "deadline": r.deadline,
                "overdue": not closed and r.deadline < today,
                "days_left": (r.deadline - today).days,
                "extended": r.extended_due_at is not None,
            }
        )
    return rows


def report_rows(result: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The execution report, one row per system: what was found, deleted, kept and why."""
    if not result:
        return []
    rows = []
    for s in result.get("systems") or []:
        why = [str(k.get("reason", "")) for k in s.get("kept_because") or [] if k.get("reason")]
        changed = {
            k: s[k]
            for k in ("deleted", "masked", "corrected", "withdrawn", "restricted", "new")
            if s.get(k)
        }
        rows.append(
            {
                "system": s.get("system", "?"),
                "found": s.get("found", ""),
                "changed": changed,
                "kept": s.get("kept", 0),
                "why": sorted(set(why)),
            }
        )
    return rows


@router.get("/console/requests")
def requests_page(
    request: Request,
    show: Annotated[str, Query(max_length=10)] = "open",
) -> Response:
    s = staff(request, power=Power.manage_requests)
    t = request.app.state.troth
    if show == "closed":
        records = t.requests.list(state=RequestState.completed, limit=200) + t.requests.list(
            state=RequestState.refused, limit=200
        )
    else:
        show = "open"
        records = t.requests.list(limit=200)
    return page(request, s, "console/requests.html", rows=due_rows(request, records), show=show)


def _request_page(
    request: Request, request_id: str, *, error: str | None = None, status: int = 200
) -> Response:
    s = staff(request, power=Power.manage_requests)
    t = request.app.state.troth
    req = t.requests.get(request_id)
    return page(
        request,
        s,
        "console/request.html",
        status=status,
        row=due_rows(request, [req])[0],
        req=req,
        history=t.requests.history(request_id),
        report=report_rows(req.result),
        error=error,
        closed=req.state in _CLOSED,
    )


@router.get("/console/requests/{request_id}")
def request_page(request: Request, request_id: RequestId) -> Response:
    return _request_page(request, request_id)


@router.post("/console/requests/{request_id}/{action}")
def request_action(
    request: Request,
    request_id: RequestId,
    action: Annotated[str, Path(pattern="^(verify|extend|execute|refuse)$")],
    form: FormDep,
) -> Response:
    """One action on a request; its reason comes from the form."""
    s = staff(request, form, power=Power.manage_requests)
    t = request.app.state.troth
    reason = form.get("reason", "").strip()
    try:
        if action == "verify":
            t.requests.verify_by_staff(request_id, staff=s.user.email, reason=reason)
        elif action == "extend":
            t.requests.extend(request_id, reason, actor=s.actor)
        elif action == "refuse":
            t.requests.refuse(request_id, reason=reason, actor=s.actor)
        else:
            t.requests.execute(request_id, actor=s.actor)
    except TrothError as exc:
        if exc.status == 404:
            raise
        return _request_page(request, request_id, error=exc.message, status=exc.status)
    return RedirectResponse(f"/console/requests/{request_id}", status_code=303)
