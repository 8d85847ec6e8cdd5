"""The office's counts, for the console's dashboard: requests received and closed per week,
open requests falling due each of the next days, refusals by reason, consents given and
withdrawn per week, audit entries per day. Counts only (no person is named); each is an
office function decided by :func:`troth.office.authorize` (a refusal audited): the
request desk's counts need ``manage_requests`` (a tenant-bound desk counts its own
tenant's), the rest ``read_audit``. Every count is a plain range query on an indexed time
column or a GROUP BY, the same on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import case, func, select

from troth.aggregates.suppression import suppress
from troth.audit.tables import audit_entries
from troth.consent.tables import consent_events, consent_state
from troth.context import Context
from troth.gate import Actor
from troth.office import authorize, may, request_desk
from troth.policy.model import Power
from troth.requests.states import DUE_STATES
from troth.requests.tables import requests


def week_starts(today: date, weeks: int) -> list[date]:
    """The Mondays of the last ``weeks`` weeks, oldest first (this week's last)."""
    monday = today - timedelta(days=today.weekday())
    return [monday - timedelta(weeks=n) for n in range(weeks - 1, -1, -1)]


def _start(d: date) -> datetime:
    return datetime.combine(d, time.min, tzinfo=UTC)


def _week_windows(ctx: Context, weeks: int) -> list[tuple[date, datetime, datetime]]:
    """Each of the last ``weeks`` weeks (UTC, Monday): its Monday, when it starts and when
    the next one does."""
    today = ctx.clock.now().astimezone(UTC).date()
    return [
        (monday, _start(monday), _start(monday + timedelta(weeks=1)))
        for monday in week_starts(today, weeks)
    ]


def requests_per_week(ctx: Context, actor: Actor, weeks: int = 12) -> list[dict[str, Any]]:
    """Requests received and closed in each of the last ``weeks`` weeks (UTC, Monday)."""
    tenant = request_desk(ctx, actor)
    r = requests.c
    out = []
    with ctx.engine.connect() as conn:
        for monday, lo, hi in _week_windows(ctx, weeks):
            scope = [r.tenant_id == tenant] if tenant is not None else []
            received = conn.execute(
                select(func.count()).where(r.received_at >= lo, r.received_at < hi, *scope)
            ).scalar_one()
            closed = conn.execute(
                select(func.count()).where(r.closed_at >= lo, r.closed_at < hi, *scope)
            ).scalar_one()
            out.append({"week": monday, "received": int(received), "closed": int(closed)})
    return out


def requests_due(ctx: Context, actor: Actor, days: int = 14) -> list[dict[str, Any]]:
    """Open requests falling due on each of the next ``days`` days (today first); those
    already overdue are counted on today."""
    tenant = request_desk(ctx, actor)
    r = requests.c
    deadline = func.coalesce(r.extended_due_at, r.due_at)
    today = ctx.clock.now().astimezone(UTC).date()
    last = today + timedelta(days=days - 1)
    stmt = (
        select(deadline.label("d"), func.count().label("n"))
        .where(r.state.in_([s.value for s in DUE_STATES]), deadline <= last)
        .group_by(deadline)
    )
    if tenant is not None:
        stmt = stmt.where(r.tenant_id == tenant)
    by_day = {today + timedelta(days=n): 0 for n in range(days)}
    with ctx.engine.connect() as conn:
        for d, n in conn.execute(stmt):
            day = d if isinstance(d, date) else date.fromisoformat(str(d)[:10])
            by_day[max(day, today)] += int(n)
    return [{"day": d, "due": n} for d, n in sorted(by_day.items())]


def refusals_by_reason(ctx: Context, actor: Actor, days: int = 30) -> list[dict[str, Any]]:
    """Refused accesses (audit entries with outcome deny) in the last ``days`` days, by
    reason code, most first."""
    authorize(ctx, actor, Power.read_audit, details={"operation": "count"})
    a = audit_entries.c
    since = ctx.clock.now() - timedelta(days=days)
    stmt = (
        select(a.reason, func.count().label("n"))
        .where(a.outcome == "deny", a.at >= since)
        .group_by(a.reason)
    )
    with ctx.engine.connect() as conn:
        rows = [{"reason": r or "unknown", "count": int(n)} for r, n in conn.execute(stmt)]
    return sorted(rows, key=lambda x: (-x["count"], x["reason"]))


def consents_per_week(ctx: Context, actor: Actor, weeks: int = 12) -> list[dict[str, Any]]:
    """Consents given and withdrawn in each of the last ``weeks`` weeks."""
    authorize(ctx, actor, Power.read_audit, details={"operation": "count"})
    e = consent_events.c
    out = []
    with ctx.engine.connect() as conn:
        for monday, lo, hi in _week_windows(ctx, weeks):
            stmt = (
                select(e.granted, func.count())
                .where(e.at >= lo, e.at < hi, ~e.purpose.startswith("cookie:"))
                .group_by(e.granted)
            )
            counts = {bool(g): int(n) for g, n in conn.execute(stmt)}
            out.append(
                {"week": monday, "given": counts.get(True, 0), "withdrawn": counts.get(False, 0)}
            )
    return out


def consent_rates(ctx: Context, actor: Actor) -> list[dict[str, Any]]:
    """Per purpose, how many people have consent on record and how many of them gave it.

    Those who may read the audit (``read_audit``, where every consent is entered) get every
    count. Anyone else gets the counts as an aggregate (P09): a purpose with fewer than the
    policy's ``aggregates.min_group_size`` (k) people on record is left out, label and all,
    and where those who gave or those who did not are fewer than k, only the total is
    shown (``granted`` and ``pct`` are None). Nothing is refused, so nothing is audited."""
    c = consent_state.c
    stmt = (
        select(
            c.purpose,
            func.sum(case((c.granted, 1), else_=0)).label("granted"),
            func.count().label("total"),
        )
        .group_by(c.purpose)
        .order_by(c.purpose)
    )
    with ctx.engine.connect() as conn:
        rows = conn.execute(stmt).all()
    full = may(ctx, actor, Power.read_audit)
    out: list[dict[str, Any]] = []
    for r in rows:
        granted, total = int(r.granted or 0), int(r.total)
        row = (
            _rate(r.purpose, granted, total)
            if full
            else _rate_of_group(ctx, r.purpose, granted, total)
        )
        if row is not None:
            out.append(row)
    return out


def _rate(purpose: str, granted: int | None, total: int) -> dict[str, Any]:
    pct = None if granted is None else (round(100 * granted / total) if total else 0)
    return {"purpose": purpose, "granted": granted, "total": total, "pct": pct}


def _rate_of_group(ctx: Context, purpose: str, granted: int, total: int) -> dict[str, Any] | None:
    """The purpose's rate under small-cell suppression: None when fewer than k people are on
    record; the total alone when either side of the split is fewer than k."""
    k = ctx.policy.policy.aggregates.min_group_size
    table = suppress({("given",): granted, ("not_given",): total - granted}, k)
    if table.total is None:
        return None
    return _rate(purpose, table.cells[("given",)], total)


def audit_per_day(ctx: Context, actor: Actor, days: int = 14) -> list[dict[str, Any]]:
    """Audit entries on each of the last ``days`` UTC days (today last)."""
    from troth.office import audit_per_day as per_day

    today = ctx.clock.now().astimezone(UTC).date()
    starts = [_start(today - timedelta(days=n)) for n in range(days - 1, -1, -1)]
    counts = per_day(ctx, actor, starts)
    return [{"day": s.date(), "entries": n} for s, n in zip(starts, counts, strict=True)]
