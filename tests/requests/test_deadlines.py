"""Deadlines for a person's request: every number and example of REGULATIONS.md, then
properties of the date arithmetic."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from troth.errors import ValidationError
from troth.policy.model import Regime
from troth.requests.deadlines import (
    CCPA_OPT_OUT,
    RULES,
    PeriodUnit,
    ReceiptDay,
    acknowledge_by,
    due_date,
    extended_due,
    is_deemed_refused,
    may_ask_to_opt_in,
    opt_out_due,
    request_log_keep_until,
    rule_for,
    working_days_between,
)

D = date


def test_every_regime_has_a_cited_rule() -> None:
    assert set(RULES) == set(Regime)
    for regime, rule in RULES.items():
        assert rule.regime is regime and rule.basis


def test_table_numbers() -> None:
    g, uk, ca, pi, nz, au = (RULES[r] for r in Regime)
    assert (g.period, g.unit, g.extension, g.max_total) == (1, PeriodUnit.calendar_months, 2, 3)
    assert (uk.period, uk.extension, uk.max_total) == (1, 2, 3)
    assert uk.receipt is ReceiptDay.day_one and uk.roll_to_working_day and uk.pause_allowed
    assert (uk.calendar.country, uk.calendar.subdivision) == ("GB", "ENG")
    assert (ca.period, ca.unit, ca.acknowledge_within) == (45, PeriodUnit.calendar_days, 10)
    assert (ca.extension, ca.max_total) == (45, 90)
    assert (pi.period, pi.extension, pi.max_total, pi.deemed_refusal) == (30, 30, 60, True)
    assert (nz.period, nz.unit) == (20, PeriodUnit.working_days)
    assert (nz.calendar.closed_from, nz.calendar.closed_to) == ((12, 25), (1, 15))
    assert nz.extension_allowed and nz.extension is None
    assert (au.period, au.unit, au.extension_allowed) == (30, PeriodUnit.calendar_days, False)
    assert not g.roll_to_working_day and not ca.pause_allowed


# GDPR Art. 12(3): one month from receipt.
@pytest.mark.parametrize(
    ("received", "due"),
    [
        (D(2025, 1, 31), D(2025, 2, 28)),
        (D(2024, 1, 31), D(2024, 2, 29)),
        (D(2025, 9, 3), D(2025, 10, 3)),
        (D(2025, 3, 31), D(2025, 4, 30)),
        (D(2025, 12, 15), D(2026, 1, 15)),
    ],
)
def test_gdpr_one_month(received: date, due: date) -> None:
    assert due_date(Regime.gdpr, received) == due


def test_gdpr_deadline_on_a_weekend_does_not_move() -> None:
    assert due_date(Regime.gdpr, D(2025, 9, 4)) == D(2025, 10, 4)  # a Saturday


def test_gdpr_extension_two_months_three_at_most() -> None:
    assert extended_due(Regime.gdpr, D(2025, 1, 31), D(2025, 2, 10)) == D(2025, 4, 30)
    assert extended_due(Regime.gdpr, D(2025, 9, 3), D(2025, 10, 3)) == D(2025, 12, 3)
    assert extended_due(Regime.gdpr, D(2025, 9, 3), D(2025, 9, 3), extend_by=1) == D(2025, 11, 3)
    with pytest.raises(ValidationError, match="too late") as err:
        extended_due(Regime.gdpr, D(2025, 9, 3), D(2025, 10, 4))
    assert err.value.code == "extension_too_late"
    with pytest.raises(ValidationError, match="at most 2"):
        extended_due(Regime.gdpr, D(2025, 9, 3), D(2025, 9, 10), extend_by=3)
    with pytest.raises(ValidationError, match="before the request"):
        extended_due(Regime.gdpr, D(2025, 9, 3), D(2025, 9, 2))


def test_gdpr_clock_does_not_pause() -> None:
    with pytest.raises(ValidationError) as err:
        due_date(Regime.gdpr, D(2025, 9, 3), paused_days=2)
    assert err.value.code == "pause_not_allowed"


# UK GDPR + ICO: day of receipt is day 1; weekends and bank holidays roll forward.
def test_uk_same_date_next_month() -> None:
    assert due_date(Regime.uk_gdpr, D(2025, 9, 3)) == D(2025, 10, 3)  # Friday
    assert due_date(Regime.uk_gdpr, D(2025, 1, 31)) == D(2025, 2, 28)  # Friday


def test_uk_saturday_moves_to_monday() -> None:
    assert due_date(Regime.uk_gdpr, D(2025, 9, 4)) == D(2025, 10, 6)


def test_uk_bank_holiday_moves_to_next_working_day() -> None:
    # 25 Aug 2025 is the Summer bank holiday (Monday) in England.
    assert due_date(Regime.uk_gdpr, D(2025, 7, 25)) == D(2025, 8, 26)
    # 25 Dec 2025 (Thu) and 26 Dec (Fri) are bank holidays, then a weekend.
    assert due_date(Regime.uk_gdpr, D(2025, 11, 25)) == D(2025, 12, 29)


def test_uk_subdivision_is_configurable() -> None:
    # 2 Jan is a bank holiday in Scotland only.
    assert due_date(Regime.uk_gdpr, D(2025, 12, 2)) == D(2026, 1, 2)
    assert due_date(Regime.uk_gdpr, D(2025, 12, 2), subdivision="SCT") == D(2026, 1, 5)
    with pytest.raises(ValidationError, match="ENG, NIR, SCT, WLS"):
        due_date(Regime.uk_gdpr, D(2025, 12, 2), subdivision="XX")
    with pytest.raises(ValidationError, match="no holiday calendar"):
        due_date(Regime.gdpr, D(2025, 12, 2), subdivision="SCT")


def test_uk_clock_pauses_for_id() -> None:
    assert due_date(Regime.uk_gdpr, D(2025, 9, 3), paused_days=5) == D(2025, 10, 8)


def test_uk_extension_rolls_too() -> None:
    # 3 months from 4 Sep 2025 is Thursday 4 Dec; from 4 Oct (a Saturday) +2 would differ.
    assert extended_due(Regime.uk_gdpr, D(2025, 9, 4), D(2025, 10, 6)) == D(2025, 12, 4)
    assert extended_due(Regime.uk_gdpr, D(2025, 10, 25), D(2025, 11, 1)) == D(2026, 1, 26)


# CCPA 11 CCR 7021: acknowledge in 10 business days, answer in 45, +45, 90 at most.
def test_ccpa_45_days() -> None:
    assert due_date(Regime.ccpa, D(2025, 7, 1)) == D(2025, 8, 15)
    assert (due_date(Regime.ccpa, D(2025, 7, 1)) - D(2025, 7, 1)).days == 45


def test_ccpa_extension_45_max_90() -> None:
    received = D(2025, 7, 1)
    assert extended_due(Regime.ccpa, received, D(2025, 8, 15)) == received + timedelta(days=90)
    assert extended_due(Regime.ccpa, received, D(2025, 7, 2), extend_by=10) == D(2025, 8, 25)
    with pytest.raises(ValidationError, match="too late"):
        extended_due(Regime.ccpa, received, D(2025, 8, 16))
    with pytest.raises(ValidationError, match="at most 45"):
        extended_due(Regime.ccpa, received, D(2025, 7, 2), extend_by=46)


def test_ccpa_acknowledge_in_10_business_days() -> None:
    # 4 Jul is a holiday: 2, 3, 7, 8, 9, 10, 11, 14, 15, 16 July.
    assert acknowledge_by(Regime.ccpa, D(2025, 7, 1)) == D(2025, 7, 16)
    assert working_days_between(Regime.ccpa, D(2025, 7, 1), D(2025, 7, 16)) == 10
    assert acknowledge_by(Regime.gdpr, D(2025, 7, 1)) is None


def test_ccpa_clock_runs_during_verification() -> None:
    with pytest.raises(ValidationError, match="does not pause"):
        due_date(Regime.ccpa, D(2025, 7, 1), paused_days=3)


def test_ccpa_opt_out_15_business_days_and_logs() -> None:
    assert CCPA_OPT_OUT.honour_within_business_days == 15
    assert CCPA_OPT_OUT.reask_after_months == 12
    assert CCPA_OPT_OUT.log_retention_months == 24
    assert {"request_date", "nature", "manner", "response_date", "response"} <= set(
        CCPA_OPT_OUT.log_fields
    )
    assert opt_out_due(D(2025, 7, 1)) == D(2025, 7, 23)
    assert working_days_between(Regime.ccpa, D(2025, 7, 1), D(2025, 7, 23)) == 15
    assert not may_ask_to_opt_in(D(2025, 3, 1), D(2026, 2, 28))
    assert may_ask_to_opt_in(D(2025, 3, 1), D(2026, 3, 1))
    assert request_log_keep_until(D(2025, 3, 1)) == D(2027, 3, 1)


# PIPEDA s.8: 30 days, +30 notified inside the first 30, silence = refusal.
def test_pipeda_30_plus_30_and_deemed_refusal() -> None:
    assert due_date(Regime.pipeda, D(2025, 3, 1)) == D(2025, 3, 31)
    assert extended_due(Regime.pipeda, D(2025, 3, 1), D(2025, 3, 31)) == D(2025, 4, 30)
    with pytest.raises(ValidationError, match="too late"):
        extended_due(Regime.pipeda, D(2025, 3, 1), D(2025, 4, 1))
    assert not is_deemed_refused(Regime.pipeda, D(2025, 3, 1), D(2025, 3, 31))
    assert is_deemed_refused(Regime.pipeda, D(2025, 3, 1), D(2025, 4, 1))
    assert not is_deemed_refused(
        Regime.pipeda, D(2025, 3, 1), D(2025, 4, 1), answer_due=D(2025, 4, 30)
    )
    assert not is_deemed_refused(Regime.gdpr, D(2025, 3, 1), D(2026, 1, 1))


# NZ: 20 working days, none between 25 Dec and 15 Jan, nor on public holidays.
def test_nz_request_on_20_december_skips_the_break() -> None:
    # 23, 24 Dec; 16, 17, 20-24, 27-31 Jan; 3, 4, 5 Feb; 6 Feb Waitangi Day; 7, 10, 11 Feb.
    assert due_date(Regime.nz, D(2024, 12, 20)) == D(2025, 2, 11)
    assert working_days_between(Regime.nz, D(2024, 12, 20), D(2025, 2, 11)) == 20
    assert working_days_between(Regime.nz, D(2024, 12, 24), D(2025, 1, 15)) == 0


def test_nz_ordinary_month_and_public_holidays() -> None:
    # Good Friday 18 Apr, Easter Monday 21 Apr, Anzac Day 25 Apr 2025 and weekends skipped.
    assert due_date(Regime.nz, D(2025, 4, 1)) == D(2025, 5, 2)
    assert working_days_between(Regime.nz, D(2025, 5, 2), D(2025, 4, 1)) == -20


def test_nz_extension_needs_a_length_and_notice_within_20_working_days() -> None:
    with pytest.raises(ValidationError, match="extend_by") as err:
        extended_due(Regime.nz, D(2025, 4, 1), D(2025, 4, 10))
    assert err.value.code == "extension_length_required"
    assert extended_due(Regime.nz, D(2025, 4, 1), D(2025, 5, 2), extend_by=5) == D(2025, 5, 9)
    with pytest.raises(ValidationError, match="too late"):
        extended_due(Regime.nz, D(2025, 4, 1), D(2025, 5, 5), extend_by=5)


def test_australia_30_days_no_extension() -> None:
    assert due_date(Regime.au, D(2025, 3, 1)) == D(2025, 3, 31)
    with pytest.raises(ValidationError) as err:
        extended_due(Regime.au, D(2025, 3, 1), D(2025, 3, 2))
    assert err.value.code == "extension_not_allowed"


@pytest.mark.parametrize(
    "bad",
    [
        lambda: due_date("mars", D(2025, 1, 1)),
        lambda: due_date(Regime.gdpr, datetime(2025, 1, 1, 12)),  # type: ignore[arg-type]
        lambda: due_date(Regime.gdpr, "2025-01-01"),  # type: ignore[arg-type]
        lambda: due_date(Regime.uk_gdpr, D(2025, 1, 1), paused_days=-1),
        lambda: extended_due(Regime.ccpa, D(2025, 1, 1), D(2025, 1, 2), extend_by=0),
    ],
)
def test_bad_input_is_refused_clearly(bad) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError):
        bad()


def test_regime_accepts_its_string_id() -> None:
    assert rule_for("uk_gdpr") is RULES[Regime.uk_gdpr]
    assert due_date("gdpr", D(2025, 1, 31)) == D(2025, 2, 28)


# Properties.
dates = st.dates(min_value=D(2000, 1, 1), max_value=D(2060, 12, 31))
regimes = st.sampled_from(list(Regime))


@settings(max_examples=300, deadline=None)
@given(regimes, dates)
def test_due_is_never_before_receipt(regime: Regime, received: date) -> None:
    assert due_date(regime, received) >= received


@settings(max_examples=300, deadline=None)
@given(regimes, dates, st.integers(min_value=0, max_value=40))
def test_due_is_monotone_in_the_receipt_date(regime: Regime, a: date, gap: int) -> None:
    assert due_date(regime, a) <= due_date(regime, a + timedelta(days=gap))


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([r for r in Regime if RULES[r].extension is not None]),
    dates,
    st.integers(min_value=0, max_value=120),
    st.integers(min_value=1, max_value=100),
)
def test_extension_never_exceeds_the_maximum(
    regime: Regime, received: date, notify_after: int, extend_by: int
) -> None:
    rule = RULES[regime]
    notified = received + timedelta(days=notify_after)
    try:
        extended = extended_due(regime, received, notified, extend_by=extend_by)
    except ValidationError:
        assert notified > due_date(regime, received) or extend_by > (rule.extension or 0)
        return
    assert notified <= due_date(regime, received) <= extended
    assert rule.max_total is not None
    if rule.unit is PeriodUnit.calendar_months:
        from dateutil.relativedelta import relativedelta

        cap = received + relativedelta(months=rule.max_total)
        if rule.roll_to_working_day:
            from troth.requests.deadlines import next_working_day

            cap = next_working_day(cap, rule.calendar)
        assert extended <= cap
    else:
        assert (extended - received).days <= rule.max_total


@settings(max_examples=200, deadline=None)
@given(dates)
def test_nz_due_never_in_the_break_nor_a_weekend(received: date) -> None:
    due = due_date(Regime.nz, received)
    assert due.weekday() < 5
    assert not ((due.month, due.day) >= (12, 25) or (due.month, due.day) <= (1, 15))
    assert working_days_between(Regime.nz, received, due) == 20


@settings(max_examples=200, deadline=None)
@given(dates)
def test_uk_due_is_always_a_working_day(received: date) -> None:
    due = due_date(Regime.uk_gdpr, received)
    assert RULES[Regime.uk_gdpr].calendar.is_working_day(due)
    assert (due - received).days <= 31 + 5
