"""Breach notification clocks: every number of REGULATIONS.md, "Breach notification"."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from troth.breaches.clocks import (
    OBLIGATIONS,
    REGISTER_RETENTION_MONTHS,
    Audience,
    ClockStatus,
    NotificationClock,
    clock_status,
    notification_clocks,
    register_keep_until,
)
from troth.errors import ValidationError
from troth.policy.model import Regime

AWARE = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def by_audience(clocks: list[NotificationClock]) -> dict[tuple[str, str], NotificationClock]:
    return {(c.regime.value, c.audience.value): c for c in clocks}


def test_every_regime_has_obligations_with_a_citation() -> None:
    assert {o.regime for o in OBLIGATIONS} == set(Regime)
    assert all(o.basis and o.text for o in OBLIGATIONS)


@pytest.mark.parametrize("regime", [Regime.gdpr, Regime.uk_gdpr])
def test_gdpr_regulator_72_hours_individuals_when_high_risk(regime: Regime) -> None:
    low = by_audience(notification_clocks([regime], AWARE, 10, high_risk=False))
    assert set(low) == {(regime.value, "regulator")}
    reg = low[(regime.value, "regulator")]
    assert reg.due_at == AWARE + timedelta(hours=72)
    assert reg.late_reasons_required and "33" in reg.basis
    high = by_audience(notification_clocks([regime], AWARE, 10, high_risk=True))
    people = high[(regime.value, "individuals")]
    assert people.due_at is None and people.text == "without undue delay"
    assert "34" in people.basis


def test_california_30_days_and_attorney_general_over_500() -> None:
    few = by_audience(notification_clocks([Regime.ccpa], AWARE, 500, high_risk=False))
    assert set(few) == {("ccpa", "individuals")}
    assert few[("ccpa", "individuals")].due_at == AWARE + timedelta(days=30)
    many = by_audience(notification_clocks([Regime.ccpa], AWARE, 501, high_risk=False))
    ag = many[("ccpa", "attorney_general")]
    # Until the residents are told, the latest lawful date is 30 + 15 days from discovery.
    assert ag.due_at == AWARE + timedelta(days=45)
    told = AWARE + timedelta(days=3)
    exact = by_audience(
        notification_clocks([Regime.ccpa], AWARE, 501, False, individuals_notified_at=told)
    )
    assert exact[("ccpa", "attorney_general")].due_at == told + timedelta(days=15)
    assert exact[("ccpa", "attorney_general")].starts_at == told


def test_pipeda_as_soon_as_feasible_with_real_risk() -> None:
    # Not judged high risk: PIPEDA still asks for the determination (real risk of
    # significant harm) and a record, with no fixed limit (trial 10, item 3: nothing showed).
    (low,) = notification_clocks([Regime.pipeda], AWARE, 1000, high_risk=False)
    assert (low.audience, low.due_at) == (Audience.assessment, None)
    assert "real risk of significant harm" in low.text and "10.1" in low.basis
    clocks = by_audience(notification_clocks([Regime.pipeda], AWARE, 3, high_risk=True))
    assert set(clocks) == {
        ("pipeda", "assessment"),
        ("pipeda", "regulator"),
        ("pipeda", "individuals"),
    }
    assert all(c.due_at is None and "as soon as feasible" in c.text for c in clocks.values())


def test_nz_as_soon_as_practicable_72_hours_expected() -> None:
    clocks = by_audience(notification_clocks([Regime.nz], AWARE, 3, high_risk=True))
    assert clocks[("nz", "regulator")].due_at == AWARE + timedelta(hours=72)
    assert "as soon as practicable" in clocks[("nz", "regulator")].text
    assert clocks[("nz", "individuals")].due_at is None


def test_australia_assess_within_30_days() -> None:
    low = by_audience(notification_clocks([Regime.au], AWARE, 3, high_risk=False))
    assert set(low) == {("au", "assessment")}
    assert low[("au", "assessment")].due_at == AWARE + timedelta(days=30)
    high = notification_clocks([Regime.au], AWARE, 3, high_risk=True)
    assert [c.audience for c in high] == [
        Audience.assessment,
        Audience.regulator,
        Audience.individuals,
    ]


def test_several_regimes_at_once_in_table_order() -> None:
    clocks = notification_clocks(["uk_gdpr", Regime.gdpr, "ccpa"], AWARE, 600, True)
    assert [(c.regime.value, c.audience.value) for c in clocks] == [
        ("gdpr", "regulator"),
        ("gdpr", "individuals"),
        ("uk_gdpr", "regulator"),
        ("uk_gdpr", "individuals"),
        ("ccpa", "individuals"),
        ("ccpa", "attorney_general"),
    ]


def test_status_through_the_72_hours() -> None:
    (clock,) = notification_clocks([Regime.gdpr], AWARE, 1, high_risk=False)
    assert clock_status(clock, AWARE) is ClockStatus.on_time
    assert clock_status(clock, AWARE + timedelta(hours=53)) is ClockStatus.on_time
    assert clock_status(clock, AWARE + timedelta(hours=54)) is ClockStatus.due_soon  # 18h left
    assert clock_status(clock, AWARE + timedelta(hours=72)) is ClockStatus.due_soon
    assert clock_status(clock, AWARE + timedelta(hours=72, seconds=1)) is ClockStatus.overdue
    done = AWARE + timedelta(hours=10)
    assert clock_status(clock, AWARE + timedelta(days=9), done) is ClockStatus.met
    late = AWARE + timedelta(hours=80)
    assert clock_status(clock, AWARE + timedelta(days=9), late) is ClockStatus.met_late
    assert (
        clock_status(clock, AWARE + timedelta(hours=1), soon=timedelta(hours=72))
        is ClockStatus.due_soon
    )


def test_status_without_a_fixed_limit() -> None:
    clocks = notification_clocks([Regime.pipeda], AWARE, 1, high_risk=True)
    assert clock_status(clocks[0], AWARE) is ClockStatus.due_soon
    assert clock_status(clocks[0], AWARE, AWARE + timedelta(days=40)) is ClockStatus.met


def test_register_kept_24_months() -> None:
    assert REGISTER_RETENTION_MONTHS == 24
    assert register_keep_until(date(2026, 2, 28)) == date(2028, 2, 28)
    assert register_keep_until(date(2024, 2, 29)) == date(2026, 2, 28)


@pytest.mark.parametrize(
    "call",
    [
        lambda: notification_clocks(["mars"], AWARE, 1, False),
        lambda: notification_clocks([Regime.gdpr], datetime(2026, 1, 1), 1, False),
        lambda: notification_clocks([Regime.gdpr], AWARE, -1, False),
        lambda: notification_clocks([Regime.gdpr], AWARE, 1.5, False),  # type: ignore[arg-type]
        lambda: notification_clocks(
            [Regime.ccpa], AWARE, 1, False, individuals_notified_at=AWARE - timedelta(1)
        ),
        lambda: clock_status(
            notification_clocks([Regime.gdpr], AWARE, 1, False)[0], datetime(2026, 1, 1)
        ),
        lambda: register_keep_until("2026-01-01"),  # type: ignore[arg-type]
    ],
)
def test_bad_input_is_refused_clearly(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError):
        call()


def test_an_unknown_regime_names_the_known_ones() -> None:
    with pytest.raises(ValidationError) as err:
        notification_clocks(["gdpr", "mars"], AWARE, 1, False)
    assert err.value.code == "unknown_regime"
    assert err.value.message == (
        "unknown regime 'mars': use one of gdpr, uk_gdpr, ccpa, pipeda, nz, au"
    )
