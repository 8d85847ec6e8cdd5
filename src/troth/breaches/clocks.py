"""Breach notification clocks per regime, as data (REGULATIONS.md, "Breach notification").

:data:`OBLIGATIONS` holds one :class:`BreachObligation` row per regime and audience;
:func:`notification_clocks` turns the rows that apply to one breach into dated
:class:`NotificationClock` values and :func:`clock_status` says where each one stands.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from enum import StrEnum
from typing import Final

from dateutil.relativedelta import relativedelta

from troth.errors import ValidationError
from troth.policy.model import Regime, parse_regime


class Audience(StrEnum):
    """Who is told (or, for ``assessment``, what the organisation must do itself)."""

    regulator = "regulator"
    individuals = "individuals"
    attorney_general = "attorney_general"
    assessment = "assessment"
    controller = "controller"
    """The customer (a tenant) whose people are affected, told by the organisation that
    holds their data for it (its processor): one step per affected tenant."""


class Trigger(StrEnum):
    """When an obligation applies to a breach."""

    always = "always"
    high_risk = "high_risk"
    """High risk (GDPR Art. 34), real risk of significant harm (PIPEDA), serious harm
    (NZ), likely serious harm (AU): the caller's one ``high_risk`` judgement."""
    over_threshold = "over_threshold"
    """More than ``threshold`` people affected."""


class ClockStatus(StrEnum):
    on_time = "on_time"
    due_soon = "due_soon"
    overdue = "overdue"
    met = "met"
    met_late = "met_late"
    for_controllers = "for_controllers"
    """A duty of the customers (the controllers of their people), not the organisation's:
    shown so the officer sees what they face, never counted due or overdue here
    (:mod:`troth.breaches.duties`)."""


class ClockStart(StrEnum):
    awareness = "awareness"
    individuals_notified = "individuals_notified"


@dataclass(frozen=True)
class BreachObligation:
    """One legal duty to notify (or assess) after a breach."""

    regime: Regime
    audience: Audience
    trigger: Trigger
    within: timedelta | None
    """Fixed limit from ``starts``; None = no fixed limit ("as soon as feasible")."""
    text: str
    """The deadline in the law's words."""
    basis: str
    starts: ClockStart = ClockStart.awareness
    threshold: int | None = None
    late_reasons_required: bool = False
    """A late notice must give the reasons for the delay."""
    calendar: bool = False
    """``within`` counts calendar days where the regime's office is (its time zone): the
    deadline falls on the same wall-clock time that many days later, across a change of
    the clocks; otherwise ``within`` is elapsed time (72 hours are 72 hours)."""


HOURS_72: Final = timedelta(hours=72)

OBLIGATIONS: Final[tuple[BreachObligation, ...]] = (
    # GDPR Art. 33(1): the supervisory authority within 72 hours of becoming aware, with
    # reasons when later; Art. 33(4) details may follow in phases. (The Art. 33(1) exception,
    # "unlikely to result in a risk", is a judgement the register records, not a clock.)
    BreachObligation(
        Regime.gdpr,
        Audience.regulator,
        Trigger.always,
        HOURS_72,
        "without undue delay and, where feasible, not later than 72 hours after becoming aware",
        "GDPR Art. 33(1)",
        late_reasons_required=True,
    ),
    # GDPR Art. 34(1): the people, without undue delay, when the risk to them is high.
    BreachObligation(
        Regime.gdpr,
        Audience.individuals,
        Trigger.high_risk,
        None,
        "without undue delay",
        "GDPR Art. 34(1)",
    ),
    BreachObligation(
        Regime.uk_gdpr,
        Audience.regulator,
        Trigger.always,
        HOURS_72,
        "without undue delay and, where feasible, not later than 72 hours after becoming aware",
        "UK GDPR Art. 33(1)",
        late_reasons_required=True,
    ),
    BreachObligation(
        Regime.uk_gdpr,
        Audience.individuals,
        Trigger.high_risk,
        None,
        "without undue delay",
        "UK GDPR Art. 34(1)",
    ),
    # Cal. Civ. Code 1798.82(a) (as amended 2025, SB 446): residents within 30 calendar
    # days of discovery.
    BreachObligation(
        Regime.ccpa,
        Audience.individuals,
        Trigger.always,
        timedelta(days=30),
        "within 30 calendar days of discovery",
        "Cal. Civ. Code 1798.82(a)",
        calendar=True,
    ),
    # Cal. Civ. Code 1798.82(f): more than 500 residents -> a sample copy to the Attorney
    # General within 15 calendar days of notifying them.
    BreachObligation(
        Regime.ccpa,
        Audience.attorney_general,
        Trigger.over_threshold,
        timedelta(days=15),
        "a sample notice within 15 calendar days of notifying residents",
        "Cal. Civ. Code 1798.82(f)",
        starts=ClockStart.individuals_notified,
        threshold=500,
        calendar=True,
    ),
    # PIPEDA s.10.1(1)-(3) and (6): Commissioner and individuals "as soon as feasible" when
    # there is a real risk of significant harm. Whether there is one is a determination the
    # organisation makes for every breach of security safeguards (s.10.1(1), with the factors
    # of s.10.1(7)-(8)), and every breach is recorded (s.10.3(1)): a PIPEDA breach judged not
    # high risk still shows that duty, with no fixed limit (the Act gives none).
    BreachObligation(
        Regime.pipeda,
        Audience.assessment,
        Trigger.always,
        None,
        "determine whether the breach creates a real risk of significant harm to the people;"
        " if it does, report it to the Commissioner and tell them as soon as feasible;"
        " record it either way",
        "PIPEDA s.10.1(1), (7)-(8), s.10.3(1)",
    ),
    BreachObligation(
        Regime.pipeda,
        Audience.regulator,
        Trigger.high_risk,
        None,
        "as soon as feasible after determining the breach occurred",
        "PIPEDA s.10.1(1)-(2)",
    ),
    BreachObligation(
        Regime.pipeda,
        Audience.individuals,
        Trigger.high_risk,
        None,
        "as soon as feasible after determining the breach occurred",
        "PIPEDA s.10.1(3), (6)",
    ),
    # NZ Privacy Act 2020 ss.114-115: "as soon as practicable" for a notifiable (serious
    # harm) breach; the Privacy Commissioner expects the Office told within 72 hours.
    BreachObligation(
        Regime.nz,
        Audience.regulator,
        Trigger.high_risk,
        HOURS_72,
        "as soon as practicable (the Privacy Commissioner expects 72 hours)",
        "Privacy Act 2020 (NZ) s.114",
    ),
    BreachObligation(
        Regime.nz,
        Audience.individuals,
        Trigger.high_risk,
        None,
        "as soon as practicable",
        "Privacy Act 2020 (NZ) s.115",
    ),
    # Australia, Privacy Act 1988 s.26WH(2): assess a suspected breach within 30 days;
    # ss.26WK-26WL: then notify the Commissioner and people as soon as practicable.
    BreachObligation(
        Regime.au,
        Audience.assessment,
        Trigger.always,
        timedelta(days=30),
        "assess a suspected breach within 30 days",
        "Privacy Act 1988 (Cth) s.26WH(2)",
        calendar=True,
    ),
    BreachObligation(
        Regime.au,
        Audience.regulator,
        Trigger.high_risk,
        None,
        "as soon as practicable after the assessment",
        "Privacy Act 1988 (Cth) s.26WK",
    ),
    BreachObligation(
        Regime.au,
        Audience.individuals,
        Trigger.high_risk,
        None,
        "as soon as practicable after the assessment",
        "Privacy Act 1988 (Cth) s.26WL",
    ),
)

# "Without undue delay" as troth counts it: the laws give a processor no figure (GDPR Art.
# 33(2), Cal. Civ. Code 1798.82(b) "immediately", and REGULATIONS.md none), so troth's is 24
# hours from awareness, leaving the customer most of its own 72 hours (Art. 33(1) runs from
# when the customer is told: EDPB Guidelines 9/2022, para. 43). Past it the step is overdue.
CONTROLLER_WITHIN: Final = timedelta(hours=24)
CONTROLLER_FIGURE: Final = "troth's figure: within 24 hours"

# A processor tells its controller (troth: an organisation holding a customer's people's data
# tells the customer, the tenant). Rows per regime of the customer's affected people; a
# regime without a row here (Australia) still gets the step, with :data:`CONTROLLER_DEFAULT`.
CONTROLLER_OBLIGATIONS: Final[tuple[BreachObligation, ...]] = (
    # GDPR Art. 33(2): "The processor shall notify the controller without undue delay after
    # becoming aware of a personal data breach."
    BreachObligation(
        Regime.gdpr,
        Audience.controller,
        Trigger.always,
        CONTROLLER_WITHIN,
        "without undue delay after becoming aware",
        "GDPR Art. 33(2)",
    ),
    BreachObligation(
        Regime.uk_gdpr,
        Audience.controller,
        Trigger.always,
        CONTROLLER_WITHIN,
        "without undue delay after becoming aware",
        "UK GDPR Art. 33(2)",
    ),
    # Cal. Civ. Code 1798.82(b): one that maintains data it does not own notifies the owner
    # or licensee immediately following discovery.
    BreachObligation(
        Regime.ccpa,
        Audience.controller,
        Trigger.always,
        CONTROLLER_WITHIN,
        "immediately following discovery",
        "Cal. Civ. Code 1798.82(b)",
    ),
    # PIPEDA Sch. 1 cl. 4.1.3: the customer stays accountable for information it transferred
    # for processing and must be able to report "as soon as feasible" (s.10.1).
    BreachObligation(
        Regime.pipeda,
        Audience.controller,
        Trigger.always,
        CONTROLLER_WITHIN,
        "in time for the customer, who remains accountable, to report as soon as feasible",
        "PIPEDA Sch. 1 cl. 4.1.3, s.10.1",
    ),
    # NZ Privacy Act 2020 s.11: information an agent holds is held by its principal, who
    # must notify as soon as practicable (ss.114-115).
    BreachObligation(
        Regime.nz,
        Audience.controller,
        Trigger.always,
        CONTROLLER_WITHIN,
        "in time for the customer to notify as soon as practicable",
        "Privacy Act 2020 (NZ) s.11, ss.114-115",
    ),
)
# The step for a regime without a row above: the customer is told so it can meet its own
# duties (troth's rule; the policy's `breach_notices`).
CONTROLLER_DEFAULT: Final = ("without undue delay", "the organisation's contract with the customer")

# PIPEDA Breach of Security Safeguards Regulations s.6: a record of every breach, kept 24
# months after the day the breach is determined to have occurred; GDPR Art. 33(5) asks for
# every breach to be documented. troth keeps the register at least this long.
REGISTER_RETENTION_MONTHS: Final = 24


@dataclass(frozen=True)
class NotificationClock:
    """One dated duty for one breach: ``due_at`` None means no fixed limit (see ``text``)."""

    regime: Regime
    audience: Audience
    starts_at: datetime
    due_at: datetime | None
    text: str
    basis: str
    late_reasons_required: bool = False


def _aware(name: str, value: object) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValidationError(f"{name} must be a timezone-aware datetime, got {value!r}")
    return value


def _applies(rule: BreachObligation, affected_count: int, high_risk: bool) -> bool:
    if rule.trigger is Trigger.high_risk:
        return high_risk
    if rule.trigger is Trigger.over_threshold:
        return affected_count > (rule.threshold or 0)
    return True


def notification_clocks(
    regimes: Iterable[Regime | str],
    aware_at: datetime,
    affected_count: int,
    high_risk: bool,
    *,
    individuals_notified_at: datetime | None = None,
    zones: Mapping[Regime, tzinfo] | None = None,
) -> list[NotificationClock]:
    """The clocks that run for a breach known since ``aware_at``, in table order.

    A clock that starts when the people are told (California's Attorney General) runs from
    ``individuals_notified_at``, or until then from the latest lawful notice date. A limit
    in calendar days counts them in the regime's zone (``zones``; UTC where none is given).
    """
    aware_at = _aware("aware_at", aware_at)
    if isinstance(affected_count, bool) or not isinstance(affected_count, int):
        raise ValidationError(f"affected_count must be a whole number, got {affected_count!r}")
    if affected_count < 0:
        raise ValidationError(f"affected_count must be >= 0, got {affected_count}")
    if individuals_notified_at is not None:
        _aware("individuals_notified_at", individuals_notified_at)
        if individuals_notified_at < aware_at:
            raise ValidationError(
                f"individuals_notified_at {individuals_notified_at.isoformat()} is before the "
                f"breach was known ({aware_at.isoformat()})"
            )
    wanted = {parse_regime(regime, code="unknown_regime") for regime in regimes}
    out: list[NotificationClock] = []
    for rule in OBLIGATIONS:
        if rule.regime not in wanted or not _applies(rule, affected_count, high_risk):
            continue
        start = aware_at
        zone = (zones or {}).get(rule.regime, UTC)
        if rule.starts is ClockStart.individuals_notified:
            start = individuals_notified_at or _latest_individual_notice(
                rule.regime, aware_at, zone
            )
        due = _due(rule, start, zone)
        out.append(
            NotificationClock(
                rule.regime,
                rule.audience,
                start,
                due,
                rule.text,
                rule.basis,
                rule.late_reasons_required,
            )
        )
    return out


def _due(rule: BreachObligation, start: datetime, zone: tzinfo) -> datetime | None:
    """When ``rule``'s limit ends for a clock started at ``start`` (None: no fixed limit).
    Calendar days are added to the wall-clock time in ``zone`` (Python adds a timedelta to
    an aware time on its wall clock), then read back in UTC."""
    if rule.within is None:
        return None
    if not rule.calendar:
        return start + rule.within
    return (start.astimezone(zone) + rule.within).astimezone(UTC)


def _latest_individual_notice(regime: Regime, aware_at: datetime, zone: tzinfo) -> datetime:
    for rule in OBLIGATIONS:
        if rule.regime is regime and rule.audience is Audience.individuals and rule.within:
            return _due(rule, aware_at, zone) or aware_at
    return aware_at


def controller_clocks(
    regimes: Iterable[Regime | str], aware_at: datetime
) -> list[NotificationClock]:
    """The duty to tell one customer (a tenant) of a breach of its people's data: a row of
    :data:`CONTROLLER_OBLIGATIONS` per regime of those people that has one, in table order,
    or the :data:`CONTROLLER_DEFAULT` step when none has (a customer with people affected
    always has its step); each due :data:`CONTROLLER_WITHIN` after ``aware_at``."""
    aware_at = _aware("aware_at", aware_at)
    wanted = {parse_regime(regime, code="unknown_regime") for regime in regimes}
    due = aware_at + CONTROLLER_WITHIN
    out = [
        NotificationClock(r.regime, r.audience, aware_at, due, _figure(r.text), r.basis)
        for r in CONTROLLER_OBLIGATIONS
        if r.regime in wanted
    ]
    if out or not wanted:
        return out
    text, basis = CONTROLLER_DEFAULT
    first = sorted(wanted)[0]
    return [NotificationClock(first, Audience.controller, aware_at, due, _figure(text), basis)]


def _figure(text: str) -> str:
    """The law's words, then troth's figure for them (:data:`CONTROLLER_WITHIN`)."""
    return f"{text} ({CONTROLLER_FIGURE})"


def clock_status(
    clock: NotificationClock,
    now: datetime,
    done_at: datetime | None = None,
    *,
    soon: timedelta | None = None,
) -> ClockStatus:
    """Where ``clock`` stands at ``now``. ``due_soon`` starts when ``soon`` (default: a
    quarter of the period) is left; a clock with no fixed limit is ``due_soon`` until met."""
    now = _aware("now", now)
    if done_at is not None:
        done_at = _aware("done_at", done_at)
        if clock.due_at is not None and done_at > clock.due_at:
            return ClockStatus.met_late
        return ClockStatus.met
    if clock.due_at is None:
        return ClockStatus.due_soon
    if now > clock.due_at:
        return ClockStatus.overdue
    window = soon if soon is not None else (clock.due_at - clock.starts_at) / 4
    return ClockStatus.due_soon if clock.due_at - now <= window else ClockStatus.on_time


def register_keep_until(determined_on: date) -> date:
    """Earliest day a breach register entry may be deleted (24 months, PIPEDA regs s.6)."""
    if not isinstance(determined_on, date):
        raise ValidationError(f"determined_on must be a date, got {determined_on!r}")
    day = determined_on.date() if isinstance(determined_on, datetime) else determined_on
    return day + relativedelta(months=REGISTER_RETENTION_MONTHS)


__all__ = [
    "CONTROLLER_DEFAULT",
    "CONTROLLER_FIGURE",
    "CONTROLLER_OBLIGATIONS",
    "CONTROLLER_WITHIN",
    "OBLIGATIONS",
    "REGISTER_RETENTION_MONTHS",
    "Audience",
    "BreachObligation",
    "ClockStart",
    "ClockStatus",
    "NotificationClock",
    "Trigger",
    "clock_status",
    "controller_clocks",
    "notification_clocks",
    "register_keep_until",
]
