"""Who owes which clock of a breach (P33): the organisation, or its customers.

A customer's (tenant's) people are the customer's: the organisation holds their data for
it, as its processor. A processor's duty is to tell the controller without undue delay
(GDPR/UK GDPR Art. 33(2), Cal. Civ. Code 1798.82(b)): that clock is always the
organisation's (``controller``: one per regime of the customers' people, due
:data:`troth.breaches.clocks.CONTROLLER_WITHIN` after awareness, met once every customer
with people under that regime was told). Telling the regulator and the people is the
controller's (Art. 33(1), 34; 1798.82(a)); so under the policy's ``breach_notices:
{tenant_people: controller}`` (the default) the regulator's, the people's, the Attorney
General's and the assessment clocks of the customers' people are shown as the customers'
(``owed_by: controllers``, status ``for_controllers``: never due, never overdue for the
organisation), while the organisation's own people (no tenant) keep its own clocks, and a
breach of both has both. Under ``tenant_people: organisation`` (the customers asked the
organisation to tell their people) every clock is the organisation's, as for its own people.
So is every clock of a breach only of categories that only the organisation's own
(``vendor_only``) purposes use: it is their controller (:func:`vendor_controls`).

While nobody affected is known, the breach's regimes (the organisation's, or the officer's)
stand for the organisation's own clocks (:mod:`troth.breaches.regimes`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import Connection, func, select

from troth.breaches.clocks import (
    Audience,
    ClockStatus,
    NotificationClock,
    clock_status,
    controller_clocks,
    notification_clocks,
)
from troth.breaches.model import Breach
from troth.breaches.tables import breach_subjects
from troth.context import Context
from troth.policy.model import Regime
from troth.store.tables import subjects

# Who owes a clock (a clock's ``owed_by``).
ORGANISATION = "organisation"
CONTROLLERS = "controllers"
# The history step of a customer told (troth.breaches.controllers).
CONTROLLER_STEP = "controller_notified"
_KNOWN = frozenset(r.value for r in Regime)


def leaves_to_controller(ctx: Context) -> bool:
    """Whether a tenant's people are left to their customer to tell (the policy's
    ``breach_notices.tenant_people``: ``controller``, the default)."""
    return ctx.policy.policy.breach_notices.tenant_people == "controller"


def vendor_controls(ctx: Context, b: Breach) -> bool:
    """Whether breach ``b`` is only of categories that only the organisation's own
    purposes (``vendor_only``) use: the organisation is their controller, whoever the
    customers' people's is, so every clock of it is the organisation's (trial #18 F4)."""
    cats = set(b.categories)
    return bool(cats) and cats <= ctx.policy.vendor_categories


@dataclass(frozen=True)
class TenantShare:
    """One tenant's part of a breach: how many of its people, under which regimes."""

    tenant_id: str
    people: int
    regimes: tuple[str, ...]
    told: int  # of them, told directly by the organisation


def tenant_shares(
    conn: Connection, breach_id: str, tenant_id: str | None = None
) -> list[TenantShare]:
    """Each tenant with people on the breach's list (only ``tenant_id`` when given)."""
    bs = breach_subjects.c
    q = (
        select(
            subjects.c.tenant_id,
            subjects.c.jurisdiction,
            func.count(),
            func.count(bs.notified_at),
        )
        .select_from(breach_subjects.join(subjects, subjects.c.id == bs.subject_id))
        .where(bs.breach_id == breach_id, subjects.c.tenant_id.is_not(None))
        .group_by(subjects.c.tenant_id, subjects.c.jurisdiction)
    )
    if tenant_id is not None:
        q = q.where(subjects.c.tenant_id == tenant_id)
    acc: dict[str, tuple[int, set[str], int]] = {}
    for tid, regime, n, told in conn.execute(q):
        people, regimes, done = acc.get(tid, (0, set(), 0))
        known = {str(regime)} & _KNOWN
        acc[tid] = (people + int(n), regimes | known, done + int(told))
    return [
        TenantShare(tid, n, tuple(sorted(r)), told) for tid, (n, r, told) in sorted(acc.items())
    ]


def told_customers(b: Breach) -> dict[str, dict[str, Any]]:
    """The customers told of the breach (their history records), by tenant."""
    return {h["tenant"]: h for h in b.history if h.get("step") == CONTROLLER_STEP}


@dataclass(frozen=True)
class Owed:
    """A breach's people split by who owes them the clocks."""

    own_regimes: tuple[str, ...]
    """The regimes whose regulator and people clocks are the organisation's."""
    own_people: int
    """How many people those clocks count (its own, and those no one can match)."""
    own_told_at: datetime | None
    """When the organisation's own people count as told (None: not yet)."""
    shares: tuple[TenantShare, ...]
    hands_over: bool


def _own_people(conn: Connection, breach_id: str) -> tuple[dict[str, int], int, Any]:
    """The organisation's own people on the list: per known regime, how many are not
    told yet, and when the last was told."""
    bs = breach_subjects.c
    rows = conn.execute(
        select(
            subjects.c.jurisdiction,
            func.count(),
            func.count() - func.count(bs.notified_at),
            func.max(bs.notified_at),
        )
        .select_from(breach_subjects.join(subjects, subjects.c.id == bs.subject_id))
        .where(bs.breach_id == breach_id, subjects.c.tenant_id.is_(None))
        .group_by(subjects.c.jurisdiction)
    ).all()
    counts = {str(j): int(n) for j, n, _, _ in rows if str(j) in _KNOWN}
    pending = sum(int(p) for _, _, p, _ in rows)
    lasts = [last for *_, last in rows if last is not None]
    return counts, pending, max(lasts) if lasts else None


def owed(conn: Connection, ctx: Context, b: Breach) -> Owed:
    """Who owes what of breach ``b`` (module docstring)."""
    shares = tuple(tenant_shares(conn, b.id))
    hands_over = leaves_to_controller(ctx) and not vendor_controls(ctx, b)
    counts, pending, last = _own_people(conn, b.id)
    unmatched = sum(int(n) for n in (b.scope.get("unmatched") or {}).values())
    if not hands_over or not (shares or counts):
        # Every clock the organisation's (or nobody known yet: the breach's regimes stand).
        return Owed(b.regimes, b.affected_count, b.individuals_notified_at, shares, hands_over)
    org = {r.value for r in ctx.policy.policy.organisation.jurisdictions}
    given = {str(r) for r in b.scope.get("regimes_given", [])}
    regimes = set(counts) | given | (org if unmatched else set())
    people = sum(counts.values()) + unmatched
    done: datetime | None = None
    public = b.last_step("public_notice")
    if counts and not pending:
        done = last
    elif public is not None:
        done = datetime.fromisoformat(public["at"])
    elif not counts:
        done = b.individuals_notified_at
    return Owed(tuple(sorted(regimes)), people, done, shares, hands_over)


def own_regimes(ctx: Context, b: Breach) -> tuple[str, ...]:
    """The regimes whose regulator clocks are the organisation's (a late notice to the
    regulator is judged against those alone)."""
    with ctx.engine.connect() as conn:
        return owed(conn, ctx, b).own_regimes


def _row(
    c: NotificationClock, owed_by: str, status: str, zones: Mapping[Regime, tzinfo]
) -> dict[str, Any]:
    zone = zones[c.regime]
    # A customer's clock runs from when it is told (each its own: see its step and its
    # view, ``your_clocks``), so the register gives it no start and no due time.
    due = c.due_at if owed_by == ORGANISATION else None
    return {
        "regime": c.regime.value,
        "audience": c.audience.value,
        "owed_by": owed_by,
        "starts_at": c.starts_at.isoformat() if owed_by == ORGANISATION else None,
        "due_at": due.isoformat() if due else None,
        # The same instant where the regime's office is (its day and hour).
        "due_local": due.astimezone(zone).isoformat() if due else None,
        "zone": str(zone),
        "deadline": c.text,
        "basis": c.basis,
        "status": status,
        "late_reasons_required": c.late_reasons_required,
    }


def breach_clocks(ctx: Context, b: Breach, now: datetime) -> list[dict[str, Any]]:
    """Every clock of breach ``b`` and where it stands at ``now``, with who owes it: the
    organisation's own (its people's regimes), telling the customers (one per regime of
    their people), then, when the customers tell their people, the customers' own."""
    with ctx.engine.connect() as conn:
        split = owed(conn, ctx, b)
    org = ctx.policy.policy.organisation
    tenant_regimes = sorted({r for s in split.shares for r in s.regimes})
    zones = {Regime(r): org.zone(r) for r in {*split.own_regimes, *tenant_regimes, *b.regimes}}
    done = {Audience.regulator: b.regulator_notified_at, Audience.individuals: split.own_told_at}
    out = [
        _row(c, ORGANISATION, clock_status(c, now, done.get(c.audience)).value, zones)
        for c in notification_clocks(
            split.own_regimes,
            b.aware_at,
            split.own_people,
            b.high_risk,
            individuals_notified_at=split.own_told_at,
            zones=zones,
        )
    ]
    out += _tell_customers(b, split.shares, tenant_regimes, now, zones)
    if split.hands_over and split.shares:
        most = max(s.people for s in split.shares)
        out += [
            _row(c, CONTROLLERS, ClockStatus.for_controllers.value, zones)
            | {"customers": sum(1 for s in split.shares if c.regime.value in s.regimes)}
            for c in notification_clocks(tenant_regimes, b.aware_at, most, b.high_risk)
        ]
    return out


def _tell_customers(
    b: Breach,
    shares: tuple[TenantShare, ...],
    regimes: list[str],
    now: datetime,
    zones: Mapping[Regime, tzinfo],
) -> list[dict[str, Any]]:
    """The organisation's duty to tell the customers, per regime of their people: met
    when every customer with people under it was told (at the last of them)."""
    told = told_customers(b)
    out = []
    for regime in regimes:
        mine = [s.tenant_id for s in shares if regime in s.regimes]
        at = [datetime.fromisoformat(told[t]["at"]) for t in mine if t in told]
        finished = max(at) if at and len(at) == len(mine) else None
        for c in controller_clocks([regime], b.aware_at):
            row = _row(c, ORGANISATION, clock_status(c, now, finished).value, zones)
            out.append(row | {"customers": len(mine), "customers_told": len(at)})
    return out


def is_open(clock: Mapping[str, Any]) -> bool:
    """Is ``clock`` one the organisation still has to meet (the dashboard's open clocks)?
    The customers' own clocks never are."""
    return clock.get("owed_by", ORGANISATION) == ORGANISATION and clock["status"] not in (
        ClockStatus.met.value,
        ClockStatus.met_late.value,
    )


__all__ = [
    "CONTROLLERS",
    "CONTROLLER_STEP",
    "ORGANISATION",
    "Owed",
    "TenantShare",
    "breach_clocks",
    "is_open",
    "leaves_to_controller",
    "owed",
    "own_regimes",
    "tenant_shares",
    "told_customers",
    "vendor_controls",
]
