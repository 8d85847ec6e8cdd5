"""Collect, read, find and consent: the Python API's core paths over HTTP."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field, TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from troth.access.apikeys import has_scope
from troth.api.auth import (
    ActorDep,
    TrothDep,
    bearer_scheme,
    client_ip,
    cookie_scheme,
    current_actor,
    require_scope,
)
from troth.api.gpc import CollectionGpc, Gpc
from troth.api.idempotency import IdemKey, once
from troth.api.models import (
    ID_CUT,
    BodyIn,
    CollectOut,
    ConsentOut,
    ConsentStateOut,
    CutId,
    FoundOut,
    ViewOut,
    consent_out,
)
from troth.consent import ConsentMethod, gpc_present
from troth.engine import Troth
from troth.errors import NotFound, ValidationError
from troth.gate import Actor, Record
from troth.policy.model import Regime
from troth.store.subjects import lookup_subject, no_such_subject

router = APIRouter(tags=["subjects"])

SubjectId = Annotated[
    str, CutId, Path(min_length=1, max_length=ID_CUT + 1, description="A subject id.")
]
# The 403s routes here document besides the router's own, each written once: a refusal
# carries its reason.
REFUSED_BY_POLICY: dict[int | str, dict[str, Any]] = {
    403: {"description": "Refused by the policy (problem with `reason`)"}
}
REFUSED: dict[int | str, dict[str, Any]] = {403: {"description": "Refused (problem with `reason`)"}}


class CollectIn(BodyIn):
    """What arrived through a collection point."""

    # Typed Any here so that a list, text or null reaches the collection service, which
    # refuses it and audits the attempt (the schema still says: an object).
    data: Any = Field(
        description="Field -> value, as the collection point declares.",
        json_schema_extra={"type": "object"},
    )
    subject_id: Annotated[str | None, CutId] = Field(default=None, max_length=ID_CUT + 1)
    tenant_id: Annotated[str | None, CutId] = Field(default=None, max_length=ID_CUT + 1)
    jurisdiction: Regime | None = None
    location: str | None = Field(default=None, max_length=64)
    supplier: str | None = Field(
        default=None,
        max_length=200,
        description="Required for a third-party collection point: who supplied the data.",
    )
    consents: list[str] = Field(default_factory=list, max_length=100)


class GrantIn(BodyIn):
    notice_text: str | None = Field(
        default=None,
        max_length=100_000,
        description="The exact text shown (default: the policy's).",
    )
    two_step_confirmed: bool = Field(
        default=False,
        description="The person asked to opt in, then separately confirmed it: needed for a"
        " sale/sharing purpose they opted out of less than 12 months ago (else 403"
        " opted_out_recently).",
    )


def visible_subject(t: Troth, actor: Actor, subject_id: str) -> None:
    """An actor bound to a tenant sees only that tenant's people; anything else is 404
    (not 403), so ids of another tenant reveal nothing."""
    subj = lookup_subject(t.ctx, subject_id)
    if actor.tenant_id is not None and subj.tenant_id != actor.tenant_id:
        raise no_such_subject(subject_id)


@router.post(
    "/collect/{point}",
    status_code=201,
    response_model=CollectOut,
    summary="Store data arriving through a collection point",
    responses=REFUSED_BY_POLICY,
)
async def collect(
    request: Request,
    point: Annotated[str, Path(max_length=80)],
    body: CollectIn,
    actor: ActorDep,
    t: TrothDep,
    sec_gpc: CollectionGpc,
    idempotency_key: IdemKey = None,
) -> Any:
    """With `Sec-GPC: 1`, the person is opted out of sale/sharing whatever the outcome:
    a collection refused still records the signal for the person it names (or finds by
    the e-mail, phone or customer id it carries), as far as the key may reach."""
    require_scope(t, actor, "collect", f"collect:{point}")
    tenant = body.tenant_id
    if actor.tenant_id is not None:
        if tenant not in (None, actor.tenant_id):
            raise NotFound(f"no tenant {tenant!r}")
        tenant = actor.tenant_id

    def work() -> tuple[int, Any]:
        result = t.collect(
            point,
            body.data,
            actor=actor,
            subject_id=body.subject_id,
            tenant_id=tenant,
            jurisdiction=body.jurisdiction,
            location=body.location,
            supplier=body.supplier,
            consents=body.consents,
        )
        if gpc_present(sec_gpc):
            t.consent.record_gpc(result.subject_id, signal=sec_gpc, origin=client_ip(request))
        return 201, CollectOut.of(result).model_dump()

    if body.subject_id is not None:
        await run_in_threadpool(visible_subject, t, actor, body.subject_id)
    return await once(request, t, actor, idempotency_key, work)


Purpose = Annotated[str, Query(min_length=1, max_length=80)]
Categories = Annotated[
    str | None, Query(max_length=2000, description="Comma-separated categories (default: all).")
]


# (where, name) -> the validator of that parameter, from the annotations documented below.
_READ_PARAMS: tuple[tuple[str, str, TypeAdapter[Any]], ...] = (
    ("path", "subject_id", TypeAdapter(SubjectId)),
    ("query", "purpose", TypeAdapter(Purpose)),
    ("query", "categories", TypeAdapter(Categories)),
)


async def _serve_read(request: Request) -> Response:
    """GET /subjects/{id} as served: the same checks as the documented signature of
    :func:`read_subject` (the same annotations validate each parameter; the same
    security schemes and :func:`current_actor` authenticate), without FastAPI's
    per-request dependency solving and response re-validation (10 to 20% of this
    endpoint's server CPU time, measured: 683 to 749 us a request against 751 to 939 us).
    Errors become the same problem documents."""
    # Authenticate first, as FastAPI's dependencies would: a caller without credentials
    # learns nothing about the parameters.
    actor = await current_actor(request, await bearer_scheme(request), await cookie_scheme(request))
    values: dict[str, Any] = {}
    errors: list[dict[str, Any]] = []
    for where, name, adapter in _READ_PARAMS:
        source = request.path_params if where == "path" else request.query_params
        raw = source.get(name)
        if raw is None and name != "categories":
            errors.append({"type": "missing", "loc": (where, name), "msg": "Field required"})
            continue
        try:
            values[name] = adapter.validate_python(raw)
        except PydanticValidationError as exc:
            for e in exc.errors(include_url=False):
                errors.append({**e, "loc": (where, name, *e["loc"])})
    if errors:
        raise RequestValidationError(errors)
    t: Troth = request.app.state.troth
    view = await read_subject(
        values["subject_id"], actor, t, values["purpose"], values["categories"]
    )
    return Response(view.model_dump_json().encode(), media_type="application/json")


class _ServedLean(APIRoute):
    """A route documented from its endpoint's signature, served by :func:`_serve_read`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        return _serve_read


async def read_subject(
    subject_id: SubjectId,
    actor: ActorDep,
    t: TrothDep,
    purpose: Purpose,
    categories: Categories = None,
) -> ViewOut:
    """Read a person's data for a purpose. (FastAPI documents the endpoint from this
    signature; ``_serve_read`` checks the request the same way, then calls this.)"""
    if not has_scope(actor, "use", f"use:{purpose}"):
        # The refusal is audited (a write): off the event loop.
        await run_in_threadpool(require_scope, t, actor, "use", f"use:{purpose}")
    cats = [c for c in categories.split(",") if c] if categories else None
    # On SQLite the snapshot read and the decision run on the event loop (they never
    # wait for a lock) and the audit entry is committed with the others of this turn of
    # the loop; elsewhere the read runs in a worker thread (Troth.use_async).
    # Another tenant's person, refused to a tenant-bound actor (audited by use(), under the
    # actor's tenant), is answered as an unknown id: the refusal is shown as one (shown_as).
    view = await t.use_async(subject_id, purpose=purpose, actor=actor, categories=cats)
    return ViewOut.of(view)


router.add_api_route(
    "/subjects/{subject_id}",
    read_subject,
    methods=["GET"],
    response_model=ViewOut,
    summary="Read a person's data for a purpose",
    description=(
        "The values the policy lets this purpose see; `masked` names each withheld field"
        " and why. Every read, allowed or refused, is in the audit log before it returns."
    ),
    responses=REFUSED_BY_POLICY,
    route_class_override=_ServedLean,
)


class FindIn(BodyIn):
    """Who to look up: one of email, phone, customer_id (in the body, never the URL)."""

    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=64)
    customer_id: str | None = Field(default=None, max_length=200)


@router.post(
    "/search/subjects",
    response_model=FoundOut,
    summary="Find a person by e-mail, phone or customer id (in the body, never the URL)",
)
def find_subject(body: FindIn, actor: ActorDep, t: TrothDep) -> FoundOut:
    require_scope(t, actor, "use")
    if not (body.email or body.phone or body.customer_id):
        raise ValidationError("give email, phone or customer_id to look a person up")
    sid = t.access.records.find_for(
        actor, email=body.email, phone=body.phone, customer_id=body.customer_id
    )
    return FoundOut(subject_id=sid)


@router.get("/subjects", include_in_schema=False)
def find_subject_in_url() -> FoundOut:
    """The old lookup put the address in the URL, where access logs keep it: refused."""
    raise ValidationError(
        "a person is never looked up in the URL (access logs keep it); POST"
        ' {"email": ...} (or phone, customer_id) to /api/v1/search/subjects',
        code="personal_data_in_url",
    )


@router.get(
    "/subjects/{subject_id}/consents",
    response_model=ConsentStateOut,
    tags=["consent"],
    summary="Current consent per purpose",
)
def consent_state(subject_id: SubjectId, actor: ActorDep, t: TrothDep) -> ConsentStateOut:
    require_scope(t, actor, "use", "collect")
    state = t.access.records.consents_for(actor, subject_id)
    return ConsentStateOut.of(subject_id, state)


def _authorize_consent_write(
    t: Troth, actor: Actor, subject_id: str, purpose: str | None = None
) -> None:
    """That ``actor`` may record a consent event for the person: a key needs the
    ``collect`` scope, and the person must be one whose consents the actor may write
    (decided, and audited, by the access service); a consent given (``purpose``) to the
    vendor's own purpose is never a customer's to record (``vendor_only``)."""
    require_scope(t, actor, "collect")
    t.access.records.authorize_record(
        actor, subject_id, Record.consents, write=True, purpose=purpose
    )


@router.post(
    "/subjects/{subject_id}/consents/{purpose}/grant",
    status_code=201,
    response_model=ConsentOut,
    tags=["consent"],
    summary="Record a consent (returns the signed receipt)",
)
async def grant_consent(
    request: Request,
    subject_id: SubjectId,
    purpose: Annotated[str, Path(max_length=80)],
    actor: ActorDep,
    t: TrothDep,
    body: GrantIn | None = None,
    idempotency_key: IdemKey = None,
) -> Any:
    await run_in_threadpool(_authorize_consent_write, t, actor, subject_id, purpose)

    def work() -> tuple[int, Any]:
        rec = t.consent.grant(
            subject_id,
            purpose,
            method=ConsentMethod.api,
            notice_text=body.notice_text if body else None,
            origin=client_ip(request),
            user_agent=request.headers.get("user-agent"),
            actor=actor.label,
            two_step=body.two_step_confirmed if body else False,
        )
        return 201, consent_out(rec).model_dump(mode="json")

    return await once(request, t, actor, idempotency_key, work)


@router.post(
    "/subjects/{subject_id}/consents/{purpose}/withdraw",
    response_model=ConsentOut,
    tags=["consent"],
    summary="Withdraw a consent (holds from the next decision)",
)
def withdraw_consent(
    request: Request,
    subject_id: SubjectId,
    purpose: Annotated[str, Path(max_length=80)],
    actor: ActorDep,
    t: TrothDep,
) -> ConsentOut:
    _authorize_consent_write(t, actor, subject_id)
    rec = t.consent.withdraw(
        subject_id,
        purpose,
        method=ConsentMethod.api,
        origin=client_ip(request),
        user_agent=request.headers.get("user-agent"),
        actor=actor.label,
    )
    return consent_out(rec)


@router.post(
    "/subjects/{subject_id}/gpc",
    response_model=list[ConsentOut],
    tags=["consent"],
    summary="Record a Global Privacy Control signal (send `Sec-GPC: 1`)",
)
def record_gpc(
    request: Request,
    subject_id: SubjectId,
    actor: ActorDep,
    t: TrothDep,
    sec_gpc: Gpc = None,
) -> list[ConsentOut]:
    """Only the exact value ``1`` is a signal; no header or any other value (``0``,
    ``true``...) is none: nothing is recorded and the answer is an empty list, as it is
    when the person has already opted out of everything GPC covers."""
    _authorize_consent_write(t, actor, subject_id)
    recs = t.consent.record_gpc(subject_id, signal=sec_gpc, origin=client_ip(request))
    return [consent_out(r) for r in recs]


class RelationshipEndIn(BodyIn):
    """When and why the relationship with the person ended."""

    at: str | None = Field(
        default=None,
        max_length=64,
        description="ISO 8601 date or time (default now); a date, or a time without offset,"
        " is read in the organisation's time zone for the person's regime (time_zones[regime],"
        " else time_zone; a time its clocks skipped or showed twice is a 422); never in the"
        " future, never before the day troth first knew the person (422 time_before_person,"
        " with `earliest`).",
    )
    reason: str | None = Field(
        default=None,
        max_length=200,
        description="Why (rejected, left, contract ended): recorded in the audit log, so"
        " never details about the person.",
    )
    correct: bool = Field(
        default=False,
        description="Replace an end already recorded (else the first stays): an `admin` key"
        " only (a `collect` key records an end, never moves one: 403 scope_missing).",
    )


class RelationshipResumeIn(BodyIn):
    reason: str | None = Field(default=None, max_length=200, description="Why (re-hired...).")


class RelationshipOut(BaseModel):
    subject_id: str
    ended_at: str | None = Field(description="When it ended; null: it runs.")
    changed: bool = Field(description="False: it already stood so (an end asked again).")
    previous_ended_at: str | None


@router.post(
    "/subjects/{subject_id}/relationship/end",
    response_model=RelationshipOut,
    summary="Record that the relationship with the person ended (retention clocks start)",
    responses=REFUSED,
)
def end_relationship(
    subject_id: SubjectId, actor: ActorDep, t: TrothDep, body: RelationshipEndIn | None = None
) -> RelationshipOut:
    asked = body or RelationshipEndIn()
    r = t.subjects.end_relationship(
        subject_id, at=asked.at, reason=asked.reason, correct=asked.correct, actor=actor
    )
    return RelationshipOut(**r.to_dict())


@router.post(
    "/subjects/{subject_id}/relationship/resume",
    response_model=RelationshipOut,
    summary="The person came back: the relationship runs again",
    responses=REFUSED,
)
def resume_relationship(
    subject_id: SubjectId, actor: ActorDep, t: TrothDep, body: RelationshipResumeIn | None = None
) -> RelationshipOut:
    reason = body.reason if body else None
    return RelationshipOut(
        **t.subjects.resume_relationship(subject_id, reason=reason, actor=actor).to_dict()
    )
