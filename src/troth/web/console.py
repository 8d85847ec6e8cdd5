"""The console for the privacy office (and the vendor's staff): who may use it (:func:`staff`)
and its page frame (:func:`page`), login, subject search, the audit browser with Verify, the
policy in plain words, recipients, support access. The dashboard is in
:mod:`console_dashboard`; requests, breaches and the office's registers in
:mod:`console_requests`, :mod:`console_breaches` and :mod:`console_office`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from troth.access.names import names_for
from troth.collection.validation import parse_number
from troth.errors import PermissionDenied, TrothError, ValidationError
from troth.gate import ActorKind
from troth.office import authorize, count_audit, may, read_audit, verify_audit
from troth.policy.describe import describe_policy
from troth.policy.model import Power
from troth.web import csrf
from troth.web.console_words import action_words
from troth.web.forms import FormDep, PresessionFormDep
from troth.web.lists import (
    PAGE_SIZE,
    csv_download,
    list_filters,
    paged,
    paging,
    query,
    when,
)
from troth.web.queries import Day, PageNo, Word
from troth.web.render import ctx_of, noted, render
from troth.web.session import (
    Signed,
    refused_login,
    require_signed_in,
    sign_in,
    sign_out,
    totp_code,
)

router = APIRouter(include_in_schema=False)
CSV_BATCH = 2000


def staff(
    request: Request, form: dict[str, str] | None = None, *, power: Power | None = None
) -> Signed:
    """The signed-in staff member or vendor admin; with ``power``, one the policy gives
    their role (troth.office decides and audits a refusal). For a POST the form's CSRF
    token must be the session's (checked first: a forged form changes nothing)."""
    s = require_signed_in(request)
    if s.actor.kind not in (ActorKind.staff, ActorKind.vendor_admin):
        raise PermissionDenied("the console is for the organisation's staff", code="forbidden")
    if form is not None:
        csrf.check_token(form.get(csrf.FIELD), s.csrf_token)
    if power is not None:
        authorize(ctx_of(request), s.actor, power)
    return s


def powers_of(request: Request, s: Signed) -> frozenset[Power]:
    """The office powers the signed-in actor holds (what the menus offer)."""
    ctx = ctx_of(request)
    return frozenset(p for p in Power if may(ctx, s.actor, p))


def page(request: Request, s: Signed, template: str, **values: Any) -> Response:
    powers = powers_of(request, s)
    return render(
        request,
        template,
        csrf_token=s.csrf_token,
        me=s,
        office=bool(powers),
        powers={p.value for p in powers},
        **values,
    )


# -- login -------------------------------------------------------------------------------
@router.get("/console/login")
def login_form(request: Request) -> Response:
    return render(request, "console/login.html", error=None)


@router.post("/console/login")
def login(request: Request, form: PresessionFormDep) -> Response:
    """Log in with e-mail, password and, for an account with a second factor, the code
    from its authenticator app; the access service decides, counts failures and audits."""
    t = request.app.state.troth
    email, code = form.get("email", ""), totp_code(form)
    try:
        user = t.access.accounts.authenticate(email, form.get("password", ""), totp_code=code)
    except TrothError as exc:
        noted(request, exc)
        return refused_login(request, "console/login.html", exc, code, email=email[:320])
    return sign_in(request, user, "/console")


@router.post("/console/logout")
def logout(request: Request, form: FormDep) -> Response:
    return sign_out(request, form, "/console/login")


# -- subjects ----------------------------------------------------------------------------
@router.get("/console/subjects")
def subjects_page(
    request: Request,
    email: Annotated[str | None, Query(max_length=320)] = None,
    subject_id: Annotated[str | None, Query(max_length=64)] = None,
    purpose: Annotated[str | None, Query(max_length=80)] = None,
) -> Response:
    """Find by id in the address (a link from a request); an e-mail address is never put
    in an address, where access logs keep it: the search form POSTs it."""
    s = staff(request)
    if email:
        raise ValidationError(
            "an e-mail address is never searched in the address bar (access logs keep it);"
            " use the search form on /console/subjects, which posts it",
            code="personal_data_in_url",
        )
    return _subjects(request, s, None, subject_id, purpose)


@router.post("/console/subjects")
def subjects_search(request: Request, form: FormDep) -> Response:
    s = staff(request, form)
    email = (form.get("email") or "").strip()[:320] or None
    return _subjects(
        request,
        s,
        email,
        (form.get("subject_id") or "")[:64] or None,
        (form.get("purpose") or "")[:80] or None,
    )


def _subjects(
    request: Request, s: Signed, email: str | None, subject_id: str | None, purpose: str | None
) -> Response:
    t = request.app.state.troth
    found: str | None = subject_id
    error: str | None = None
    view = None
    if email and not found:
        # Decided like every look-up: a support agent without a customer's grant
        # learns no more than for an unknown address.
        people = t.access.records.find_all_for(s.actor, email=email)
        if len(people) == 1:
            found = people[0].id
        elif people:
            error = (
                f"{len(people)} people you may see have that e-mail address, at different"
                " customers: search it under People, which lists each with their customer."
            )
        else:
            error = "no person you may see has that e-mail address."
    if found and purpose:
        try:
            view = t.use(found, purpose=purpose, actor=s.actor)
        except TrothError as exc:
            noted(request, exc)
            error = exc.message + (
                f" (reason: {exc.details.get('reason')})" if exc.details.get("reason") else ""
            )
    return page(
        request,
        s,
        "console/subjects.html",
        email=email or "",
        found=found,
        purpose=purpose,
        view=view,
        error=error,
        purposes=ctx_of(request).policy.policy.purposes,
    )


# -- audit -------------------------------------------------------------------------------
AUDIT_ACTIONS = (
    "use",
    "collect",
    "consent.",
    "request.",
    "breach.",
    "office.",
    "policy.",
    "privacy.",
    "mail.",
    "access.",
    "retention.",
    "disclosure.",
)
_OUTCOMES = ("allow", "deny", "error")


def _audit_filters(q: Mapping[str, str | None]) -> dict[str, Any]:
    """The audit list's filters as given (for the form and the links) and as the office's
    read takes them (``kw``); a bad date or outcome says what to fix."""
    outcome = q["outcome"]
    if outcome and outcome not in _OUTCOMES:
        raise ValidationError(
            f"outcome: one of {', '.join(_OUTCOMES)}, not {outcome!r}", field="outcome"
        )
    f = list_filters(q, text=("subject_id", "by", "action", "outcome"))
    start, end = f["kw"]["since"], f["kw"]["until"]
    if start and end and end <= start:
        raise ValidationError(
            f"until: the range ends ({q['until']}) before it starts ({q['since']}); give an"
            " 'until' on or after 'from', or swap them",
            field="until",
        )
    return f


def _audit_rows(request: Request, entries: list[Any]) -> list[dict[str, Any]]:
    names = names_for(request.app.state.troth.access)
    return [
        e.to_dict()
        | {
            "when": when(e.at),
            "who": names.actor(e.entry.actor),
            "tenant": names.tenant(e.entry.tenant_id),
            "what": _what(e.entry),
        }
        for e in entries
    ]


def _what(entry: Any) -> str:
    """The entry in words (the same wording as a person's trail), about "the person" in
    the list's Person column, or "people" where it names nobody."""
    return action_words(
        entry.action, entry.purpose, about="the person" if entry.subject_id else "people"
    )


AuditQuery = Annotated[str | None, Query(max_length=200)]


def _audit_query(
    subject_id: Annotated[str | None, Query(max_length=64)] = None,
    by: AuditQuery = None,
    action: Annotated[str | None, Query(max_length=100)] = None,
    outcome: Word = None,
    since: Day = None,
    until: Day = None,
) -> dict[str, str | None]:
    """The audit list's query as sent (the page and its CSV take the same); read by
    :func:`_audit_filters` once the staff member is known."""
    return {
        "subject_id": subject_id,
        "by": by,
        "action": action,
        "outcome": outcome,
        "since": since,
        "until": until,
    }


AuditFilterQuery = Annotated[dict[str, str | None], Depends(_audit_query)]


@router.get("/console/audit")
def audit_page(
    request: Request,
    q: AuditFilterQuery,
    page_no: PageNo = None,
) -> Response:
    """Everyone's audit entries, newest first, filtered by person, actor, action, outcome
    and UTC dates, fifty a page with where the page stands; the same list as CSV."""
    s = staff(request, power=Power.read_audit)
    ctx = ctx_of(request)
    f = _audit_filters(q)
    total = count_audit(ctx, s.actor, **f["kw"])
    p = paging(page_no, total)
    rows = read_audit(ctx, s.actor, limit=p.size, offset=p.offset, **f["kw"])
    return _audit_list(request, s, rows, paged(f["shown"], p), None)


@router.get("/console/audit.csv")
def audit_csv(
    request: Request,
    q: AuditFilterQuery,
) -> Response:
    """The filtered audit list, every entry, as CSV (formula-safe cells)."""
    s = staff(request, power=Power.read_audit)
    ctx = ctx_of(request)
    kw = _audit_filters(q)["kw"]
    names = names_for(request.app.state.troth.access)
    first = read_audit(ctx, s.actor, limit=CSV_BATCH, **kw)

    def rows() -> Any:
        batch = first
        while batch:
            for e in batch:
                x = e.entry
                yield [
                    e.seq,
                    when(e.at),
                    names.actor(x.actor),
                    x.actor,
                    x.action,
                    _what(x),
                    str(x.outcome),
                    x.reason,
                    x.subject_id,
                    names.tenant(x.tenant_id),
                    x.purpose,
                    "; ".join(x.categories),
                ]
            if len(batch) < CSV_BATCH:
                return
            batch = read_audit(ctx, s.actor, limit=CSV_BATCH, after_seq=batch[-1].seq, **kw)

    header = ["seq", "when (UTC)", "who", "actor id", "action", "what", "outcome", "reason"]
    header += ["person", "tenant", "purpose", "categories"]
    return csv_download("audit.csv", header, rows())  # type: ignore[no-any-return]


@router.post("/console/audit/verify")
def audit_verify(request: Request, form: FormDep) -> Response:
    s = staff(request, form, power=Power.read_audit)
    ctx = ctx_of(request)
    report = verify_audit(ctx, s.actor)
    total = count_audit(ctx, s.actor)
    rows = read_audit(ctx, s.actor, limit=PAGE_SIZE)
    f = _audit_filters(_audit_query())
    first = {"f": f["shown"], "paging": paging(1, total), "qs": "", "prev_qs": ""}
    return _audit_list(request, s, rows, first | {"next_qs": query({}, page=2)}, report)


def _audit_list(
    request: Request,
    s: Signed,
    rows: list[Any],
    listing: dict[str, Any],
    report: Any,
) -> Response:
    """The audit page: one page of entries with the list's filters, paging and links
    (:func:`~troth.web.lists.paged`), and a verification report when one was asked for."""
    return page(
        request,
        s,
        "console/audit.html",
        entries=_audit_rows(request, rows),
        **listing,
        actors=names_for(request.app.state.troth.access).actor_choices(),
        actions=AUDIT_ACTIONS,
        outcomes=_OUTCOMES,
        report=report,
    )


# -- policy and recipients ---------------------------------------------------------------
@router.get("/console/policy")
def policy_page(request: Request) -> Response:
    s = staff(request)
    pol = ctx_of(request).policy.policy
    return page(request, s, "console/policy.html", words=describe_policy(pol))


@router.get("/console/recipients")
def recipients_page(request: Request) -> Response:
    s = staff(request)
    return page(
        request, s, "console/recipients.html", recipients=ctx_of(request).policy.policy.recipients
    )


# -- support access (the vendor's side) ---------------------------------------------------
@router.get("/console/support")
def support_page(request: Request) -> Response:
    s = staff(request)
    t = request.app.state.troth
    tenants = t.access.tenants.list_tenants()
    grants = t.access.grants.list_grants() if hasattr(t.access.grants, "list_grants") else []
    return page(
        request,
        s,
        "console/support.html",
        tenants=tenants,
        tenant_names={x.id: x.name for x in tenants},
        grants=grants,
        max_days=ctx_of(request).policy.policy.support_access.max_days,
    )


@router.post("/console/support")
def support_request(request: Request, form: FormDep) -> Response:
    s = staff(request, form)
    t = request.app.state.troth
    # The policy's support_access.max_days is checked (and a refusal audited) by the
    # grant service; this only makes the text a duration: no NaN, infinity or 1e400.
    hours = parse_number(form.get("hours") or "4", "hours", 0, 366 * 24)
    cats = [c.strip() for c in form.get("categories", "").split(",") if c.strip()]
    t.access.grants.request_grant(
        form.get("tenant_id", ""),
        by=s.actor,
        reason=form.get("reason", ""),
        ticket=form.get("ticket") or None,
        duration=timedelta(hours=hours),
        categories=cats,
    )
    return RedirectResponse("/console/support", status_code=303)
