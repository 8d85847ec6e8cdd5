"""Data-subject requests over HTTP: open one (with ``Idempotency-Key``), list them by
deadline, read one with its history, verify (the person's code, or staff with a reason),
extend, execute, refuse; and download an access export with its one-time code (POSTed).

Staff operations are the request desk (troth.office.request_desk): the office power
``manage_requests`` (a staff role the policy gives it; a key bound to no tenant with
``admin``, ``requests:admin`` or ``office:manage_requests``), or a key bound to a tenant
with ``requests:admin`` for that tenant's requests; opening a request and passing on the
person's code also accept ``requests``. A key bound to a tenant sees only that tenant's
requests (others are 404)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field, StrictInt

from troth.api.auth import ActorDep, TrothDep, require_scope
from troth.api.idempotency import IdemKey, once
from troth.api.models import ID_CUT, BodyIn, CutId, DayOrTime, Page
from troth.api.records import invalid_cursor
from troth.engine import Troth
from troth.errors import NotFound, ValidationError
from troth.gate import Actor, ActorKind
from troth.office import at_request_desk, request_desk
from troth.policy.model import Regime
from troth.requests.deadlines import extension_terms
from troth.requests.record import MARKS, RequestRecord
from troth.requests.states import RequestKind, RequestState
from troth.store.subjects import no_such_subject

router = APIRouter(tags=["requests"])

ADMIN = "requests:admin"
RequestId = Annotated[
    str, CutId, Path(min_length=1, max_length=ID_CUT + 1, description="A request id.")
]
Reason = Annotated[str, Field(min_length=1, max_length=2000)]


# -- shapes ----------------------------------------------------------------------------
class OpenIn(BodyIn):
    """Who asks for what. Give at least one of email, phone, customer_id, subject_id."""

    kind: RequestKind
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=64)
    customer_id: str | None = Field(default=None, max_length=200)
    subject_id: Annotated[str | None, CutId] = Field(default=None, max_length=ID_CUT + 1)
    tenant_id: Annotated[str | None, CutId] = Field(default=None, max_length=ID_CUT + 1)
    on_behalf_of: str | None = Field(
        default=None,
        max_length=320,
        description="The agent's name and capacity ('Mary Byrne, mother'); staff verify.",
    )
    agent_email: str | None = Field(
        default=None,
        max_length=320,
        description="The agent's own address (required with on_behalf_of, not the"
        " person's): every letter about the request goes there.",
    )
    regime: Regime | None = None
    details: dict[str, Any] | None = Field(
        default=None, description="e.g. {'changes': {...}} or {'purposes': [...]}"
    )
    received_at: DayOrTime | None = Field(
        default=None,
        description="When the request really arrived (default now; not in the future). A"
        " date, or a time without an offset, is in the organisation's time zone for the"
        " request's regime (organisation.time_zones[regime], else organisation.time_zone).",
    )


class CodeIn(BodyIn):
    code: str = Field(min_length=1, max_length=20, description="The one-time code e-mailed.")


class ReasonIn(BodyIn):
    reason: Reason


class ExtendIn(BodyIn):
    reason: Reason
    extend_by: StrictInt | None = Field(
        default=None,
        ge=1,
        le=366,
        description="How much longer, in the unit of the request's regime ("
        + extension_terms()
        + "); default: the whole extension the regime allows.",
    )


_BLIND = (
    " Null in the answer to opening a request for a caller that may not administer"
    " requests (a key with `requests` alone): it would tell whether, and where, the person"
    " is known (unless the caller named the `regime`)."
)


class RequestOut(BaseModel):
    id: str
    kind: str | None = Field(description="Null only in a list, for a row flagged `unreadable`.")
    state: str | None = Field(
        description="Null in a list for a row flagged `unreadable`; and"
        + _BLIND.replace(" Null", "", 1)
    )
    subject_id: str | None = Field(
        description="The person it is about (null: none matched)."
        " Null in the answer to opening a request for a caller that may not administer"
        " requests: that a person is known is their data too."
    )
    tenant_id: str | None
    regime: str | None = Field(description="The law its deadlines follow." + _BLIND)
    channel: str | None
    on_behalf: bool
    received_at: str | None
    received_on: str | None = Field(
        description="The day of receipt in the organisation's time zone for the request's"
        " regime (organisation.time_zones[regime], else organisation.time_zone)." + _BLIND
    )
    acknowledge_by: str | None
    due_at: str | None = Field(description="The legal deadline." + _BLIND)
    extended_due_at: str | None
    extension_reason: str | None
    deadline: str | None = Field(description="The deadline that holds now." + _BLIND)
    overdue: bool | None
    verified_at: str | None = Field(description="When the person's identity was verified." + _BLIND)
    verification: str | None = Field(
        description="How: `code`, `staff`, `customer`, `signin`; `not_required` for an opt-out"
        " of sale/sharing (CCPA 11 CCR 7026(d): carried out without verification)." + _BLIND
    )
    details: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    closed_at: str | None
    adult_since: str | None = Field(
        default=None,
        description="Made on the person's behalf: the day their stored date of birth says"
        " they turned 18 (a parent's authority has ended; staff check their own).",
    )
    agent_warning: str | None = Field(
        default=None, description="What staff must check before verifying the agent."
    )
    download_code: str | None = Field(
        default=None,
        description=(
            "Only in execute's answer to an access request: the one-time code to POST to"
            " /api/v1/exports (it never goes in a URL)."
        ),
    )
    tampered: bool = Field(
        default=False,
        description="The row was changed outside troth: listed, flagged; every step on it"
        " is refused (409 record_tampered). `troth audit verify` names it.",
    )
    unreadable: list[str] = Field(
        default_factory=list,
        description="In a list: the columns holding a value troth never writes (each such"
        " field is null, never the value).",
    )


class EventOut(BaseModel):
    at: str
    actor: str
    event: str
    from_state: str | None
    to_state: str | None
    details: dict[str, Any]


class RequestDetailOut(RequestOut):
    history: list[EventOut]


class RequestPage(Page):
    items: list[RequestOut]


# What the answer to opening a request would tell of where the person matched lives: the
# regime, the deadlines and day of receipt it sets, and whether it waits for a code (an
# opt-out of sale/sharing opens verified under a regime with an opt-out rule of its own:
# troth.requests.opt_out).
REGIME_DERIVED = (
    "regime",
    "received_on",
    "acknowledge_by",
    "due_at",
    "deadline",
    "overdue",
    "state",
    "verified_at",
    "verification",
)


def request_out(
    t: Troth, r: RequestRecord, actor: Actor | None, *, download: bool = False
) -> dict[str, Any]:
    """The JSON of a request as ``actor`` may read it (the contact address is never
    returned; a correction's values as the gate lets them read each: troth.requests.shown).
    None: the answer to opening it, to the caller who gave its details."""
    d = (r if actor is None else t.requests.shown(r, actor)).to_dict()
    for gone in ("email", "agent_email", "on_behalf_of", "acknowledged_at", "verified_by"):
        d.pop(gone, None)
    d["overdue"] = r.overdue(t.requests.today(r.regime))
    d["download_code"] = r.download_token if download and r.download_token else None
    return RequestOut(**d).model_dump()


def opened_out(t: Troth, actor: Actor, body: OpenIn, r: RequestRecord) -> dict[str, Any]:
    """The answer to opening a request. A caller that may not administer requests (and
    so may not look people up: a key with ``requests`` alone) gets the same answer
    whether or not the person is known: no person, no customer but the one it named or
    is bound to, and no regime, deadline or day of receipt it did not set by naming the
    regime (each is the person's where they are known)."""
    out = request_out(t, r, None)  # the details it gave, as it gave them
    if at_request_desk(t.ctx, actor):
        return out
    out["subject_id"] = None
    out["tenant_id"] = actor.tenant_id or body.tenant_id
    out["adult_since"] = out["agent_warning"] = None  # the person's age: theirs too
    # troth's marks say whose person it reached (a customer's): not for this caller either
    out["details"] = {k: v for k, v in out["details"].items() if k not in MARKS}
    if body.regime is None:
        out.update(dict.fromkeys(REGIME_DERIVED))
    return out


def _event(e: dict[str, Any]) -> EventOut:
    return EventOut(
        at=e["at"].isoformat(),
        actor=e["actor"],
        event=e["event"],
        from_state=e["from_state"],
        to_state=e["to_state"],
        details=dict(e["details"] or {}),
    )


def _visible(t: Troth, actor: Actor, request_id: str, *, listed: bool = False) -> RequestRecord:
    """The request, or 404 for an unknown id or one of another tenant. ``listed``: as a
    list shows it (a row changed outside troth flagged, not refused: a list's cursor)."""
    req = t.requests.get_listed(request_id) if listed else t.requests.get(request_id)
    if actor.tenant_id is not None and req.tenant_id != actor.tenant_id:
        raise NotFound(f"no request {request_id!r}", code="unknown_request")
    return req


def _at_desk(t: Troth, actor: Actor, request_id: str) -> RequestRecord:
    """The request as the requests desk sees it: the actor must hold the desk's power
    (troth.office decides, audited), and the request must be in the actor's reach."""
    request_desk(t.ctx, actor)
    return _visible(t, actor, request_id)


def _key_or_desk(t: Troth, actor: Actor) -> None:
    """Who may open a request, verify one with the person's code or download an export:
    a key with the scope ``requests`` (or ``requests:admin``, ``admin``), anyone else at
    the requests desk (the power ``manage_requests``; troth.office decides, audited)."""
    require_scope(t, actor, "requests", ADMIN)
    if actor.kind is not ActorKind.application:
        request_desk(t.ctx, actor)


def _staff_label(actor: Actor) -> str:
    return actor.id if actor.kind is ActorKind.staff else actor.label


# -- endpoints ---------------------------------------------------------------------------
@router.post(
    "/requests",
    status_code=201,
    response_model=RequestOut,
    summary="Open a request (acknowledged; a code is e-mailed to verify the person)",
)
async def open_request(
    request: Request,
    body: OpenIn,
    actor: ActorDep,
    t: TrothDep,
    idempotency_key: IdemKey = None,
) -> Any:
    _key_or_desk(t, actor)
    # A tenant-bound key opens requests for its own tenant's people only: the requests
    # service decides (another tenant or its person: 404, audited as refused).

    def work() -> tuple[int, Any]:
        req = t.requests.open(**body.model_dump(), channel="api", actor=actor)
        if actor.tenant_id is not None and req.tenant_id != actor.tenant_id:
            raise no_such_subject(body.subject_id or "")
        return 201, opened_out(t, actor, body, req)

    return await once(request, t, actor, idempotency_key, work)


@router.get("/requests", response_model=RequestPage, summary="Requests, oldest deadline first")
def list_requests(
    actor: ActorDep,
    t: TrothDep,
    due_within: Annotated[
        int | None, Query(ge=0, le=3650, description="Open ones due within N days (0: today).")
    ] = None,
    overdue: Annotated[bool, Query(description="Only those past their deadline.")] = False,
    state: Annotated[
        RequestState | None, Query(description="Only this state (closed ones too).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=64, description="`next_cursor` of the previous page.")
    ] = None,
) -> RequestPage:
    request_desk(t.ctx, actor)
    after = None
    if cursor is not None:
        after = cursor if cursor.isalnum() else ""
        try:
            _visible(t, actor, after, listed=True)
        except NotFound:
            raise invalid_cursor() from None
    items: list[dict[str, Any]] = []
    more = False
    # A tenant-bound key filters after the fact; keep reading pages until one is full.
    while True:
        batch = t.requests.list(
            due_within=due_within, overdue=overdue, state=state, limit=limit + 1, after=after
        )
        for r in batch:
            if actor.tenant_id is None or r.tenant_id == actor.tenant_id:
                if len(items) == limit:
                    more = True
                    break
                items.append(request_out(t, r, actor))
        if more or len(batch) <= limit:
            break
        after = batch[-1].id
    return RequestPage(
        items=[RequestOut(**i) for i in items],
        next_cursor=items[-1]["id"] if more and items else None,
    )


@router.get(
    "/requests/{request_id}", response_model=RequestDetailOut, summary="A request and its history"
)
def get_request(request_id: RequestId, actor: ActorDep, t: TrothDep) -> RequestDetailOut:
    req = _at_desk(t, actor, request_id)
    history = [_event(e) for e in t.requests.history(request_id)]
    return RequestDetailOut(**request_out(t, req, actor), history=history)


@router.post(
    "/requests/{request_id}/verify",
    response_model=RequestOut,
    summary="Verify the person with the code they were e-mailed",
)
def verify(request_id: RequestId, body: CodeIn, actor: ActorDep, t: TrothDep) -> Any:
    _key_or_desk(t, actor)
    _visible(t, actor, request_id)
    return request_out(t, t.requests.verify(request_id, body.code), actor)


@router.post(
    "/requests/{request_id}/verify-by-staff",
    response_model=RequestOut,
    summary="Verify the person (or the authority to act for them) by staff, with a reason",
)
def verify_by_staff(request_id: RequestId, body: ReasonIn, actor: ActorDep, t: TrothDep) -> Any:
    _at_desk(t, actor, request_id)
    req = t.requests.verify_by_staff(
        request_id, staff=_staff_label(actor), reason=body.reason, actor=actor
    )
    return request_out(t, req, actor)


@router.post(
    "/requests/{request_id}/extend",
    response_model=RequestOut,
    summary="Extend the deadline within the law's window; the person is told why",
)
def extend(request_id: RequestId, body: ExtendIn, actor: ActorDep, t: TrothDep) -> Any:
    _at_desk(t, actor, request_id)
    req = t.requests.extend(request_id, body.reason, extend_by=body.extend_by, actor=actor)
    return request_out(t, req, actor)


@router.post(
    "/requests/{request_id}/execute",
    response_model=RequestOut,
    summary="Carry out a verified request over troth and every connected system",
)
def execute(request_id: RequestId, actor: ActorDep, t: TrothDep) -> Any:
    _at_desk(t, actor, request_id)
    return request_out(t, t.requests.execute(request_id, actor=actor), actor, download=True)


@router.post(
    "/requests/{request_id}/refuse",
    response_model=RequestOut,
    summary="Refuse a request; the person is told the reason",
)
def refuse(request_id: RequestId, body: ReasonIn, actor: ActorDep, t: TrothDep) -> Any:
    _at_desk(t, actor, request_id)
    return request_out(t, t.requests.refuse(request_id, reason=body.reason, actor=actor), actor)


class DownloadIn(BodyIn):
    code: str = Field(
        min_length=1, max_length=200, description="The one-time code from execute's answer."
    )


@router.post(
    "/exports",
    response_class=Response,
    summary="Download an access export (ZIP) with its one-time code",
    description=(
        "The code goes in the body, never in the URL. It works once and only for an export"
        " of the caller's reach: a key bound to a tenant downloads only that tenant's"
        " exports; anything else is 404."
    ),
    responses={200: {"content": {"application/zip": {}}}},
)
def download(body: DownloadIn, actor: ActorDep, t: TrothDep) -> Response:
    _key_or_desk(t, actor)
    data = t.requests.download(body.code, actor=actor)
    return Response(
        data,
        media_type="application/zip",
        headers={"Content-Disposition": 'attachment; filename="data-export.zip"'},
    )


@router.get("/exports/{token}", include_in_schema=False)
def download_in_url(token: str) -> Response:
    """The old shape put the code in the URL, where access logs keep it: refused."""
    raise ValidationError(
        "a download code is never accepted in the URL; POST it to /api/v1/exports as"
        ' {"code": "..."}',
        code="secret_in_url",
    )
