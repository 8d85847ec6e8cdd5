"""The privacy office over HTTP: retention (plan, run, legal holds), the breach register
(record, list, read with its clocks, regulator told, people told) and legal demands.

Each function is the vendor office's: the domain service decides it with the whole actor
(troth.office: a staff role the policy gives the power, or an API key bound to no tenant
with ``admin`` or ``office:<power>``); a refusal is a 403 ``refused`` problem with its
reason, audited. Creating POSTs take ``Idempotency-Key``; lists page with ``limit`` and
``cursor``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from pydantic import Field, StrictBool

from troth.api.auth import ActorDep, TrothDep
from troth.api.idempotency import IdemKey, once
from troth.api.models import ID_CUT, BodyIn, CutId, Day, IdText, Instant
from troth.api.records import Cursor, Limit, decode_cursor, encode_cursor
from troth.disclosures.demands import list_demands
from troth.engine import Troth
from troth.gate import Actor

router = APIRouter()
# The office's three parts, each its own router: its paths' start and its OpenAPI tag are
# given once here. They join ``router`` at the end of the module, once their routes are
# declared (``include_router`` copies the routes a router has when it is called).
retention = APIRouter(prefix="/retention", tags=["retention"])
breaches = APIRouter(prefix="/breaches", tags=["breaches"])
demands = APIRouter(prefix="/legal-demands", tags=["disclosures"])

T = TypeVar("T")
Id = Annotated[
    str, CutId, Path(min_length=1, max_length=ID_CUT + 1, description="An id troth gave out.")
]
Text200 = Annotated[str, Field(min_length=1, max_length=200)]
Text2000 = Annotated[str, Field(min_length=1, max_length=2000)]


# -- helpers shared by the office's modules --------------------------------------------
def page_of(
    items: Sequence[T], limit: int, cursor: str | None, out: Callable[[T], Any]
) -> dict[str, Any]:
    """One page of a short, stably ordered list: ``{"items": [...], "next_cursor": ...}``."""
    return page_read(lambda start, count: items[start : start + count], limit, cursor, out)


def page_read(
    read: Callable[[int, int], Sequence[T]],
    limit: int,
    cursor: str | None,
    out: Callable[[T], Any],
) -> dict[str, Any]:
    """One page of a stably ordered list that ``read(offset, count)`` reads, as
    :func:`page_of` answers it; one item past the page is read to know whether another
    follows."""
    start = decode_cursor(cursor) or 0
    found = read(start, limit + 1)
    more = len(found) > limit
    return {
        "items": [out(x) for x in found[:limit]],
        "next_cursor": encode_cursor(start + limit) if more else None,
    }


# -- retention ---------------------------------------------------------------------------
class RunIn(BodyIn):
    # A JSON boolean and nothing else: lax parsing would read 0, "no" or "off" as false,
    # and run retention for real.
    dry_run: StrictBool = Field(
        default=True, description="Report only (the default), or apply: a JSON boolean."
    )


class HoldIn(BodyIn):
    """A legal hold on one person or one whole tenant (give exactly one)."""

    reason: Text2000
    subject_id: IdText | None = None
    tenant_id: IdText | None = None
    purposes: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        default=None,
        max_length=100,
        description="The purposes the hold serves: usable for the person while it defers"
        " their erasure.",
    )


@retention.get("/plan", summary="What a retention run would do now")
def retention_plan(actor: ActorDep, t: TrothDep, as_of: Day | None = None) -> dict[str, Any]:
    """``as_of`` (YYYY-MM-DD, today or later): what a run on that day would do instead."""
    if as_of is not None:
        return t.retention.plan_for_day(as_of, actor=actor).to_dict()
    return t.retention.plan(actor=actor).to_dict()


@retention.post("/run", summary="Run retention (dry by default)")
def retention_run(body: RunIn, actor: ActorDep, t: TrothDep) -> dict[str, Any]:
    return t.retention.run(dry_run=body.dry_run, actor=actor).to_dict()


@retention.post("/holds", status_code=201, summary="Place a legal hold")
async def hold_place(
    request: Request, body: HoldIn, actor: ActorDep, t: TrothDep, idempotency_key: IdemKey = None
) -> Response:
    def work() -> tuple[int, Any]:
        hid = t.retention.place_hold(**body.model_dump(), actor=actor)
        out = {"id": hid, "subject_id": body.subject_id, "tenant_id": body.tenant_id}
        return 201, {**out, "purposes": sorted(set(body.purposes or ()))}

    return await once(request, t, actor, idempotency_key, work)


@retention.delete("/holds/{hold_id}", status_code=204, summary="Lift a hold")
def hold_lift(hold_id: Id, actor: ActorDep, t: TrothDep) -> Response:
    t.retention.lift_hold(hold_id, actor=actor)
    return Response(status_code=204)


@retention.get("/holds", summary="The legal holds in force")
def holds_list(
    actor: ActorDep, t: TrothDep, limit: Limit = 50, cursor: Cursor = None
) -> dict[str, Any]:
    """The office's own list (power ``manage_holds``), oldest first: each hold's id,
    reason, person or tenant, and when and by whom it was placed."""
    found = t.retention.active_holds(actor=actor)
    return page_of(found, limit, cursor, _hold_out)


def _hold_out(h: dict[str, Any]) -> dict[str, Any]:
    return {**h, "placed_at": h["placed_at"].isoformat()}


# -- breaches ----------------------------------------------------------------------------
class BreachIn(BodyIn):
    title: Text200
    description: Text2000
    discovered_at: Instant
    occurred_from: Instant
    occurred_until: Instant
    categories: list[Annotated[str, Field(min_length=1, max_length=80)]] = Field(
        min_length=1, max_length=100
    )
    systems: list[Annotated[str, Field(min_length=1, max_length=80)]] | None = Field(
        default=None, max_length=100, description="Default: troth's own store."
    )
    aware_at: Instant | None = Field(default=None, description="Default: discovered_at.")
    regimes: list[Annotated[str, Field(min_length=1, max_length=16)]] | None = Field(
        default=None,
        max_length=20,
        description="Regimes whose clocks run besides those of the people affected (the"
        " organisation's stand in while no one affected is known).",
    )
    high_risk: StrictBool = False
    tenants: list[IdText] = Field(
        default_factory=list, max_length=1000, description="Only people of these tenants."
    )
    subject_ids: list[IdText] = Field(
        default_factory=list, max_length=100000, description="Only these people."
    )
    actors: list[Annotated[str, Field(min_length=1, max_length=255)]] | None = Field(
        default=None,
        max_length=100,
        description="Only what these actors read counts from the audit log (a rogue account).",
    )


class ExcludeIn(BodyIn):
    subject_ids: list[IdText] = Field(min_length=1, max_length=10000)
    reason: str = Field(min_length=1, max_length=2000)


_CORRECTION = Field(
    default=None,
    min_length=1,
    max_length=2000,
    description="Correct the earlier record (recorded once): the reason. The earlier record"
    " stays in the breach's history; without it a second record is refused (409).",
)


class NotifiedIn(BodyIn):
    at: Instant
    late_reason: str | None = Field(default=None, min_length=1, max_length=4000)
    correction: str | None = _CORRECTION


class PublicNoticeIn(BodyIn):
    at: Instant
    how: str | None = Field(
        default=None,
        min_length=1,
        max_length=2000,
        description="Where and how the public notice was given (needed the first time).",
    )
    correction: str | None = _CORRECTION


class NotifyIn(BodyIn):
    template: str = Field(
        min_length=1,
        max_length=20000,
        description="Jinja2; variables organisation, breach, contact, dpo.",
    )
    subject: str | None = Field(default=None, min_length=1, max_length=200)


class ControllersIn(BodyIn):
    measures: Text2000 = Field(description="What is being done: each customer is told it.")


def breach_out(t: Troth, breach_id: str, actor: Actor) -> dict[str, Any]:
    out = t.breaches.get(breach_id, actor=actor).to_dict()
    out["clocks"] = t.breaches.clocks(breach_id, actor=actor)
    out["controllers"] = t.breaches.controllers(breach_id, actor=actor)
    public = out["public_notice"]
    out["people"] = _people(t.breaches.notify_preview(breach_id, actor=actor), public)
    return out


def _people(preview: dict[str, Any], public: dict[str, Any] | None) -> dict[str, Any]:
    """The notify preview, with what to do about people troth could not tell."""
    from troth.breaches.steps import INDIRECT_BASIS

    todo = None
    if preview["unreachable"] and public is None:
        todo = (
            f"{preview['unreachable']} affected not told: no address. Give a public notice"
            f" ({INDIRECT_BASIS}) and record it: POST .../public-notice"
        )
    return {**preview, "not_told_no_address": preview["unreachable"], "next_step": todo}


@breaches.post("", status_code=201, summary="Record a breach")
async def breach_record(
    request: Request,
    body: BreachIn,
    actor: ActorDep,
    t: TrothDep,
    idempotency_key: IdemKey = None,
) -> Response:
    def work() -> tuple[int, Any]:
        # No systems given: the service's default (troth's own store).
        fields = body.model_dump(exclude={"systems"} if body.systems is None else None)
        b = t.breaches.record_breach(**fields, actor=actor)
        return 201, breach_out(t, b.id, actor)

    return await once(request, t, actor, idempotency_key, work)


@breaches.get("", summary="The breach register, oldest first")
def breach_list(
    actor: ActorDep, t: TrothDep, limit: Limit = 50, cursor: Cursor = None
) -> dict[str, Any]:
    """The vendor's office: the whole register. A key bound to a customer (tenant), with
    the scope ``breaches`` or ``admin``: the breaches that affect that customer's own
    people, with its own counts only."""
    if actor.tenant_id is not None:
        return page_of(t.breaches.for_tenant(actor=actor), limit, cursor, lambda b: b)
    return page_of(t.breaches.list_breaches(actor=actor), limit, cursor, lambda b: b.to_dict())


@breaches.get("/{breach_id}", summary="A breach with its clocks")
def breach_read(breach_id: Id, actor: ActorDep, t: TrothDep) -> dict[str, Any]:
    """A customer's key: the breach as that customer sees it (404 for a breach that
    affects none of its people, as for one that does not exist)."""
    if actor.tenant_id is not None:
        return t.breaches.for_tenant(actor=actor, breach_id=breach_id)[0]
    return breach_out(t, breach_id, actor)


@breaches.post(
    "/{breach_id}/notify-controllers",
    summary="Tell each customer whose people the breach affects (once each)",
)
def breach_notify_controllers(
    breach_id: Id, body: ControllersIn, actor: ActorDep, t: TrothDep
) -> dict[str, Any]:
    told = t.breaches.notify_controllers(breach_id, measures=body.measures, actor=actor)
    return {**told, "breach": breach_out(t, breach_id, actor)}


@breaches.get(
    "/{breach_id}/affected",
    summary="The affected people, for review before notifying",
    description="Each person's id, tenant, why they are affected (data, dataset, recipient,"
    " audit), whether troth has an address to tell them at, and when they were told. A key"
    " bound to a customer (scope breaches or admin), once the customer was told of the"
    " breach: its own people only, each with the contact details the gate lets the key"
    " read (its scopes: use), and your_people_affected.",
)
def breach_affected(
    breach_id: Id, actor: ActorDep, t: TrothDep, limit: Limit = 50, cursor: Cursor = None
) -> dict[str, Any]:
    if actor.tenant_id is not None:
        start = decode_cursor(cursor) or 0
        mine = t.breaches.for_tenant_people(breach_id, actor=actor, limit=limit, offset=start)
        more = start + len(mine["people"]) < mine["your_people_affected"]
        return {
            "items": mine["people"],
            "next_cursor": encode_cursor(start + limit) if more else None,
            "your_people_affected": mine["your_people_affected"],
        }
    page = page_read(
        lambda start, count: t.breaches.affected_people(
            breach_id, limit=count, offset=start, actor=actor
        ),
        limit,
        cursor,
        lambda person: person,
    )
    return page | {"preview": t.breaches.notify_preview(breach_id, actor=actor)}


@breaches.post(
    "/{breach_id}/exclude",
    summary="Take people off the affected list after review, with the reason",
)
def breach_exclude(breach_id: Id, body: ExcludeIn, actor: ActorDep, t: TrothDep) -> dict[str, Any]:
    t.breaches.exclude_people(breach_id, body.subject_ids, reason=body.reason, actor=actor)
    return breach_out(t, breach_id, actor)


@breaches.post(
    "/{breach_id}/regulator-notified",
    summary="Record when the regulator was told, once (late needs late_reason)",
)
def breach_regulator(
    breach_id: Id, body: NotifiedIn, actor: ActorDep, t: TrothDep
) -> dict[str, Any]:
    t.breaches.mark_regulator_notified(
        breach_id, body.at, late_reason=body.late_reason, correction=body.correction, actor=actor
    )
    return breach_out(t, breach_id, actor)


@breaches.post(
    "/{breach_id}/public-notice",
    summary="Record that a public notice was given, for the people troth could not tell",
)
def breach_public_notice(
    breach_id: Id, body: PublicNoticeIn, actor: ActorDep, t: TrothDep
) -> dict[str, Any]:
    t.breaches.record_public_notice(
        breach_id, body.at, how=body.how, correction=body.correction, actor=actor
    )
    return breach_out(t, breach_id, actor)


@breaches.post(
    "/{breach_id}/notify",
    summary="Queue the notice to every affected person not yet told",
)
def breach_notify(breach_id: Id, body: NotifyIn, actor: ActorDep, t: TrothDep) -> dict[str, Any]:
    queued = t.breaches.notify_individuals(
        breach_id, body.template, subject=body.subject, actor=actor
    )
    out = breach_out(t, breach_id, actor)
    return {"queued": queued, "not_told": out["people"]["unreachable"], "breach": out}


# -- legal demands -----------------------------------------------------------------------
class DemandIn(BodyIn):
    authority: Text200
    instrument: str = Field(min_length=1, max_length=40, description="e.g. court_order")
    reference: Text200
    scope: Text2000
    categories: list[str] | None = Field(
        default=None,
        max_length=100,
        description="The policy's categories the demand asks for: nothing beyond them goes.",
    )
    period_from: Instant | None = Field(
        default=None, description="It asks for data collected from then on."
    )
    period_until: Instant | None = Field(default=None, description="... and before then.")
    received_at: Instant | None = None
    gag_until: Instant | None = Field(default=None, description="End of a non-disclosure order.")
    recipient: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="The policy's recipient the demand comes from: one of kind authority.",
    )


@demands.post("", status_code=201, summary="Record a legal demand")
async def demand_record(
    request: Request,
    body: DemandIn,
    actor: ActorDep,
    t: TrothDep,
    idempotency_key: IdemKey = None,
) -> Response:
    def work() -> tuple[int, Any]:
        d = t.disclosures.record_demand(**body.model_dump(), actor=actor)
        return 201, d.to_dict()

    return await once(request, t, actor, idempotency_key, work)


@demands.get("", summary="Legal demands, newest first")
def demand_list(
    actor: ActorDep, t: TrothDep, limit: Limit = 50, cursor: Cursor = None
) -> dict[str, Any]:
    return page_read(
        lambda start, count: list_demands(t.ctx, actor=actor, offset=start, limit=count),
        limit,
        cursor,
        lambda d: d.to_dict(),
    )


@demands.post(
    "/{demand_id}/lift-gag",
    summary="End a legal demand's non-disclosure order now; the person is told at once",
)
def demand_lift_gag(demand_id: Id, actor: ActorDep, t: TrothDep) -> dict[str, Any]:
    sent = t.disclosures.lift_gag(demand_id, actor=actor)
    return {"demand": t.disclosures.demand(demand_id).to_dict(), "notices_queued": sent}


for _part in (retention, breaches, demands):
    router.include_router(_part)
