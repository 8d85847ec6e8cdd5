"""Legal deadlines for a person's request, per regime, as data (REGULATIONS.md).

One :class:`DeadlineRule` row per :class:`~troth.policy.model.Regime` in :data:`RULES`; the
functions below only interpret the table. Dates are calendar dates in the regime's own
terms (no time of day); holidays come from the ``holidays`` package.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from enum import StrEnum
from functools import lru_cache
from types import MappingProxyType
from typing import Final

import holidays
from dateutil.relativedelta import relativedelta

from troth.errors import ValidationError
from troth.policy.model import Regime
from troth.requests.states import parse_choice


class PeriodUnit(StrEnum):
    """How a period is counted."""

    calendar_months = "calendar_months"
    calendar_days = "calendar_days"
    working_days = "working_days"


class ReceiptDay(StrEnum):
    """Where counting starts. For calendar months both give the corresponding date
    (3 Sep -> 3 Oct); for day counts ``day_one`` makes the period one day shorter."""

    day_zero = "day_zero"  # the period runs from the day after receipt
    day_one = "day_one"  # the day of receipt is day 1 (ICO)


@dataclass(frozen=True)
class WorkingCalendar:
    """What counts as a working day: Monday-Friday minus public holidays of ``country``
    (``subdivision``) minus a yearly closed stretch (month, day) to (month, day)."""

    country: str | None = None
    subdivision: str | None = None
    closed_from: tuple[int, int] | None = None
    closed_to: tuple[int, int] | None = None

    def is_working_day(self, day: date) -> bool:
        if day.weekday() >= 5:
            return False
        if self.closed_from is not None and self.closed_to is not None:
            md = (day.month, day.day)
            # The stretch wraps the new year (25 Dec - 15 Jan).
            if self.closed_from <= self.closed_to:
                if self.closed_from <= md <= self.closed_to:
                    return False
            elif md >= self.closed_from or md <= self.closed_to:
                return False
        return self.country is None or day not in _holiday_table(self.country, self.subdivision)


@lru_cache(maxsize=64)
def _holiday_table(country: str, subdivision: str | None) -> holidays.HolidayBase:
    try:
        return holidays.country_holidays(country, subdiv=subdivision)
    except NotImplementedError as exc:
        raise ValidationError(
            f"unknown holiday calendar {country}/{subdivision}: use a subdivision code the "
            f"'holidays' package knows for {country} (for GB: ENG, NIR, SCT, WLS)",
            code="unknown_holiday_calendar",
        ) from exc


@dataclass(frozen=True)
class DeadlineRule:
    """How long an organisation has to answer a request under one regime."""

    regime: Regime
    basis: str
    """The rule, cited."""
    period: int
    unit: PeriodUnit
    receipt: ReceiptDay = ReceiptDay.day_zero
    calendar: WorkingCalendar = WorkingCalendar()
    """Working days for working-day periods, acknowledgement and rolling."""
    roll_to_working_day: bool = False
    """A deadline on a weekend or holiday moves to the next working day."""
    pause_allowed: bool = False
    """The clock may stop while waiting for identification or clarification."""
    acknowledge_within: int | None = None
    """Working days to acknowledge receipt, when the regime requires it."""
    extension_allowed: bool = False
    extension: int | None = None
    """Length of one extension in ``unit``; None = 'a reasonable period' (give it)."""
    max_total: int | None = None
    """Longest total period, extension included, in ``unit``; None = no fixed cap."""
    deemed_refusal: bool = False
    """No answer by the deadline counts as a refusal (the person may complain)."""


# The table. Each row cites its rule; tests/requests/test_deadlines.py checks every number.
RULES: Final[MappingProxyType[Regime, DeadlineRule]] = MappingProxyType(
    {
        # GDPR Art. 12(3): one month of receipt, +2 months where necessary (complexity,
        # number of requests), the person told with reasons within the first month.
        # Reg. 1182/71 Art. 3(2)(c): a month ends on the same date, else the month's last day.
        Regime.gdpr: DeadlineRule(
            regime=Regime.gdpr,
            basis="GDPR Art. 12(3)",
            period=1,
            unit=PeriodUnit.calendar_months,
            extension_allowed=True,
            extension=2,
            max_total=3,
        ),
        # UK GDPR Art. 12(3) + ICO guidance: the day of receipt is day 1, a deadline on a
        # weekend or bank holiday moves to the next working day, the clock pauses while
        # waiting for ID or clarification (DPA 2018 s.53/ICO "stopping the clock").
        Regime.uk_gdpr: DeadlineRule(
            regime=Regime.uk_gdpr,
            basis="UK GDPR Art. 12(3); ICO right of access guidance",
            period=1,
            unit=PeriodUnit.calendar_months,
            receipt=ReceiptDay.day_one,
            calendar=WorkingCalendar(country="GB", subdivision="ENG"),
            roll_to_working_day=True,
            pause_allowed=True,
            extension_allowed=True,
            extension=2,
            max_total=3,
        ),
        # CCPA regs 11 CCR 7021: acknowledge within 10 business days (7021(a)); answer within
        # 45 calendar days from receipt regardless of verification time (7021(b)); +45 with
        # notice and reasons within the first 45, 90 days in all. Business day = Mon-Fri
        # except California state holidays (11 CCR 7001).
        Regime.ccpa: DeadlineRule(
            regime=Regime.ccpa,
            basis="Cal. Code Regs. tit. 11, 7021",
            period=45,
            unit=PeriodUnit.calendar_days,
            calendar=WorkingCalendar(country="US", subdivision="CA"),
            acknowledge_within=10,
            extension_allowed=True,
            extension=45,
            max_total=90,
        ),
        # PIPEDA s.8(3): 30 days after receipt; s.8(5): no answer = deemed refusal;
        # s.8(4)(a): +30 days with notice within the first 30.
        Regime.pipeda: DeadlineRule(
            regime=Regime.pipeda,
            basis="PIPEDA s.8(3)-(5)",
            period=30,
            unit=PeriodUnit.calendar_days,
            calendar=WorkingCalendar(country="CA"),
            extension_allowed=True,
            extension=30,
            max_total=60,
            deemed_refusal=True,
        ),
        # NZ Privacy Act 2020 s.44(1): 20 working days after the day of receipt; s.3 working
        # day excludes weekends, national public holidays and 25 Dec - 15 Jan; s.48: extension
        # "for a reasonable period", notified within the 20 working days.
        Regime.nz: DeadlineRule(
            regime=Regime.nz,
            basis="Privacy Act 2020 (NZ) ss.3, 44, 48",
            period=20,
            unit=PeriodUnit.working_days,
            calendar=WorkingCalendar(country="NZ", closed_from=(12, 25), closed_to=(1, 15)),
            extension_allowed=True,
        ),
        # Australia APP 12.4: agencies 30 days; organisations "a reasonable period" (OAIC:
        # usually 30 days). No extension mechanism.
        Regime.au: DeadlineRule(
            regime=Regime.au,
            basis="Privacy Act 1988 (Cth) Sch. 1, APP 12.4",
            period=30,
            unit=PeriodUnit.calendar_days,
            calendar=WorkingCalendar(country="AU"),
        ),
    }
)


@dataclass(frozen=True)
class OptOutRule:
    """A request to opt out of the sale or sharing of one's data under one regime, and
    the request log (CCPA: 11 CCR 7026, 7101). A request is one when it is an objection
    or a restriction naming (or, an objection naming none, covering by default) a
    ``sale_or_sharing`` purpose (:mod:`troth.requests.opt_out`)."""

    regime: Regime = Regime.ccpa
    basis: str = "Cal. Code Regs. tit. 11, 7026"
    """The rule, cited."""
    honour_within_business_days: int = 15  # 7026(f): 15 business days from receipt
    verification_required: bool = False
    """7026(d): an opt-out is not a verifiable consumer request; the business asks only
    what it needs to find the person. It is carried out without identity verification."""
    acknowledge_within: int | None = None
    """Business days to acknowledge receipt: none asked (7021(a) covers requests to know,
    delete and correct, not opt-outs)."""
    extension_allowed: bool = False  # 7026(f) gives no extension
    reask_after_months: int = 12  # 7026(k): don't ask to opt back in for 12 months
    log_retention_months: int = 24  # 7101(a)
    log_fields: tuple[str, ...] = (  # 7101(a): what each log entry records
        "request_date",
        "nature",
        "manner",
        "response_date",
        "response",
        "denial_reason",
    )


CCPA_OPT_OUT: Final = OptOutRule()
# Regimes with an opt-out of sale/sharing of their own; tests/requests/test_deadlines.py
# and test_opt_out_requests.py check every number.
OPT_OUT_RULES: Final[MappingProxyType[Regime, OptOutRule]] = MappingProxyType(
    {Regime.ccpa: CCPA_OPT_OUT}
)


def opt_out_rule(regime: Regime | str) -> OptOutRule | None:
    """The opt-out of sale/sharing rule of ``regime``; None where it has none."""
    return OPT_OUT_RULES.get(parse_choice(Regime, regime, "regime", "unknown_regime"))


def rule_for(regime: Regime | str, *, subdivision: str | None = None) -> DeadlineRule:
    """The table row for ``regime``, its holiday subdivision replaced when given."""
    rule = RULES[parse_choice(Regime, regime, "regime", "unknown_regime")]
    if subdivision is None:
        return rule
    if rule.calendar.country is None:
        raise ValidationError(
            f"{rule.regime} has no holiday calendar, so a subdivision means nothing",
            code="unknown_holiday_calendar",
        )
    cal = replace(rule.calendar, subdivision=subdivision)
    _holiday_table(cal.country or "", subdivision)  # fail now, with the clear message
    return replace(rule, calendar=cal)


def _check_date(name: str, value: object) -> date:
    # datetime is a subclass of date; a time of day here is a caller's mistake.
    if not isinstance(value, date) or hasattr(value, "hour"):
        raise ValidationError(f"{name} must be a date (YYYY-MM-DD), got {value!r}")
    return value


def add_working_days(start: date, days: int, calendar: WorkingCalendar) -> date:
    """The ``days``-th working day after ``start`` (``start`` itself never counts)."""
    if days < 0:
        raise ValidationError(f"working days must be >= 0, got {days}")
    day = start
    while days > 0:
        day += timedelta(days=1)
        if calendar.is_working_day(day):
            days -= 1
    return day


def next_working_day(day: date, calendar: WorkingCalendar) -> date:
    """``day`` itself when it is a working day, else the next one."""
    while not calendar.is_working_day(day):
        day += timedelta(days=1)
    return day


def working_days_between(
    regime: Regime | str, start: date, end: date, *, subdivision: str | None = None
) -> int:
    """Working days after ``start`` up to and including ``end`` (negative when end < start)."""
    cal = rule_for(regime, subdivision=subdivision).calendar
    start, end = _check_date("start", start), _check_date("end", end)
    lo, hi, sign = (start, end, 1) if start <= end else (end, start, -1)
    count = sum(1 for n in range(1, (hi - lo).days + 1) if cal.is_working_day(lo + timedelta(n)))
    return sign * count


def _add(rule: DeadlineRule, start: date, amount: int) -> date:
    if rule.unit is PeriodUnit.calendar_months:
        # The corresponding date, or the last day of a shorter month (31 Jan -> 28/29 Feb).
        return start + relativedelta(months=amount)
    if rule.unit is PeriodUnit.calendar_days:
        shift = amount - 1 if rule.receipt is ReceiptDay.day_one else amount
        return start + timedelta(days=shift)
    return add_working_days(start, amount, rule.calendar)


def _finish(rule: DeadlineRule, day: date) -> date:
    return next_working_day(day, rule.calendar) if rule.roll_to_working_day else day


def _start(rule: DeadlineRule, received: date, paused_days: int) -> date:
    received = _check_date("received", received)
    if isinstance(paused_days, bool) or not isinstance(paused_days, int) or paused_days < 0:
        raise ValidationError(f"paused_days must be a whole number >= 0, got {paused_days!r}")
    if paused_days and not rule.pause_allowed:
        raise ValidationError(
            f"the {rule.regime} clock does not pause ({rule.basis}): the deadline runs from "
            "receipt whatever the time spent verifying; pass paused_days=0",
            code="pause_not_allowed",
        )
    return received + timedelta(days=paused_days)


def due_date(
    regime: Regime | str, received: date, *, paused_days: int = 0, subdivision: str | None = None
) -> date:
    """Last day to answer a request received on ``received``; ``paused_days`` (where the
    regime allows it) is time the clock stood still waiting for ID or clarification."""
    rule = rule_for(regime, subdivision=subdivision)
    return _finish(rule, _add(rule, _start(rule, received, paused_days), rule.period))


def acknowledge_by(
    regime: Regime | str, received: date, *, subdivision: str | None = None
) -> date | None:
    """Last day to acknowledge receipt, or None where the regime asks for no acknowledgement."""
    rule = rule_for(regime, subdivision=subdivision)
    received = _check_date("received", received)
    if rule.acknowledge_within is None:
        return None
    return add_working_days(received, rule.acknowledge_within, rule.calendar)


def extended_due(
    regime: Regime | str,
    received: date,
    extension_notified_on: date,
    *,
    extend_by: int | None = None,
    paused_days: int = 0,
    subdivision: str | None = None,
) -> date:
    """The deadline after an extension notified on ``extension_notified_on``.

    ``extend_by`` (in the regime's unit) defaults to the full extension; it is required
    where the law allows only 'a reasonable period' (NZ). Raises ValidationError when the
    regime has no extension, the notice came after the first deadline, or it asks too much.
    """
    rule = rule_for(regime, subdivision=subdivision)
    start = _start(rule, received, paused_days)
    notified = _check_date("extension_notified_on", extension_notified_on)
    if not rule.extension_allowed:
        raise ValidationError(
            f"{rule.regime} allows no extension ({rule.basis}): answer by the first deadline",
            code="extension_not_allowed",
        )
    first = _finish(rule, _add(rule, start, rule.period))
    if notified < received:
        raise ValidationError(
            f"extension notified on {notified}, before the request was received on {received}"
        )
    if notified > first:
        raise ValidationError(
            f"too late to extend: the extension had to be notified by {first} "
            f"({rule.basis}), not on {notified}",
            code="extension_too_late",
        )
    amount = rule.extension if extend_by is None else extend_by
    counted = f"extend_by is counted in {unit_words(rule.unit)} under {rule.regime}"
    if amount is None:
        raise ValidationError(
            f"{rule.regime} allows extension 'for a reasonable period': say how long with "
            f"extend_by ({counted})",
            code="extension_length_required",
        )
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ValidationError(f"extend_by must be a whole number > 0 ({counted}), got {amount!r}")
    if rule.extension is not None and amount > rule.extension:
        raise ValidationError(
            f"{counted}: {rule.regime} extends by at most {rule.extension}"
            f" {unit_words(rule.unit)} ({rule.basis}), not {amount}; give 1 to"
            f" {rule.extension}, or leave extend_by out for the whole extension",
            code="extension_too_long",
        )
    total = rule.period + amount
    if rule.max_total is not None and total > rule.max_total:
        raise ValidationError(
            f"{counted}: {rule.regime} allows {rule.max_total} {unit_words(rule.unit)} in"
            f" all ({rule.basis}), not {total}",
            code="extension_too_long",
        )
    return _finish(rule, _add(rule, start, total))


def unit_words(unit: PeriodUnit) -> str:
    """A period unit as a person reads it: ``calendar months``."""
    return unit.value.replace("_", " ")


def extension_terms() -> str:
    """How ``extend_by`` is counted and how much it may be, regime by regime (from
    :data:`RULES`), for help texts: ``gdpr: calendar months, at most 2; ...``."""
    terms = []
    for regime, rule in RULES.items():
        if not rule.extension_allowed:
            terms.append(f"{regime}: no extension")
        elif rule.extension is None:
            terms.append(f"{regime}: {unit_words(rule.unit)}, a reasonable period (required)")
        else:
            terms.append(f"{regime}: {unit_words(rule.unit)}, at most {rule.extension}")
    return "; ".join(terms)


def is_deemed_refused(
    regime: Regime | str, received: date, today: date, *, answer_due: date | None = None
) -> bool:
    """True when the regime treats silence as refusal (PIPEDA s.8(5)) and ``today`` is past
    the deadline (``answer_due``, e.g. an extended one, else :func:`due_date`)."""
    rule = rule_for(regime)
    today = _check_date("today", today)
    due = answer_due if answer_due is not None else due_date(regime, received)
    return rule.deemed_refusal and today > due


def opt_out_due(
    received: date, regime: Regime | str = Regime.ccpa, *, subdivision: str | None = None
) -> date:
    """Last day to honour an opt-out of sale/sharing received on ``received`` (CCPA: 15
    business days, 11 CCR 7026(f); business days as the regime's request calendar counts
    them, 11 CCR 7001: Monday to Friday but California state holidays)."""
    received = _check_date("received", received)
    rule = opt_out_rule(regime)
    if rule is None:
        raise ValidationError(
            f"{regime} has no opt-out of sale/sharing of its own: its requests take due_date()",
            code="no_opt_out_rule",
        )
    calendar = rule_for(rule.regime, subdivision=subdivision).calendar
    return add_working_days(received, rule.honour_within_business_days, calendar)


def may_ask_to_opt_in(opted_out_on: date, today: date) -> bool:
    """Whether a business may ask a person who opted out to opt back in (12 months wait)."""
    opted_out_on, today = _check_date("opted_out_on", opted_out_on), _check_date("today", today)
    return today >= opted_out_on + relativedelta(months=CCPA_OPT_OUT.reask_after_months)


def request_log_keep_until(logged_on: date) -> date:
    """Earliest day a CCPA request-log entry may go (kept 24 months, 11 CCR 7101(a))."""
    logged_on = _check_date("logged_on", logged_on)
    return logged_on + relativedelta(months=CCPA_OPT_OUT.log_retention_months)


__all__ = [
    "CCPA_OPT_OUT",
    "OPT_OUT_RULES",
    "RULES",
    "DeadlineRule",
    "OptOutRule",
    "PeriodUnit",
    "ReceiptDay",
    "WorkingCalendar",
    "acknowledge_by",
    "add_working_days",
    "due_date",
    "extended_due",
    "is_deemed_refused",
    "may_ask_to_opt_in",
    "next_working_day",
    "opt_out_due",
    "opt_out_rule",
    "request_log_keep_until",
    "rule_for",
    "working_days_between",
]
