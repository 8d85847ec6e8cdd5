"""A person in the console: found by e-mail, phone, customer id or id (a POSTed form: no
address or number ever sits in a URL), then one page with what troth holds and did about
them: their data grouped by where it was collected (read for a purpose the officer
chooses, masked as their role requires), consents with receipts, requests, disclosures
and who accessed what (the audit trail in words), each linking to the others.

Every section is read through the gate (troth.access records services, a use, the
office's audited read): a section the officer's role does not reach says so, and the
refusal is audited like any other."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from troth.access.names import names_for
from troth.errors import NotFound, Refused, TrothError, ValidationError
from troth.gate import ActorKind
from troth.office import count_audit, may, read_audit
from troth.policy.model import Power
from troth.web.console import page, staff
from troth.web.forms import FormDep
from troth.web.lists import csv_download, paging, query, when
from troth.web.render import ctx_of

router = APIRouter(include_in_schema=False)

SubjectId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
_ID = re.compile(r"^[0-9a-f]{32}$")
_PHONE = re.compile(r"^\+?[\d ()./-]{6,40}$")
TRAIL = 50

# An audit action as a sentence: "<who> <verb>".
_VERBS = {
    "use": "read their data",
    "collect": "collected data from them",
    "read_lookup": "looked them up",
    "read_consents": "read their consents",
    "read_disclosures": "read their disclosures",
    "read_requests": "read their requests",
    "read_audit": "read their audit trail",
    "disclose": "disclosed their data",
    "consent.grant": "recorded their consent",
    "consent.withdraw": "recorded their withdrawal of consent",
    "mail.queued": "queued an e-mail to them",
    "mail.sent": "sent them an e-mail",
    "request.open": "opened a request from them",
    "policy.publish": "published a policy version",
    "breach.individuals_notified": "told them of a breach",
}


def _sentence(action: str, purpose: str | None) -> str:
    verb = _VERBS.get(action) or _VERBS.get(action.split(".")[0]) or action.replace("_", " ")
    return f"{verb} for {purpose}" if purpose else verb


_STATUSES = ("active", "erased")


def _people_list(
    request: Request, s: Any, tenant: str | None, status: str | None, page_no: int | None
) -> dict[str, Any]:
    """The paged list of people for the office (``manage_requests``); others get none."""
    ctx = ctx_of(request)
    if not may(ctx, s.actor, Power.manage_requests):
        return {"people": None}
    if status and status not in _STATUSES:
        raise ValidationError(f"status: one of {', '.join(_STATUSES)}", field="status")
    t = request.app.state.troth
    f = {"tenant": tenant or "", "status": status or ""}
    _first, total = t.access.list_people(s.actor, tenant_id=tenant, status=status, limit=1)
    p = paging(page_no, total)
    rows, total = t.access.list_people(
        s.actor, tenant_id=tenant, status=status, limit=p.size, offset=p.offset
    )
    names = names_for(t.access)
    return {
        "people": [{"p": r, "tenant": names.tenant(r.tenant_id)} for r in rows],
        "f": f,
        "paging": p,
        "qs": query(f),
        "prev_qs": query(f, page=p.page - 1),
        "next_qs": query(f, page=p.page + 1),
        "tenants": sorted(names.tenants.values(), key=lambda x: x.name.lower()),
        "statuses": _STATUSES,
    }


@router.get("/console/people")
def people_form(
    request: Request,
    tenant: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
    page_no: Annotated[int | None, Query(alias="page", ge=1, le=1_000_000)] = None,
) -> Response:
    """The search form, and for the office the list of people (ids, customer, status;
    never a value), filtered and paged."""
    s = staff(request)
    listing = _people_list(request, s, tenant, status, page_no)
    return page(request, s, "console/people.html", q="", error=None, **listing)


@router.get("/console/people.csv")
def people_csv(
    request: Request,
    tenant: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """The filtered list of people as CSV: ids, customer, kind, status and dates only."""
    s = staff(request, power=Power.manage_requests)
    if status and status not in _STATUSES:
        raise ValidationError(f"status: one of {', '.join(_STATUSES)}", field="status")
    t = request.app.state.troth
    names = names_for(t.access)

    def rows() -> Any:
        offset = 0
        while True:
            batch, _n = t.access.list_people(
                s.actor, tenant_id=tenant, status=status, limit=1000, offset=offset
            )
            for r in batch:
                yield [
                    r.id,
                    names.tenant(r.tenant_id),
                    r.kind,
                    r.jurisdiction,
                    r.status,
                    when(r.created_at),
                    when(r.erased_at),
                ]
            if len(batch) < 1000:
                return
            offset += 1000

    header = ["person", "customer", "kind", "jurisdiction", "status", "known since", "erased"]
    return csv_download("people.csv", header, rows())  # type: ignore[no-any-return]


@router.post("/console/people")
def people_search(request: Request, form: FormDep) -> Response:
    """Find one person by what the officer has: an e-mail address, a phone number, a
    customer id or troth's id. The look-up is decided by the gate: someone the officer
    may not know reads as unknown (the refusal audited)."""
    s = staff(request, form)
    t = request.app.state.troth
    q = (form.get("q") or "").strip()[:320]
    if not q:
        return page(
            request,
            s,
            "console/people.html",
            status=422,
            q="",
            error="type an e-mail address, a phone number, a customer id or a person's id",
            people=None,
        )
    try:
        if _ID.match(q):
            t.access.person_for(s.actor, q)
            sid = q
        elif "@" in q:
            sid = t.access.find_for(s.actor, email=q)
        elif _PHONE.match(q):
            sid = t.access.find_for(s.actor, phone=q)
        else:
            sid = t.access.find_for(s.actor, customer_id=q)
    except (NotFound, Refused):
        return page(
            request,
            s,
            "console/people.html",
            status=404,
            q=q,
            error="nobody you may see has that e-mail address, phone number or id."
            " Names are stored encrypted and cannot be searched: search by e-mail or phone.",
            people=None,
        )
    return RedirectResponse(f"/console/people/{sid}", status_code=303)


@router.get("/console/people/{subject_id}")
def person_page(
    request: Request,
    subject_id: SubjectId,
    purpose: Annotated[str | None, Query(max_length=80)] = None,
) -> Response:
    s = staff(request)
    ctx = ctx_of(request)
    t = request.app.state.troth
    person = t.access.person_for(s.actor, subject_id)  # 404 / 403 as the gate decides
    names = names_for(t.access)
    roles = {r.id: r for r in ctx.policy.policy.roles}
    role = roles.get(s.actor.role or "") if s.actor.kind is ActorKind.staff else None
    purposes = list(role.purposes) if role is not None else []
    sections: dict[str, Any] = {}

    def section(name: str, read: Any) -> None:
        try:
            sections[name] = {"ok": True, "items": read()}
        except Refused as exc:
            sections[name] = {"ok": False, "why": exc.message, "reason": exc.reason}
        except TrothError as exc:
            sections[name] = {"ok": False, "why": exc.message, "reason": exc.code}

    view = None
    view_error = None
    if purpose:
        try:
            view = t.use(subject_id, purpose=purpose, actor=s.actor)
        except TrothError as exc:
            view_error = exc.message
    groups: dict[str, list[Any]] = {}
    for v in view.values if view else []:
        groups.setdefault(v.collection_point or v.source, []).append(v)
    name = view.get("name") if view else None

    section("consents", lambda: _consents(t, s, subject_id))
    section("requests", lambda: t.access.requests_for(s.actor, subject_id))
    section("disclosures", lambda: t.access.disclosures_for(s.actor, subject_id))
    trail_total = 0
    if may(ctx, s.actor, Power.read_audit):
        trail_total = count_audit(ctx, s.actor, subject_id=subject_id)
    section(
        "trail",
        lambda: [
            {
                "seq": e.seq,
                "when": when(e.at),
                "who": names.actor(e.entry.actor),
                "actor": e.entry.actor,
                "what": _sentence(e.entry.action, e.entry.purpose),
                "categories": list(e.entry.categories),
                "outcome": str(e.entry.outcome),
                "reason": e.entry.reason,
            }
            for e in read_audit(ctx, s.actor, subject_id=subject_id, limit=TRAIL)
        ],
    )
    return page(
        request,
        s,
        "console/person.html",
        person=person,
        tenant=names.tenant(person.tenant_id),
        name=name,
        purposes=purposes,
        purpose=purpose or "",
        view=view,
        view_error=view_error,
        groups=groups,
        sections=sections,
        trail_total=trail_total,
        trail_shown=TRAIL,
        when=when,
    )


def _consents(t: Any, s: Any, subject_id: str) -> list[dict[str, Any]]:
    """Each consent event, newest first, with its receipt id where one was signed."""
    events = t.access.consent_history_for(s.actor, subject_id)
    return [
        {
            "purpose": e["purpose"],
            "granted": bool(e["granted"]),
            "kind": e["kind"],
            "method": e["method"],
            "at": when(e["at"]),
            "version": e["policy_version"],
            "receipt": e.get("receipt_id"),
        }
        for e in reversed(events)
    ]
