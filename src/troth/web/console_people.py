"""A person in the console: found by e-mail, phone, customer id or id (a POSTed form: no
address or number ever sits in a URL), then one page with what troth holds and did about
them: their data grouped by where it was collected (read for a purpose the officer
chooses, masked as their role requires), consents with receipts, requests, disclosures
and who accessed what (the audit trail in words), each linking to the others.

Each section needs the power of its own register (:mod:`troth.office.person` decides): a
section the officer's role may not see is left out. What is shown is read through the
gate (troth.access records services, a use, the office's audited read), and a refusal
there is audited like any other."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from troth.access.names import names_for
from troth.api.models import ID_CUT, CutId
from troth.errors import NotFound, Refused, TrothError, ValidationError
from troth.gate import ActorKind
from troth.office import count_audit, may, read_audit
from troth.office.person import PersonSection, person_sections
from troth.policy.index import PolicyIndex
from troth.policy.model import Power, Role
from troth.web.console import page, staff
from troth.web.console_words import action_words
from troth.web.forms import FormDep
from troth.web.lists import csv_download, every_item, fetch_page, paged, when
from troth.web.queries import PageNo
from troth.web.render import ctx_of, noted

router = APIRouter(include_in_schema=False)

# Any text: an over-long or malformed id is the unknown person's 404, as over the API.
SubjectId = Annotated[str, CutId, Path(min_length=1, max_length=ID_CUT + 1)]
_ID = re.compile(r"^[0-9a-f]{32}$")
_PHONE = re.compile(r"^\+?[\d ()./-]{6,40}$")
TRAIL = 50

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
    rows, p = fetch_page(
        lambda limit, offset: t.access.records.list_people(
            s.actor, tenant_id=tenant, status=status, limit=limit, offset=offset
        ),
        page_no,
    )
    names = names_for(t.access)
    return {
        "people": [{"p": r, "tenant": names.tenant(r.tenant_id)} for r in rows],
        **paged(f, p),
        "tenants": sorted(names.tenants.values(), key=lambda x: x.name.lower()),
        "statuses": _STATUSES,
    }


@router.get("/console/people")
def people_form(
    request: Request,
    tenant: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
    page_no: PageNo = None,
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

    def fetch(limit: int, offset: int) -> tuple[list[Any], int]:
        return t.access.records.list_people(  # type: ignore[no-any-return]
            s.actor, tenant_id=tenant, status=status, limit=limit, offset=offset
        )

    rows = (
        [
            r.id,
            names.tenant(r.tenant_id),
            r.kind,
            r.jurisdiction,
            r.status,
            when(r.created_at),
            when(r.erased_at),
        ]
        for r in every_item(fetch)
    )
    header = ["person", "customer", "kind", "jurisdiction", "status", "known since", "erased"]
    return csv_download("people.csv", header, rows)  # type: ignore[no-any-return]


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
    records = t.access.records
    try:
        if _ID.match(q):
            found = [records.person_for(s.actor, q)]
        elif "@" in q:
            found = records.find_all_for(s.actor, email=q)
        elif _PHONE.match(q):
            found = records.find_all_for(s.actor, phone=q)
        else:
            found = records.find_all_for(s.actor, customer_id=q)
    except (NotFound, Refused):
        found = []
    if len(found) == 1:
        return RedirectResponse(f"/console/people/{found[0].id}", status_code=303)
    if not found:
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
    # One address or number, several people (each a customer's record of them): every
    # one the searcher may see, with whose record it is.
    names = names_for(t.access)
    matches = [{"p": r, "tenant": names.tenant(r.tenant_id)} for r in found]
    return page(request, s, "console/people.html", q=q, error=None, people=None, matches=matches)


@router.get("/console/people/{subject_id}")
def person_page(
    request: Request,
    subject_id: SubjectId,
    purpose: Annotated[str | None, Query(max_length=80)] = None,
) -> Response:
    s = staff(request)
    ctx = ctx_of(request)
    t = request.app.state.troth
    person = t.access.records.person_for(s.actor, subject_id)  # 404 / 403 as the gate decides
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
            noted(request, exc)
            sections[name] = {"ok": False, "why": exc.message, "reason": exc.code}

    view = None
    view_error = None
    if purpose:
        try:
            view = t.use(subject_id, purpose=purpose, actor=s.actor)
        except TrothError as exc:
            noted(request, exc)
            view_error = exc.message
    groups: dict[str, list[Any]] = {}
    for v in view.values if view else []:
        groups.setdefault(v.collection_point or v.source, []).append(v)
    if purpose:
        # The officer chose why they look: the name is what that look revealed, if any.
        name = view.get("name") if view else None
    else:
        name = _name(t, ctx.policy, s.actor, subject_id, role)

    # Each section needs its register's power (troth.office.person decides): one the
    # role may not see is left out.
    shown = person_sections(ctx, s.actor)
    if PersonSection.consents in shown:
        section("consents", lambda: _consents(t, s, subject_id))
    if PersonSection.requests in shown:
        section("requests", lambda: t.access.records.requests_for(s.actor, subject_id))
    if PersonSection.disclosures in shown:
        section("disclosures", lambda: t.access.records.disclosures_for(s.actor, subject_id))
    trail_total = 0
    if PersonSection.trail in shown:
        trail_total = count_audit(ctx, s.actor, subject_id=subject_id)
        section("trail", lambda: _trail(ctx, s.actor, names, subject_id))
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
        status_shown=PersonSection.status in shown,
        trail_total=trail_total,
        trail_shown=TRAIL,
        when=when,
    )


NAME_FIELD = "name"
NAME_TRIES = 2


def name_purposes(index: PolicyIndex, role: Role | None) -> list[str]:
    """The purposes for which ``role`` may read a person's name: its purposes that allow
    the category of a collection point's ``name`` field, one the role reads too; those
    the most such points collect for first (a name is most likely collected for them),
    then in the role's order."""
    if role is None:
        return []
    reads = index.role_categories.get(role.id, frozenset())
    count: dict[str, int] = {}
    for point, fields in index.point_fields.items():
        f = fields.get(NAME_FIELD)
        if f is None or f.category not in reads:
            continue
        for p in index.point_purposes.get(point, frozenset()):
            if p in role.purposes and f.category in index.purpose_categories.get(p, ()):
                count[p] = count.get(p, 0) + 1
    order = {p: i for i, p in enumerate(role.purposes)}
    return sorted(count, key=lambda p: (-count[p], order[p]))


def _name(t: Any, index: PolicyIndex, actor: Any, subject_id: str, role: Role | None) -> Any:
    """The person's name for the page's heading, read through the gate (each try an
    audited use of the name's categories alone) for the first purpose of
    :func:`name_purposes` that yields one, at most ``NAME_TRIES``; None (the page shows
    the short id) where the role may read no name, or none was collected for those."""
    cats = sorted(
        {
            fields[NAME_FIELD].category
            for fields in index.point_fields.values()
            if NAME_FIELD in fields
        }
    )
    for purpose in name_purposes(index, role)[:NAME_TRIES]:
        try:
            view = t.use(subject_id, purpose=purpose, actor=actor, categories=cats)
        except TrothError:
            continue
        name = view.get(NAME_FIELD)
        if name:
            return name
    return None


def _trail(ctx: Any, actor: Any, names: Any, subject_id: str) -> list[dict[str, Any]]:
    """The latest ``TRAIL`` audit entries about the person, in words (power ``read_audit``)."""
    return [
        {
            "seq": e.seq,
            "when": when(e.at),
            "who": names.actor(e.entry.actor),
            "actor": e.entry.actor,
            "what": action_words(e.entry.action, e.entry.purpose),
            "categories": list(e.entry.categories),
            "outcome": str(e.entry.outcome),
            "reason": e.entry.reason,
        }
        for e in read_audit(ctx, actor, subject_id=subject_id, limit=TRAIL)
    ]


def _consents(t: Any, s: Any, subject_id: str) -> list[dict[str, Any]]:
    """Each consent event, newest first, with its receipt id where one was signed."""
    events = t.access.records.consent_history_for(s.actor, subject_id)
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
