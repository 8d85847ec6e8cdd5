"""The console's dashboard: counts and pictures (server-rendered SVG) from the office's
services, each shown only to the staff whose powers reach it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from troth.access.names import names_for
from troth.context import Context
from troth.gate import Actor
from troth.office import read_audit, stats
from troth.policy.model import Power
from troth.web import svg
from troth.web.console import page, powers_of, staff
from troth.web.console_breaches import breach_clocks
from troth.web.render import ctx_of
from troth.web.session import Signed, signed_in

router = APIRouter(include_in_schema=False)


@router.get("/console")
def dashboard(request: Request) -> Response:
    """Requests per week and falling due, refusals by reason, consents given and withdrawn,
    audit entries per day, breach clocks: each to the staff whose powers reach it."""
    if signed_in(request, strict=True) is None:
        return RedirectResponse("/console/login", status_code=303)
    s = staff(request)
    ctx = ctx_of(request)
    powers = powers_of(request, s)
    charts = _charts(ctx, s, powers)
    # Everyone's refusals are audit entries: read through the office's audited read, only
    # for those who may read the audit.
    refusals = _recent_refusals(request, ctx, s) if Power.read_audit in powers else []
    return page(
        request,
        s,
        "console/dashboard.html",
        rates=stats.consent_rates(ctx, s.actor),
        rates_k=None if Power.read_audit in powers else ctx.policy.policy.aggregates.min_group_size,
        charts=charts,
        refusals=refusals,
        requests=_due_requests(request) if Power.manage_requests in powers else [],
        clocks=breach_clocks(request, s) if Power.manage_breaches in powers else [],
        now=ctx.clock.now(),
    )


@dataclass(frozen=True)
class _Chart:
    """One picture of the dashboard: shown to those with ``power``, drawn from the rows
    ``read`` returns. Bars grouped by the date in each row's ``at``, one bar per name in
    ``series``; without ``at``, horizontal bars of each row's ``reason`` and ``count``."""

    key: str
    power: Power
    read: Callable[[Context, Actor], list[dict[str, Any]]]
    title: str
    at: str = ""
    series: tuple[str, ...] = ()

    def draw(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        """The SVG, with the rows for the table under it."""
        chart_id = f"chart-{self.key}"
        if not self.at:
            bars = [(r["reason"], r["count"]) for r in rows]
            return {"svg": svg.hbar_chart(chart_id, self.title, bars), "rows": rows}
        labels = [r[self.at].strftime("%d %b") for r in rows]
        groups = [(name, [r[name] for r in rows]) for name in self.series]
        return {"svg": svg.bar_chart(chart_id, self.title, labels, groups), "rows": rows}


_CHARTS = (
    _Chart(
        "requests",
        Power.manage_requests,
        stats.requests_per_week,
        "Requests received and closed per week",
        "week",
        ("received", "closed"),
    ),
    _Chart(
        "due",
        Power.manage_requests,
        stats.requests_due,
        "Open requests falling due in the next 14 days (overdue counted today)",
        "day",
        ("due",),
    ),
    _Chart(
        "refusals", Power.read_audit, stats.refusals_by_reason, "Refusals by reason, last 30 days"
    ),
    _Chart(
        "consents",
        Power.read_audit,
        stats.consents_per_week,
        "Consents given and withdrawn per week",
        "week",
        ("given", "withdrawn"),
    ),
    _Chart(
        "audit",
        Power.read_audit,
        stats.audit_per_day,
        "Audit entries per day, last 14 days (UTC)",
        "day",
        ("entries",),
    ),
)


def _charts(ctx: Context, s: Signed, powers: frozenset[Power]) -> dict[str, Any]:
    """The pictures the signed-in staff member's powers reach, in the dashboard's order."""
    return {c.key: c.draw(c.read(ctx, s.actor)) for c in _CHARTS if c.power in powers}


def _recent_refusals(request: Request, ctx: Context, s: Signed) -> list[dict[str, Any]]:
    names = names_for(request.app.state.troth.access)
    return [
        {"at": e.at, "actor": e.entry.actor, "who": names.actor(e.entry.actor)}
        | {"action": e.entry.action, "purpose": e.entry.purpose, "reason": e.entry.reason}
        for e in read_audit(ctx, s.actor, outcome="deny", limit=15)
    ]


def _due_requests(request: Request) -> list[Any]:
    t = request.app.state.troth
    try:
        return list(t.requests.list(limit=50))
    except (ImportError, AttributeError, TypeError):
        return []
