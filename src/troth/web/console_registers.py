"""The office's other lists in the console: every disclosure (power ``legal_demands``) and
every consent given or withdrawn (``manage_requests``), each filtered, paged ("showing
1-50 of N") and downloadable as formula-safe CSV, people linked to their page and actors
named. The registers' services decide and audit who may read them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from troth.access.names import names_for
from troth.consent.register import list_consent_events
from troth.disclosures.register import list_disclosures
from troth.errors import ValidationError
from troth.policy.model import Power
from troth.web.console import page, staff
from troth.web.lists import (
    csv_download,
    every_item,
    fetch_page,
    list_filters,
    paged,
    when,
)
from troth.web.queries import Day, PageNo, Short, Word
from troth.web.render import ctx_of

if TYPE_CHECKING:
    from troth.context import Context
    from troth.web.session import Signed

router = APIRouter(include_in_schema=False)

BATCH = 1000


Fetch = Callable[[int, int], tuple[list[dict[str, Any]], int]]


@dataclass(frozen=True)
class _Register:
    """One of the registers: the power its staff need, its service's lister and how its
    query becomes filters."""

    power: Power
    lister: Callable[..., tuple[list[dict[str, Any]], int]]
    filters: Callable[[dict[str, str | None]], dict[str, Any]]

    def read(
        self, request: Request, q: dict[str, str | None]
    ) -> tuple[Signed, Context, dict[str, Any], Fetch]:
        """The staff member (refused without the power, before the filters are read), the
        context, the filters and ``fetch(limit, offset)`` reading the filtered register."""
        s = staff(request, power=self.power)
        ctx = ctx_of(request)
        f = self.filters(q)

        def fetch(limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
            return self.lister(ctx, s.actor, limit=limit, offset=offset, **f["kw"])

        return s, ctx, f, fetch


# -- disclosures ---------------------------------------------------------------------------
def _disclosure_query(
    recipient: Short = None,
    purpose: Short = None,
    since: Day = None,
    until: Day = None,
) -> dict[str, str | None]:
    """The disclosure list's query as sent (the page and its CSV take the same)."""
    return {"recipient": recipient, "purpose": purpose, "since": since, "until": until}


DisclosureQuery = Annotated[dict[str, str | None], Depends(_disclosure_query)]
_DISCLOSURES = _Register(
    Power.legal_demands, list_disclosures, lambda q: list_filters(q, text=("recipient", "purpose"))
)


@router.get("/console/disclosures")
def disclosures_page(
    request: Request,
    q: DisclosureQuery,
    page_no: PageNo = None,
) -> Response:
    s, ctx, f, fetch = _DISCLOSURES.read(request, q)
    items, p = fetch_page(fetch, page_no)
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
    _s, _ctx, _f, fetch = _DISCLOSURES.read(request, q)
    names = names_for(request.app.state.troth.access)
    items = every_item(fetch, BATCH)
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
            "; ".join(i["masked"]),
        ]
        for i in items
    )

    header = ["when (UTC)", "recipient", "purpose", "categories", "person", "by"]
    header += ["legal demand", "gagged until", "sent masked"]
    return csv_download("disclosures.csv", header, rows)  # type: ignore[no-any-return]


# -- consents ------------------------------------------------------------------------------
def _consent_filters(q: dict[str, str | None]) -> dict[str, Any]:
    given = q["given"]
    if given not in (None, "", "given", "withdrawn"):
        raise ValidationError("given: given or withdrawn", field="given")
    return list_filters(q, text=("purpose",), granted=None if not given else given == "given")


def _consent_query(
    purpose: Short = None,
    given: Word = None,
    since: Day = None,
    until: Day = None,
) -> dict[str, str | None]:
    """The consent list's query as sent (the page and its CSV take the same)."""
    return {"purpose": purpose, "given": given, "since": since, "until": until}


ConsentQuery = Annotated[dict[str, str | None], Depends(_consent_query)]
_CONSENTS = _Register(Power.manage_requests, list_consent_events, _consent_filters)


@router.get("/console/consents")
def consents_page(
    request: Request,
    q: ConsentQuery,
    page_no: PageNo = None,
) -> Response:
    s, ctx, f, fetch = _CONSENTS.read(request, q)
    items, p = fetch_page(fetch, page_no)
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
    _s, _ctx, _f, fetch = _CONSENTS.read(request, q)
    items = every_item(fetch, BATCH)
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
