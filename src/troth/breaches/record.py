"""Recording a breach (P33): what the officer reports, checked, stored, and the people it
affects computed in the same transaction (:mod:`troth.breaches.affected`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import insert, update

from troth.audit.entry import AuditEntry, Outcome
from troth.audit.log import append_entries, transaction
from troth.breaches.affected import (
    STORE_SYSTEM,
    Incident,
    Scope,
    check_scope,
    check_systems,
    compute_affected,
    dataset_holders,
    known_categories,
)
from troth.breaches.clocks import register_keep_until
from troth.breaches.model import BreachStatus, aware, checked_ids, recount
from troth.breaches.readers import audit_labels, check_systems_for_actors
from troth.breaches.regimes import settle_regimes
from troth.breaches.tables import breaches
from troth.context import Context
from troth.errors import ValidationError
from troth.gate import Actor
from troth.policy.model import parse_regime
from troth.store.ids import new_id


@dataclass(frozen=True)
class BreachReport:
    """What the officer reports of an incident (the arguments of
    :meth:`troth.breaches.register.BreachRegister.record_breach`)."""

    title: str
    description: str
    discovered_at: datetime
    occurred_from: datetime
    occurred_until: datetime
    categories: Iterable[str]
    systems: Iterable[str] = (STORE_SYSTEM,)
    aware_at: datetime | None = None
    regimes: Iterable[str] | None = None
    high_risk: bool = False
    actors: Iterable[str] | None = None
    tenants: Iterable[str] = ()
    subject_ids: Iterable[str] = ()


@dataclass(frozen=True)
class _Window:
    """When the breach happened, was discovered, and when the organisation became aware."""

    discovered_at: datetime
    aware_at: datetime
    occurred_from: datetime
    occurred_until: datetime


@dataclass(frozen=True)
class _Checked:
    """A report once every part of it is found sound."""

    title: str
    description: str
    window: _Window
    categories: list[str]
    systems: list[str]
    scope: Scope
    regimes: list[str]
    high_risk: bool


def record_report(ctx: Context, report: BreachReport, actor: Actor) -> str:
    """Store the breach ``report`` describes and the people it affects; returns its id.
    An impossible window, an unknown system, category, regime, tenant or person is refused
    and nothing is stored."""
    now = ctx.clock.now()
    b = _check(ctx, report, now)
    # Connected datasets are read before troth's transaction opens (other databases).
    holders = dataset_holders(ctx, b.systems, b.categories)
    bid = new_id()
    w = b.window
    with transaction(ctx) as conn:
        check_scope(conn, ctx, b.scope)
        # Named actors as the audit log writes them (staff:mo@moderator is staff:mo).
        b = replace(b, scope=replace(b.scope, actors=audit_labels(conn, b.scope.actors)))
        conn.execute(
            insert(breaches).values(
                id=bid,
                title=b.title,
                description=b.description,
                discovered_at=w.discovered_at,
                aware_at=w.aware_at,
                occurred_from=w.occurred_from,
                occurred_until=w.occurred_until,
                systems=b.systems,
                categories=b.categories,
                regimes=b.regimes,  # settled below, from the people affected
                high_risk=b.high_risk,
                status=BreachStatus.open.value,
                affected_count=0,
                recorded_at=now,
                recorded_by=actor.label,
                keep_until=register_keep_until(w.aware_at.date()),
                scope={**b.scope.to_dict(), "regimes_given": b.regimes},
            )
        )
        incident = Incident(
            bid, b.categories, b.systems, w.occurred_from, w.occurred_until, b.scope, holders
        )
        found = compute_affected(conn, ctx, incident)
        count = recount(conn, bid)
        computed = {"by_source": found.by_source, "unmatched": found.unmatched}
        conn.execute(
            update(breaches)
            .where(breaches.c.id == bid)
            .values(scope={**b.scope.to_dict(), "regimes_given": b.regimes, **computed})
        )
        regimes = settle_regimes(conn, ctx, bid)
        scoped = bool(b.scope.tenants or b.scope.subjects or b.scope.actors)
        details = {
            "breach": bid,
            "affected": count,
            "systems": b.systems,
            "regimes": regimes,
            **computed,
        }
        entry = AuditEntry(
            "breach.record",
            actor.label,
            Outcome.info,
            categories=tuple(b.categories),
            details={**details, "scoped": scoped},
        )
        append_entries(conn, now, [entry])
    return bid


def _check(ctx: Context, report: BreachReport, now: datetime) -> _Checked:
    if not isinstance(report.title, str) or not report.title.strip():
        raise ValidationError("a breach needs a title", field="title")
    if not isinstance(report.description, str) or not report.description.strip():
        raise ValidationError("describe what happened (description)", field="description")
    window = _check_window(report, now)
    cats = _check_categories(ctx, report.categories)
    systems = check_systems(ctx, report.systems)
    scope = Scope(
        tuple(sorted(set(checked_ids("tenants", report.tenants)))),
        tuple(sorted(set(checked_ids("subject_ids", report.subject_ids)))),
        _given(report.actors),  # as typed: made audit labels in the transaction
    )
    check_systems_for_actors(scope.actors, systems)
    return _Checked(
        report.title.strip()[:200],
        report.description.strip(),
        window,
        cats,
        systems,
        scope,
        sorted(set(_check_regimes(report.regimes))),
        bool(report.high_risk),
    )


def _given(actors: Iterable[str] | None) -> tuple[str, ...]:
    """The actors as given (one actor given as a string is one actor, not its letters)."""
    return (actors,) if isinstance(actors, str) else tuple(actors or ())


def _check_window(report: BreachReport, now: datetime) -> _Window:
    """The breach's times, aware of their time zone and in an order that can happen."""
    discovered_at = aware("discovered_at", report.discovered_at)
    occurred_from = aware("occurred_from", report.occurred_from)
    occurred_until = aware("occurred_until", report.occurred_until)
    known = aware("aware_at", report.aware_at) if report.aware_at is not None else discovered_at
    if occurred_until < occurred_from:
        raise ValidationError(
            f"impossible time window: it ends ({occurred_until.isoformat()}) before it"
            f" starts ({occurred_from.isoformat()})",
            field="occurred_until",
        )
    if discovered_at < occurred_from:
        raise ValidationError(
            f"impossible time window: discovered ({discovered_at.isoformat()}) before the"
            f" breach began ({occurred_from.isoformat()})",
            field="discovered_at",
        )
    if discovered_at > now or occurred_from > now:
        raise ValidationError("a breach cannot be discovered or begin in the future")
    if occurred_until > now:
        raise ValidationError(
            f"the window cannot end in the future ({occurred_until.isoformat()}): give the"
            " last time the breach is known to have lasted until, at the latest now",
            field="occurred_until",
        )
    if known < discovered_at:
        raise ValidationError("aware_at cannot be before discovered_at", field="aware_at")
    return _Window(discovered_at, known, occurred_from, occurred_until)


def _check_categories(ctx: Context, categories: Iterable[str]) -> list[str]:
    """The categories, sorted and distinct, each one the policy or a dataset knows."""
    cats = sorted(set(categories))
    if not cats:
        raise ValidationError("name the categories of data involved", field="categories")
    known_cats = known_categories(ctx)
    unknown = [c for c in cats if c not in known_cats]
    if unknown:
        raise ValidationError(
            f"unknown categor{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)}"
            f" (the policy and the connected datasets have: {', '.join(sorted(known_cats))})",
            field="categories",
        )
    return cats


def _check_regimes(regimes: Iterable[str] | None) -> list[str]:
    """The regimes the officer names, each one troth knows. They add to those of the people
    affected (:mod:`troth.breaches.regimes`); none named: the people's alone."""
    regs = list(regimes or ())
    for r in regs:
        parse_regime(r, field="regimes")
    return regs
