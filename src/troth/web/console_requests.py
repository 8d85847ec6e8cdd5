"""The console's request desk (privacy office): requests by due date (overdue marked,
extensions shown), one request with its history and report, and the actions on it as
plain CSRF-protected forms: verify by staff, extend, execute, refuse (each with the reason
the law asks for). A refused action shows its message on the request's page."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from troth.access.names import names_for
from troth.api.models import ID_CUT, CutId
from troth.collection.validation import parse_number
from troth.errors import TrothError
from troth.policy.model import Power, Regime
from troth.requests.receipt import local_day
from troth.requests.record import RequestRecord
from troth.requests.states import RequestKind, RequestState
from troth.web.console import page, staff
from troth.web.forms import FormDep
from troth.web.lists import csv_download, every_item, fetch_page, list_filters, paged
from troth.web.queries import Day, PageNo, Word
from troth.web.render import ctx_of, noted

if TYPE_CHECKING:
    from troth.engine import Troth
    from troth.web.session import Signed

router = APIRouter(include_in_schema=False)

RequestId = Annotated[str, CutId, Path(min_length=1, max_length=ID_CUT + 1)]
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
        rows.append(
            {
                "r": r,
                "deadline": r.deadline,
                "overdue": r.overdue(today),
                "days_left": (r.deadline - today).days if r.deadline is not None else None,
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


Q = Annotated[str | None, Query(max_length=64)]


def _request_filters(q: Mapping[str, str | None]) -> dict[str, Any]:
    """The list's filters as given (``shown``, for the form and links) and as the request
    service takes them (``kw``). ``due``: overdue, or a number of days."""
    show = q["show"] or "open"
    f = list_filters(
        {**q, "show": show},
        text=("kind", "state"),
        dates=("received_since", "received_until"),
        show=show,
        tenant_id=q["tenant"] or None,
    )
    due = q["due"]
    if due == "overdue":
        f["kw"]["overdue"] = True
    elif due:
        f["kw"]["due_within"] = int(parse_number(due, "due", 0, 3650))
    return f


def _request_query(
    show: Word = None,
    kind: Q = None,
    state: Q = None,
    tenant: Q = None,
    due: Word = None,
    since: Day = None,
    until: Day = None,
) -> dict[str, str | None]:
    """The request list's query as sent (the page and its CSV take the same); read by
    :func:`_request_filters` once the staff member is known."""
    return {
        "show": show,
        "kind": kind,
        "state": state,
        "tenant": tenant,
        "due": due,
        "since": since,
        "until": until,
    }


RequestQuery = Annotated[dict[str, str | None], Depends(_request_query)]
Fetch = Callable[[int, int], tuple[list[RequestRecord], int]]


def _read(
    request: Request, q: Mapping[str, str | None]
) -> tuple[Signed, Troth, Fetch, dict[str, Any]]:
    """The staff member (refused without the power, before the filters are read), troth,
    ``fetch(limit, offset)`` reading the filtered list, and the filters."""
    s = staff(request, power=Power.manage_requests)
    t: Troth = request.app.state.troth
    f = _request_filters(q)

    def fetch(limit: int, offset: int) -> tuple[list[RequestRecord], int]:
        return t.requests.search(limit=limit, offset=offset, actor=s.actor, **f["kw"])

    return s, t, fetch, f


@router.get("/console/requests")
def requests_page(
    request: Request,
    q: RequestQuery,
    page_no: PageNo = None,
) -> Response:
    """Requests by due date, filtered by open/closed, kind, state, customer, due and the
    day received, fifty a page with where the page stands; the same list as CSV."""
    s, t, fetch, f = _read(request, q)
    records, p = fetch_page(fetch, page_no)
    names = names_for(t.access)
    return page(
        request,
        s,
        "console/requests.html",
        rows=due_rows(request, records),
        show=f["shown"]["show"],
        **paged(f["shown"], p),
        kinds=[k.value for k in RequestKind],
        states=[x.value for x in RequestState],
        tenants=sorted(names.tenants.values(), key=lambda x: x.name.lower()),
        tenant_name=names.tenant,
    )


@router.get("/console/requests.csv")
def requests_csv(
    request: Request,
    q: RequestQuery,
) -> Response:
    """The filtered list, every request, as CSV (formula-safe cells; no contact address)."""
    _s, t, fetch, _f = _read(request, q)
    names = names_for(t.access)

    def rows(records: Iterator[RequestRecord]) -> Iterator[list[Any]]:
        for r in records:
            x = due_rows(request, [r])[0]
            yield [
                r.id,
                r.kind,
                r.state,
                names.tenant(r.tenant_id),
                r.received_on,
                x["deadline"],
                "yes" if x["overdue"] else "no",
                "yes" if x["extended"] else "no",
                r.subject_id,
                r.channel,
            ]

    header = ["request", "kind", "state", "customer", "received", "due", "overdue"]
    header += ["extended", "person", "channel"]
    return csv_download("requests.csv", header, rows(every_item(fetch)))  # type: ignore[no-any-return]


def _request_page(
    request: Request, request_id: str, *, error: str | None = None, status: int = 200
) -> Response:
    s = staff(request, power=Power.manage_requests)
    t = request.app.state.troth
    req = t.requests.read(request_id, actor=s.actor)  # a correction's values: the gate's
    return page(
        request,
        s,
        "console/request.html",
        status=status,
        row=due_rows(request, [req])[0],
        req=req,
        history=t.requests.history(request_id),
        report=report_rows(req.result),
        names=names_for(t.access),
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
            t.requests.verify_by_staff(request_id, staff=s.user.email, reason=reason, actor=s.actor)
        elif action == "extend":
            t.requests.extend(request_id, reason, actor=s.actor)
        elif action == "refuse":
            t.requests.refuse(request_id, reason=reason, actor=s.actor)
        else:
            t.requests.execute(request_id, actor=s.actor)
    except TrothError as exc:
        noted(request, exc)
        if exc.status == 404:
            raise
        return _request_page(request, request_id, error=exc.message, status=exc.status)
    return RedirectResponse(f"/console/requests/{request_id}", status_code=303)
