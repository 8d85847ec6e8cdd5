"""The privacy office's discovery page: the newest scan's drift report (masked evidence,
the YAML to add) and a form to scan now, or go on with a partial scan, within a time
budget. Power ``run_discovery``; a refusal is audited by the service's office check."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from troth.discovery import DiscoveryService
from troth.errors import NotFound, TrothError, ValidationError
from troth.policy.model import Power
from troth.web.console import page, staff
from troth.web.forms import FormDep
from troth.web.render import ctx_of, noted

router = APIRouter(include_in_schema=False)

MAX_PAGE_BUDGET_S = 120.0  # a page waits for its scan; longer ones run from the CLI/worker


@router.get("/console/discovery")
def discovery_page(request: Request) -> Response:
    s = staff(request, power=Power.run_discovery)
    return _page(request, s)


@router.post("/console/discovery")
def discovery_scan(request: Request, form: FormDep) -> Response:
    """Scan now (or go on with a partial scan), within the budget the form gives."""
    s = staff(request, form, power=Power.run_discovery)
    svc = DiscoveryService(ctx_of(request))
    try:
        budget = _number(form.get("budget", "30"), "budget", 1, MAX_PAGE_BUDGET_S)
        rows = int(_number(form.get("rows", "1000"), "rows", 1, 100_000))
        resume = form.get("resume") or None
        svc.scan(rows=rows, budget_s=budget, resume=resume, actor=s.actor)
    except TrothError as exc:
        noted(request, exc)
        return _page(request, s, status=exc.status, error=exc.message)
    return RedirectResponse("/console/discovery", status_code=303)


def _page(request: Request, s: Any, *, status: int = 200, error: str | None = None) -> Response:
    svc = DiscoveryService(ctx_of(request))
    try:
        report = svc.report(actor=s.actor)
    except NotFound:
        report = None
    return page(
        request,
        s,
        "console/discovery.html",
        status=status,
        report=report,
        error=error,
        max_budget=int(MAX_PAGE_BUDGET_S),
    )


def _number(value: str, name: str, low: float, high: float) -> float:
    try:
        n = float(value)
    except ValueError:
        raise ValidationError(f"{name}: give a number from {low:g} to {high:g}") from None
    if not low <= n <= high:
        raise ValidationError(f"{name}: give a number from {low:g} to {high:g}")
    return n
