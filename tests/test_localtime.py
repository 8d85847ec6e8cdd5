"""A naive local time is read in a zone once (:func:`troth.localtime.local_time`): a time
the clocks skipped or showed twice is refused with the offsets to write, at both
daylight-saving changes of Toronto, Paris and Sydney (southern: October forward, April
back); a time with an offset, or at the year end, is what it says."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from troth.errors import ValidationError
from troth.localtime import day_start, local_time

TORONTO, PARIS, SYDNEY = (
    ZoneInfo(z) for z in ("America/Toronto", "Europe/Paris", "Australia/Sydney")
)


def _at(text: str, zone: ZoneInfo) -> datetime:
    return local_time(datetime.fromisoformat(text), zone, field="at").astimezone(UTC)


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "zone", "offset", "shown"),
    [
        ("2026-03-08T02:30", TORONTO, "-05:00", "2026-03-08T03:30"),
        ("2026-03-08T02:00", TORONTO, "-05:00", "2026-03-08T03:00"),
        ("2026-03-29T02:30", PARIS, "+01:00", "2026-03-29T03:30"),
        ("2026-03-29T02:59:59", PARIS, "+01:00", "2026-03-29T03:59:59"),
        ("2026-10-04T02:30", SYDNEY, "+10:00", "2026-10-04T03:30"),
    ],
)
def test_a_time_the_clocks_skipped_is_refused(
    text: str, zone: ZoneInfo, offset: str, shown: str
) -> None:
    with pytest.raises(ValidationError) as err:
        _at(text, zone)
    e = err.value
    assert (e.code, e.status, e.details) == ("time_does_not_exist", 422, {"field": "at"})
    assert e.message == (
        f"{text} does not exist in {zone.key} (the clocks went forward); give an offset,"
        f" e.g. {text}{offset} (which is {shown} there)"
    )
    # The example given is a time troth takes, and it is the moment named.
    example = datetime.fromisoformat(f"{text}{offset}")
    assert (
        local_time(example, zone)
        .astimezone(zone)
        .replace(tzinfo=None)
        .isoformat(timespec="seconds")
        .startswith(shown)
    )


@pytest.mark.parametrize(
    ("text", "zone", "first", "second"),
    [
        ("2026-11-01T01:30", TORONTO, "-04:00", "-05:00"),
        ("2026-11-01T01:00", TORONTO, "-04:00", "-05:00"),
        ("2026-10-25T02:30", PARIS, "+02:00", "+01:00"),
        ("2026-04-05T02:30", SYDNEY, "+11:00", "+10:00"),
    ],
)
def test_a_time_the_clocks_showed_twice_is_refused(
    text: str, zone: ZoneInfo, first: str, second: str
) -> None:
    with pytest.raises(ValidationError) as err:
        _at(text, zone)
    assert err.value.code == "time_is_ambiguous"
    assert err.value.message == (
        f"{text} happens twice in {zone.key} (the clocks went back); give the offset:"
        f" {text}{first} (the first) or {text}{second} (the second)"
    )
    # Either offset is taken, an hour apart.
    one, two = (datetime.fromisoformat(text + o) for o in (first, second))
    assert (_at(f"{text}{first}", zone), _at(f"{text}{second}", zone)) == (one, two)
    assert (two - one).total_seconds() == 3600


def test_times_beside_the_changes_and_at_the_year_end_are_read_as_written() -> None:
    assert _at("2026-03-08T01:59", TORONTO) == _utc(2026, 3, 8, 6, 59)
    assert _at("2026-03-08T03:00", TORONTO) == _utc(2026, 3, 8, 7, 0)
    assert _at("2026-11-01T00:59", TORONTO) == _utc(2026, 11, 1, 4, 59)
    assert _at("2026-11-01T02:00", TORONTO) == _utc(2026, 11, 1, 7, 0)
    assert _at("2026-03-29T01:59", PARIS) == _utc(2026, 3, 29, 0, 59)
    assert _at("2026-10-25T03:00", PARIS) == _utc(2026, 10, 25, 2, 0)
    # The year end: no change of clocks, the day and year roll over in UTC.
    assert _at("2026-12-31T23:59", TORONTO) == _utc(2027, 1, 1, 4, 59)
    assert _at("2026-12-31T23:30", PARIS) == _utc(2026, 12, 31, 22, 30)
    assert _at("2027-01-01T00:30", SYDNEY) == _utc(2026, 12, 31, 13, 30)
    assert day_start(date(2027, 1, 1), TORONTO) == datetime(2027, 1, 1, 5, 0, tzinfo=UTC)
    assert day_start(date(2027, 1, 1), SYDNEY) == datetime(2026, 12, 31, 13, 0, tzinfo=UTC)
    # With an offset, the instant given, in any zone, on any day.
    aware = datetime(2026, 3, 8, 2, 30, tzinfo=UTC)
    assert local_time(aware, TORONTO) is aware


def test_a_day_starts_when_the_clocks_reach_it() -> None:
    # Santiago skips midnight (00:00 -> 01:00) on 6 Sep 2026: that day starts at 01:00.
    santiago = ZoneInfo("America/Santiago")
    start = day_start(date(2026, 9, 6), santiago)
    assert start == datetime(2026, 9, 6, 4, 0, tzinfo=UTC)
    assert start.astimezone(santiago).hour == 1
    assert day_start(date(2026, 3, 8), TORONTO) == datetime(2026, 3, 8, 5, 0, tzinfo=UTC)
