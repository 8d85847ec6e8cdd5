"""Pages for a customer's admins (multi-tenant policies): members and invitations, the
vendor's support-access requests to approve or refuse, the log of the vendor's accesses,
and the tenant's export (P13, P14, P29). Accepting an invitation lives here too."""

from __future__ import annotations

import contextlib
import hmac
import json
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from troth.errors import PermissionDenied, TrothError, ValidationError
from troth.gate import ActorKind
from troth.policy.parties import customers_control
from troth.web import csrf
from troth.web.forms import FormDep, PresessionFormDep
from troth.web.lists import fetch_page, file_download
from troth.web.queries import PageNo
from troth.web.render import ctx_of, noted, render
from troth.web.session import (
    Signed,
    refused_login,
    require_signed_in,
    sign_in,
    sign_out,
    signed_in,
    totp_code,
)

router = APIRouter(include_in_schema=False)

Token = Annotated[str, Path(max_length=200)]


def member(
    request: Request,
    form: dict[str, str] | None = None,
    *,
    admin: bool = True,
    action: str = "tenant.page",
) -> Signed:
    """The signed-in customer session; for an admin page (``admin``), a member who is not
    an admin is refused by the access service (audited as ``action``, under their own
    tenant), answered with the page's 403."""
    s = require_signed_in(request)
    kinds = (
        (ActorKind.tenant_admin,) if admin else (ActorKind.tenant_admin, ActorKind.tenant_member)
    )
    if s.actor.kind not in kinds:
        tenants = request.app.state.troth.access.tenants
        with contextlib.suppress(PermissionDenied):  # audited there; this page's 403 below
            tenants.authorize_admin(s.actor, s.actor.tenant_id or "", action)
        raise PermissionDenied(
            "only an admin of this customer may open this page", code="not_tenant_admin"
        )
    if form is not None:
        csrf.check_token(form.get(csrf.FIELD), s.csrf_token)
    return s


@router.get("/tenant/login")
def login_form(request: Request, t: Annotated[str, Query(max_length=64)] = "") -> Response:
    return render(request, "tenant/login.html", tenant_id=t, error=None)


CHOICE_MINUTES = 5  # how long the "which customer?" page stays valid after the password


def _ticket(ctx: Any, user_ids: list[str], expires: int) -> str:
    """A signed note that these memberships just proved the password (ids only)."""
    body = f"{expires}.{','.join(user_ids)}"
    return f"{body}.{ctx.keys.mac('tenant-login-choice', body.encode()).hex()}"


def _ticket_ids(ctx: Any, ticket: str) -> list[str]:
    """The membership ids a valid, unexpired ticket names; [] otherwise."""
    body, _, mac = (ticket or "").rpartition(".")
    expires, _, ids = body.partition(".")
    good = ctx.keys.mac("tenant-login-choice", body.encode()).hex()
    if not body or not hmac.compare_digest(mac, good) or not expires.isdigit():
        return []
    if int(expires) < int(ctx.clock.now().timestamp()):
        return []
    return ids.split(",")


@router.post("/tenant/login")
def login(request: Request, form: PresessionFormDep) -> Response:
    """Log in with e-mail and password: the customer is found from the membership. An
    address that belongs to several customers, once the password is proven, chooses one;
    before that, nothing tells which customers an address belongs to."""
    ctx = ctx_of(request)
    tr = request.app.state.troth
    tenant_id = form.get("tenant_id", "").strip()
    email, password, code = form.get("email", ""), form.get("password", ""), totp_code(form)
    try:
        if tenant_id:  # a link from an invitation names the customer
            found = [tr.access.accounts.authenticate(email, password, tenant_id, totp_code=code)]
        else:
            found = tr.access.accounts.authenticate_member(email, password, totp_code=code)
    except TrothError as exc:
        noted(request, exc)
        return refused_login(
            request, "tenant/login.html", exc, code, tenant_id=tenant_id, email=email[:320]
        )
    if len(found) == 1:
        return sign_in(request, found[0], "/tenant")
    expires = int(ctx.clock.now().timestamp()) + CHOICE_MINUTES * 60
    choices = [(u.id, tr.access.tenants.get_tenant(u.tenant_id or "").name) for u in found]
    return render(
        request,
        "tenant/choose.html",
        ticket=_ticket(ctx, [u.id for u in found], expires),
        choices=sorted(choices, key=lambda c: c[1].casefold()),
        minutes=CHOICE_MINUTES,
    )


@router.post("/tenant/login/choose")
def choose(request: Request, form: PresessionFormDep) -> Response:
    """The customer picked after the password was proven (a signed, short-lived note)."""
    ctx = ctx_of(request)
    ids = _ticket_ids(ctx, form.get("ticket", ""))
    chosen = form.get("membership", "")
    if not ids or chosen not in ids:
        return render(
            request,
            "tenant/login.html",
            status=401,
            tenant_id="",
            error="that choice has expired; log in again",
        )
    user = request.app.state.troth.access.accounts.get_user(chosen)
    return sign_in(request, user, "/tenant")


@router.post("/tenant/logout")
def logout(request: Request, form: FormDep) -> Response:
    return sign_out(request, form, "/tenant/login")


@router.get("/tenant")
def home(request: Request) -> Response:
    if signed_in(request, strict=True) is None:
        return RedirectResponse("/tenant/login", status_code=303)
    s = require_signed_in(request)
    tr = request.app.state.troth
    tid = s.actor.tenant_id or ""
    if s.actor.kind is ActorKind.tenant_member:
        # Not an admin: a page that says what they may do and who their admins are (the
        # admin pages stay closed: 403, as the route table says).
        active = tr.access.tenants.list_members(tid, include_revoked=False)
        admins = [m for m in active if m.tenant_role == "admin"]
        return render(
            request,
            "tenant/member.html",
            status=403,
            csrf_token=s.csrf_token,
            me=s,
            tenant=tr.access.tenants.get_tenant(tid),
            admins=admins,
            roles_declared=bool(tr.ctx.policy.member_roles),
        )
    s = member(request)
    return render(
        request,
        "tenant/home.html",
        csrf_token=s.csrf_token,
        me=s,
        tenant=tr.access.tenants.get_tenant(tid),
        members=tr.access.tenants.list_members(tid),
        member_roles=sorted(tr.ctx.policy.member_roles.values(), key=lambda r: r.id),
        invitations=tr.access.tenants.list_invitations(tid),
        grants=tr.access.grants.list_grants(tid),
        accesses=tr.access.grants.vendor_accesses(tid, limit=200),
        breaches=[b | {"tz": ZoneInfo(b["zone"])} for b in tr.breaches.for_tenant(actor=s.actor)],
        zone=tr.ctx.policy.policy.organisation.zone(),
        organisation=tr.ctx.policy.policy.organisation.name,
        controls=customers_control(tr.ctx.policy.policy),
    )


TENANT_BREACH_PAGE = 100  # people per page of a breach's list


@router.get("/tenant/breaches/{breach_id}")
def breach_people(request: Request, breach_id: Token, page_no: PageNo = None) -> Response:
    """A breach the customer was told of: its own people on the list, with the contact
    details its admin may read, to tell them (troth.breaches.tenant_list); audited."""
    s = member(request, action="breach.tenant_affected")
    tr = request.app.state.troth
    (b,) = tr.breaches.for_tenant(actor=s.actor, breach_id=breach_id)
    people, paged = fetch_page(
        lambda limit, offset: _people_page(tr, breach_id, s, limit, offset),
        page_no,
        TENANT_BREACH_PAGE,
    )
    return render(
        request,
        "tenant/breach.html",
        csrf_token=s.csrf_token,
        me=s,
        tenant=tr.access.tenants.get_tenant(s.actor.tenant_id or ""),
        breach=b,
        people=people,
        paging=paged,
        zone=ZoneInfo(b["zone"]),
    )


def _people_page(
    tr: Any, breach_id: str, s: Signed, limit: int, offset: int
) -> tuple[list[Any], int]:
    mine = tr.breaches.for_tenant_people(breach_id, actor=s.actor, limit=limit, offset=offset)
    return mine["people"], mine["your_people_affected"]


def _back() -> Response:
    return RedirectResponse("/tenant", status_code=303)


@router.post("/tenant/invitations")
def invite(request: Request, form: FormDep) -> Response:
    s = member(request, form, action="invite")
    request.app.state.troth.access.tenants.invite(
        s.actor.tenant_id or "",
        form.get("email", ""),
        role=form.get("role") or "member",
        member_role=form.get("member_role") or None,
        by=s.actor,
    )
    return _back()


@router.post("/tenant/invitations/{invitation_id}/revoke")
def revoke_invitation(request: Request, invitation_id: Token, form: FormDep) -> Response:
    s = member(request, form, action="invitation_revoke")
    request.app.state.troth.access.tenants.revoke_invitation(invitation_id, by=s.actor)
    return _back()


@router.post("/tenant/members/{user_id}/revoke")
def revoke_member(request: Request, user_id: Token, form: FormDep) -> Response:
    s = member(request, form, action="member_revoke")
    request.app.state.troth.access.tenants.revoke_member(
        s.actor.tenant_id or "", user_id, by=s.actor
    )
    return _back()


@router.post("/tenant/members/{user_id}/role")
def member_role(request: Request, user_id: Token, form: FormDep) -> Response:
    """Give a member a role of the policy's (``for: tenant_members``), or none."""
    s = member(request, form, action="member_role")
    request.app.state.troth.access.tenants.set_member_role(
        s.actor.tenant_id or "", user_id, form.get("member_role") or None, by=s.actor
    )
    return _back()


@router.post("/tenant/grants/{grant_id}/{decision}")
def decide_grant(request: Request, grant_id: Token, decision: Token, form: FormDep) -> Response:
    known = decision in ("approve", "refuse", "revoke")
    s = member(request, form, action=f"grant_{decision}" if known else "grant_decide")
    access = request.app.state.troth.access
    actions = {
        "approve": access.grants.approve_grant,
        "refuse": access.grants.refuse_grant,
        "revoke": access.grants.revoke_grant,
    }
    if decision not in actions:
        raise PermissionDenied("decide with approve, refuse or revoke", code="unknown_decision")
    actions[decision](grant_id, by=s.actor)
    return _back()


@router.get("/tenant/export.json")
def export(request: Request) -> Response:
    """Everything the tenant's people have in troth's store (P29), streamed per person."""
    s = member(request, action="tenant.export")
    tid = s.actor.tenant_id or ""
    data = request.app.state.troth.access.tenants.export_tenant(tid, by=s.actor)
    body = json.dumps(data, indent=2, default=str)
    return file_download(body, f"tenant-{tid}.json", "application/json")


# -- invitations (the link in the e-mail) -------------------------------------------------
@router.get("/invitations")
def invitation_form(request: Request) -> Response:
    """The page the e-mailed link opens; the code rides after ``#`` and is posted."""
    return render(request, "tenant/accept.html", error=None)


@router.post("/invitations")
def accept(request: Request, form: PresessionFormDep) -> Response:
    user = request.app.state.troth.access.tenants.accept_invitation(
        form.get("code", "").strip(),
        form.get("password", ""),
        display_name=form.get("name") or None,
    )
    return RedirectResponse(f"/tenant/login?t={user.tenant_id}", status_code=303)


@router.api_route("/invitations/{rest:path}", methods=["GET", "POST"])
def invitation_in_url(request: Request, rest: str) -> Response:
    """The old link shape carried the code in the path, where access logs keep it."""
    raise ValidationError(
        "invitation codes are no longer accepted in the address; open the link from the"
        " e-mail again (the code travels after #), or paste the code at /invitations",
        code="secret_in_url",
    )
