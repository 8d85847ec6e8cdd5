"""The breach register in the console: record and scope a breach, its legal clocks, the
affected list for review, telling the authority, and the notice to the people (previewed,
then sent only as confirmed)."""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import UTC, date, datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from troth.access.names import names_for
from troth.api.models import ID_CUT, CutId
from troth.breaches.affected import known_categories, known_systems
from troth.breaches.duties import is_open
from troth.breaches.notify import DEFAULT_TEMPLATE
from troth.errors import TrothError, ValidationError
from troth.policy.model import Power
from troth.web.console import page, staff
from troth.web.forms import FormDep
from troth.web.lists import file_download, paging
from troth.web.queries import PageNo
from troth.web.render import ctx_of, noted
from troth.web.session import Signed

router = APIRouter(include_in_schema=False)


def _officer(request: Request, form: dict[str, str] | None = None) -> Signed:
    """The staff member at the breach register: their role must hold ``manage_breaches``
    (troth.office decides and audits a refusal); a form's CSRF token is checked first."""
    return staff(request, form, power=Power.manage_breaches)


AFFECTED_PAGE = 100  # the affected list's page: "showing 101-200 of 2,003"


def breach_clocks(request: Request, s: Signed, *, every: bool = False) -> list[dict[str, Any]]:
    """Each breach with its legal clocks and where they stand now; only the open ones
    (a clock of the organisation's not yet met: the customers' own clocks never keep a
    breach open here) unless ``every``. The register decides who may read it."""
    t = request.app.state.troth
    now = ctx_of(request).clock.now()
    out = []
    for b in t.breaches.list_breaches(actor=s.actor):
        clocks = t.breaches.clocks(b.id, now, actor=s.actor)
        running = [c for c in clocks if is_open(c)]
        if every or running:
            out.append({"breach": b, "clocks": clocks, "open": bool(running)})
    return out


# -- breaches ----------------------------------------------------------------------------
# Any text: an over-long or malformed id is the unknown breach's 404, as over the API.
BreachId = Annotated[str, CutId, PathParam(min_length=1, max_length=ID_CUT + 1)]

DEFAULT_NOTICE = DEFAULT_TEMPLATE  # the notice the breach page starts from


def _breach_form_values(request: Request) -> dict[str, Any]:
    ctx = ctx_of(request)
    t = request.app.state.troth
    return {
        "categories": sorted(known_categories(ctx)),
        "systems": sorted(known_systems(ctx)),
        "tenants": t.access.tenants.list_tenants(),
        "now": ctx.clock.now(),
    }


def _breaches_page(
    request: Request, s: Any, *, status: int = 200, error: str | None = None, form: Any = None
) -> Response:
    return page(
        request,
        s,
        "console/breaches.html",
        status=status,
        breaches=breach_clocks(request, s, every=True),
        error=error,
        form=form or {},
        **_breach_form_values(request),
    )


@router.get("/console/breaches")
def breaches_page(request: Request) -> Response:
    s = _officer(request)
    return _breaches_page(request, s)


@router.get("/console/breaches.csv")
def breaches_csv(request: Request) -> Response:
    """The whole register as CSV (formula-safe cells)."""
    s = _officer(request)
    body = request.app.state.troth.breaches.export("csv", actor=s.actor)
    return file_download(body, "breaches.csv", "text/csv; charset=utf-8")


@router.post("/console/breaches")
def breach_record(request: Request, form: FormDep) -> Response:
    """Record a breach and scope it: categories, systems, tenants, a list of people."""
    s = _officer(request, form)
    t = request.app.state.troth
    multi = _multi(request)
    try:
        discovered = _instant(form.get("discovered_at", ""), "discovered_at")
        b = t.breaches.record_breach(
            title=form.get("title", ""),
            description=form.get("description", ""),
            discovered_at=discovered or ctx_of(request).clock.now(),
            aware_at=_instant(form.get("aware_at", ""), "aware_at"),
            occurred_from=_instant(form.get("occurred_from", ""), "occurred_from", True),
            occurred_until=_instant(form.get("occurred_until", ""), "occurred_until", True),
            categories=multi("categories"),
            systems=multi("systems") or ("troth",),
            tenants=multi("tenants"),
            subject_ids=[x for x in re.split(r"[\s,;]+", form.get("subject_ids", "")) if x],
            actors=[x for x in re.split(r"[\s,;]+", form.get("actors", "")) if x][:100],
            high_risk=form.get("high_risk") == "on",
            actor=s.actor,
        )
    except TrothError as exc:
        noted(request, exc)
        if exc.status == 403:
            raise
        return _breaches_page(request, s, status=exc.status, error=exc.message, form=form)
    return RedirectResponse(f"/console/breaches/{b.id}", status_code=303)


def _multi(request: Request) -> Any:
    """The values of a repeated form field (ticked boxes, a multiple select)."""
    state = request.scope.get("troth.form_multi") or {}

    def get(name: str) -> list[str]:
        return [v for v in state.get(name, []) if v][:500]

    return get


@router.get("/console/breaches/{breach_id}")
def breach_page(
    request: Request,
    breach_id: BreachId,
    page_no: PageNo = None,
) -> Response:
    """One breach: its clocks, the affected list for review (paged), telling the
    authority and the people."""
    s = _officer(request)
    return _breach_page(request, s, breach_id, page_no=page_no)


def _breach_page(
    request: Request,
    s: Any,
    breach_id: str,
    *,
    status: int = 200,
    page_no: int | None = None,
    **values: Any,
) -> Response:
    t = request.app.state.troth
    b = t.breaches.get(breach_id, actor=s.actor)
    p = paging(page_no, b.affected_count, AFFECTED_PAGE)
    clocks = t.breaches.clocks(breach_id, actor=s.actor)
    defaults: dict[str, Any] = {
        "error": None,
        "notice_template": DEFAULT_NOTICE,
        "subject": "",
        "notice": None,
        "notify_error": None,
        "regulator_error": None,
        "queued": None,
    }
    defaults.update(values)
    return page(
        request,
        s,
        "console/breach.html",
        status=status,
        breach=b,
        clocks=[{"breach": b, "clocks": clocks}],
        people=t.breaches.affected_people(breach_id, limit=p.size, offset=p.offset, actor=s.actor),
        preview=t.breaches.notify_preview(breach_id, actor=s.actor),
        paging=p,
        now=ctx_of(request).clock.now(),
        tenant_names={x.id: x.name for x in t.access.tenants.list_tenants()},
        names=names_for(t.access),
        **defaults,
    )


@router.post("/console/breaches/{breach_id}/exclude")
def breach_exclude(request: Request, breach_id: BreachId, form: FormDep) -> Response:
    """Take the ticked people off the list, with the reason (audited)."""
    s = _officer(request, form)
    t = request.app.state.troth
    ids = [k.removeprefix("p_") for k, v in form.items() if k.startswith("p_") and v == "on"]
    try:
        t.breaches.exclude_people(breach_id, ids, reason=form.get("reason", ""), actor=s.actor)
    except ValidationError as exc:
        return _breach_page(request, s, breach_id, status=422, error=str(exc))
    return RedirectResponse(f"/console/breaches/{breach_id}", status_code=303)


@router.post("/console/breaches/{breach_id}/regulator")
def breach_regulator(request: Request, breach_id: BreachId, form: FormDep) -> Response:
    """Record when the authority was told (late: the reasons, GDPR Art. 33(1))."""
    s = _officer(request, form)
    t = request.app.state.troth
    try:
        at = _instant(form.get("at", ""), "at") or ctx_of(request).clock.now()
        t.breaches.mark_regulator_notified(
            breach_id, at, late_reason=form.get("late_reason", "").strip() or None, actor=s.actor
        )
    except TrothError as exc:
        noted(request, exc)
        if exc.status in (403, 404):
            raise
        return _breach_page(request, s, breach_id, status=exc.status, regulator_error=exc.message)
    return RedirectResponse(f"/console/breaches/{breach_id}#regulator-h", status_code=303)


def _notice_form(form: dict[str, str]) -> tuple[str, str, dict[str, Any]]:
    """The notice's template and subject as posted (bounded), and ``keep``: the two as the
    breach page shows them back when it is drawn again (the preview, an error)."""
    template = form.get("template", "")[:20_000]
    subject = form.get("subject", "").strip()[:200]
    return template, subject, {"notice_template": template, "subject": subject}


def _notice_digest(breach_id: str, subject: str, template: str) -> str:
    text = f"troth-breach-notice\n{breach_id}\n{subject}\n{template}"
    return hashlib.sha256(text.encode()).hexdigest()


@router.post("/console/breaches/{breach_id}/notify/preview")
def breach_notify_preview(request: Request, breach_id: BreachId, form: FormDep) -> Response:
    """The notice as the people will read it, and how many it goes to; nothing sent."""
    s = _officer(request, form)
    t = request.app.state.troth
    template, subject, keep = _notice_form(form)
    try:
        title, body = t.breaches.render_notice(
            breach_id, template, subject=subject or None, actor=s.actor
        )
    except ValidationError as exc:
        return _breach_page(request, s, breach_id, status=422, notify_error=exc.message, **keep)
    notice = {
        "subject": title,
        "body": body,
        "digest": _notice_digest(breach_id, subject, template),
    }
    return _breach_page(request, s, breach_id, notice=notice, **keep)


@router.post("/console/breaches/{breach_id}/notify")
def breach_notify(request: Request, breach_id: BreachId, form: FormDep) -> Response:
    """Queue the previewed notice to everyone not yet told: only with the confirmation
    bound to the exact template and subject previewed."""
    s = _officer(request, form)
    t = request.app.state.troth
    template, subject, keep = _notice_form(form)
    digest = form.get("preview", "")
    if not digest or not hmac.compare_digest(digest, _notice_digest(breach_id, subject, template)):
        return _breach_page(
            request,
            s,
            breach_id,
            status=409,
            notify_error="the notice changed since its preview (or was never previewed):"
            " preview it again and confirm what you read",
            **keep,
        )
    if form.get("confirm") != "yes":
        return _breach_page(
            request,
            s,
            breach_id,
            status=422,
            notify_error="tick the confirmation under the preview to send (nothing was queued)",
            **keep,
        )
    try:
        queued = t.breaches.notify_individuals(
            breach_id, template, subject=subject or None, actor=s.actor
        )
    except ValidationError as exc:
        return _breach_page(request, s, breach_id, status=422, notify_error=exc.message, **keep)
    return _breach_page(request, s, breach_id, queued=queued)


def _instant(value: str, name: str, required: bool = False) -> datetime | None:
    """A date and time field (YYYY-MM-DDTHH:MM, or a date alone), read as UTC."""
    value = value.strip()
    if not value:
        if required:
            raise ValidationError(f"{name}: give a date and time (UTC)", field=name)
        return None
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time.min, tzinfo=UTC)
        at = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError(
            f"{name}: give a date and time as YYYY-MM-DD HH:MM (UTC)", field=name
        ) from None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
