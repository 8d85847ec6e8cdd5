"""Receipt days in the organisation's time zone: property tests over zones at the edges
(UTC+13, +14, -11, half-hour and 45-minute offsets, DST changes) and year ends (31 Dec,
29 Feb), and the policy's time-zone keys refused with a clear message when wrong."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from policy_samples import BASE
from troth.errors import PolicyError, ValidationError
from troth.policy.loader import parse_policy
from troth.policy.model import Regime
from troth.requests.deadlines import due_date
from troth.requests.receipt import header_time, local_day, parse_received, receipt_time

ZONES = [
    "UTC",
    "Pacific/Kiritimati",  # UTC+14
    "Pacific/Tongatapu",  # UTC+13
    "Pacific/Auckland",  # +12/+13 with DST
    "Pacific/Chatham",  # +12:45/+13:45
    "Pacific/Pago_Pago",  # UTC-11
    "America/Los_Angeles",
    "America/St_Johns",  # -3:30/-2:30
    "Europe/London",
    "Australia/Lord_Howe",  # a 30-minute DST change
    "Asia/Kolkata",
]
zones = st.sampled_from(ZONES).map(ZoneInfo)
instants = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2031, 12, 31), timezones=st.just(UTC)
)
# Moments near a year end and a leap day, where a day in UTC and locally differ most.
edges = st.builds(
    lambda day, minutes: datetime.combine(day, time(), UTC) + timedelta(minutes=minutes),
    st.sampled_from([date(2027, 12, 31), date(2028, 1, 1), date(2028, 2, 29), date(2028, 3, 1)]),
    st.integers(min_value=-15 * 60, max_value=15 * 60),
)


@settings(deadline=None)  # the first holiday tables take a while to build
@given(zones, st.one_of(instants, edges))
@example(ZoneInfo("Pacific/Auckland"), datetime(2027, 12, 19, 21, 0, tzinfo=UTC))
@example(ZoneInfo("Pacific/Kiritimati"), datetime(2027, 12, 31, 10, 0, tzinfo=UTC))
@example(ZoneInfo("Pacific/Pago_Pago"), datetime(2028, 3, 1, 10, 59, tzinfo=UTC))
def test_receipt_day_is_the_local_day(zone: ZoneInfo, at: datetime) -> None:
    now = at + timedelta(seconds=1)
    recorded = receipt_time(at, now=now, zone=zone)
    assert recorded == at and recorded.tzinfo is UTC
    day = local_day(recorded, zone)
    assert day == at.astimezone(zone).date()
    # The local day is never more than a day from the UTC day, either way.
    assert abs((day - at.date()).days) <= 1
    # Every regime's deadline counts from the local day and lies after it.
    for regime in Regime:
        assert due_date(regime, day) > day
    # GDPR: one calendar month of the local day (the month's last day when shorter).
    due = due_date(Regime.gdpr, day)
    assert (due.year * 12 + due.month) - (day.year * 12 + day.month) == 1
    assert due.day == day.day or (due.day < day.day and (due + timedelta(days=1)).day == 1)


@given(zones, st.dates(min_value=date(2024, 1, 1), max_value=date(2031, 12, 31)))
@example(ZoneInfo("Pacific/Auckland"), date(2028, 2, 29))
@example(ZoneInfo("America/St_Johns"), date(2027, 12, 31))
def test_a_date_or_wall_clock_time_is_read_in_the_zone(zone: ZoneInfo, day: date) -> None:
    assert local_day(parse_received(day, zone), zone) == day
    assert local_day(parse_received(day.isoformat(), zone), zone) == day
    noon = parse_received(f"{day.isoformat()}T12:00", zone)
    assert noon.astimezone(zone).replace(tzinfo=None) == datetime.combine(day, time(12))


@given(zones, instants, st.integers(min_value=1, max_value=10**6))
def test_a_receipt_after_now_is_refused(zone: ZoneInfo, now: datetime, ahead: int) -> None:
    with pytest.raises(ValidationError) as err:
        receipt_time(now + timedelta(seconds=ahead), now=now, zone=zone)
    assert err.value.code == "received_in_future" and zone.key in str(err.value)


def test_year_end_deadlines_from_the_local_day() -> None:
    auckland = ZoneInfo("Pacific/Auckland")
    # 31 Dec 23:30 in Auckland is still 31 Dec there, 10:30 UTC the same day.
    at = parse_received("2027-12-31T23:30", auckland)
    assert at == datetime(2027, 12, 31, 10, 30, tzinfo=UTC)
    assert local_day(at, auckland) == date(2027, 12, 31)
    # NZ: the working days start only after the 25 Dec - 15 Jan stretch.
    assert due_date(Regime.nz, date(2027, 12, 31)) == due_date(Regime.nz, date(2028, 1, 14))
    # GDPR from a leap day and from 31 Jan (REGULATIONS.md: same date or the month's end).
    assert due_date(Regime.gdpr, date(2028, 2, 29)) == date(2028, 3, 29)
    assert due_date(Regime.gdpr, date(2028, 1, 31)) == date(2028, 2, 29)
    assert due_date(Regime.gdpr, date(2027, 1, 31)) == date(2027, 2, 28)
    # CCPA: 45 calendar days, across the year end.
    assert due_date(Regime.ccpa, date(2027, 12, 31)) == date(2028, 2, 14)


def test_date_header_parsing() -> None:
    assert header_time("Fri, 05 Mar 2027 17:45:00 +1300") == datetime(2027, 3, 5, 4, 45, tzinfo=UTC)
    assert header_time("Fri, 05 Mar 2027 17:45:00 -0000") == datetime(
        2027, 3, 5, 17, 45, tzinfo=UTC
    )
    for junk in (None, "", "yesterday", "Fri, 99 Foo 2027"):
        assert header_time(junk) is None


def test_policy_time_zone_keys() -> None:
    zoned = BASE.replace(
        "  jurisdictions: [gdpr, uk_gdpr]\n",
        "  jurisdictions: [gdpr, uk_gdpr]\n  time_zone: Europe/Dublin\n"
        "  time_zones: {uk_gdpr: Europe/London}\n",
        1,
    )
    org = parse_policy(zoned, "p.yaml").organisation
    assert org.zone().key == "Europe/Dublin"
    assert org.zone("uk_gdpr").key == "Europe/London" and org.zone("gdpr").key == "Europe/Dublin"
    bad = zoned.replace("Europe/Dublin", "Europe/Atlantis")
    with pytest.raises(PolicyError) as err:
        parse_policy(bad, "p.yaml")
    assert "Europe/Atlantis" in str(err.value) and "IANA" in str(err.value)
    stray = zoned.replace("{uk_gdpr: Europe/London}", "{uk_gdpr: Europe/London, nz: UTC}")
    with pytest.raises(PolicyError) as err:
        parse_policy(stray, "p.yaml")
    assert "not one of the organisation's jurisdictions" in str(err.value)
