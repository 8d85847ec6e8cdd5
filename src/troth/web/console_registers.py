"""The office's other lists in the console: every disclosure (power ``legal_demands``) and
every consent given or withdrawn (``manage_requests``), each filtered, paged ("showing
1-50 of N") and downloadable as formula-safe CSV, people linked to their page and actors
named. The registers' services decide and audit who may read them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from troth.access.names import names_for
from troth.consent.register import list_consent_events
from troth.disclosures.register import list_disclosures
from troth.errors import ValidationError
from troth.policy.model import Power
from troth.web.console import page, staff
from troth.web.lists import (
    csv_download,
    day_end,
    day_start,
    every_item,
    fetch_page,
    paged,
    when,
)
from troth.web.render import ctx_of

router = APIRouter(include_in_schema=False)

Short = Annotated[str | None, Query(max_length=80)]
Day = Annotated[str | None, Query(max_length=10)]
PageNo = Annotated[int | None, Query(alias="page", ge=1, le=1_000_000)]
BATCH = 1000


# -- disclosures ---------------------------------------------------------------------------
def _disclosure_filters(
    recipient: str | None, purpose: str | None, since: str | None, until: str | None
) -> dict[str, Any]:
    shown = {
        "recipient": recipient or "",
        "purpose": purpose or "",
        "since": since or "",
        "until": until or "",
    }
    kw = {
        "recipient": recipient or None,
        "purpose": purpose or None,
        "since": day_start(since, "since"),
        "until": day_end(until, "until"),
    }
    return {"shown": shown, "kw": kw}


def _disclosure_query(
    recipient: Short = None,
    purpose: Short = None,
    since: Day = None,
    until: Day = None,
) -> dict[str, str | None]:
    """The disclosure list's query as sent (the page and its CSV take the same)."""
    return {"recipient": recipient, "purpose": purpose, "since": since, "until": until}


DisclosureQuery = Annotated[dict[str, str | None], Depends(_disclosure_query)]


@router.get("/console/disclosures")
def disclosures_page(
    request: Request,
    q: DisclosureQuery,
    page_no: PageNo = None,
) -> Response:
    s = staff(request, power=Power.legal_demands)
    ctx = ctx_of(request)
    f = _disclosure_filters(**q)
    items, p = fetch_page(
        lambda limit, offset: list_disclosures(ctx, s.actor, limit=limit, offset=offset, **f["kw"]),
        page_no,
    )
    names = names_for(request.app.state.troth.access)
    pol = ctx.policy.policy
    return page(
        request,
        s,
        "console/disclosures.html",
        items=[i | {"when": when(i["at"]), "who": names.actor(i["actor"])} for i in items],
        **paged(f["shown"], p),
        recipients=pol.recipients,
        purposes=[x.id for x in pol.purposes],
    )


@router.get("/console/disclosures.csv")
def disclosures_csv(
    request: Request,
    q: DisclosureQuery,
) -> Response:
    s = staff(request, power=Power.legal_demands)
    ctx = ctx_of(request)
    kw = _disclosure_filters(**q)["kw"]
    names = names_for(request.app.state.troth.access)
    items = every_item(
        lambda limit, offset: list_disclosures(ctx, s.actor, limit=limit, offset=offset, **kw),
        BATCH,
    )
    rows = (
        [
            when(i["at"]),
            i["recipient_name"],
            i["purpose"],
            "; ".join(i["categories"]),
            i["subject_id"],
            names.actor(i["actor"]),
            i["demand"],
            when(i["gagged_until"]),
        ]
        for i in items
    )

    header = ["when (UTC)", "recipient", "purpose", "categories", "person", "by"]
    header += ["legal demand", "gagged until"]
    return csv_download("disclosures.csv", header, rows)  # type: ignore[no-any-return]


# -- consents ------------------------------------------------------------------------------
def _consent_filters(
    purpose: str | None, given: str | None, since: str | None, until: str | None
) -> dict[str, Any]:
    if given not in (None, "", "given", "withdrawn"):
        raise ValidationError("given: given or withdrawn", field="given")
    shown = {
        "purpose": purpose or "",
        "given": given or "",
        "since": since or "",
        "until": until or "",
    }
    kw = {
        "purpose": purpose or None,
        "granted": None if not given else given == "given",
        "since": day_start(since, "since"),
        "until": day_end(until, "until"),
    }
    return {"shown": shown, "kw": kw}


def _consent_query(
    purpose: Short = None,
    given: Annotated[str | None, Query(max_length=10)] = None,
    since: Day = None,
    until: Day = None,
) -> dict[str, str | None]:
    """The consent list's query as sent (the page and its CSV take the same)."""
    return {"purpose": purpose, "given": given, "since": since, "until": until}


ConsentQuery = Annotated[dict[str, str | None], Depends(_consent_query)]


@router.get("/console/consents")
def consents_page(
    request: Request,
    q: ConsentQuery,
    page_no: PageNo = None,
) -> Response:
    s = staff(request, power=Power.manage_requests)
    ctx = ctx_of(request)
    f = _consent_filters(**q)
    items, p = fetch_page(
        lambda limit, offset: list_consent_events(
            ctx, s.actor, limit=limit, offset=offset, **f["kw"]
        ),
        page_no,
    )
    return page(
        request,
        s,
        "console/consents.html",
        items=[i | {"when": when(i["at"])} for i in items],
        **paged(f["shown"], p),
        purposes=[x.id for x in ctx.policy.policy.purposes],
    )


@router.get("/console/consents.csv")
def consents_csv(
    request: Request,
    q: ConsentQuery,
) -> Response:
    s = staff(request, power=Power.manage_requests)
    ctx = ctx_of(request)
    kw = _consent_filters(**q)["kw"]
    items = every_item(
        lambda limit, offset: list_consent_events(ctx, s.actor, limit=limit, offset=offset, **kw),
        BATCH,
    )
    rows = (
        [
            when(i["at"]),
            i["purpose"],
            "given" if i["granted"] else "withdrawn",
            i["kind"],
            i["method"],
            i["policy_version"],
            i["subject_id"],
            i["receipt_id"],
        ]
        for i in items
    )

    header = ["when (UTC)", "purpose", "given or withdrawn", "kind", "how", "policy"]
    header += ["person", "receipt"]
    return csv_download("consents.csv", header, rows)  # type: ignore[no-any-return]
