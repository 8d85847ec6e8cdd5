"""P04 on the person's own calendar: an age is counted on the date where the person is (the
policy's zone for their regime, else the organisation's), at collection and when minors
are looked for later, never on the UTC date. Both directions, year ends, 29 February and
the nights clocks change."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from troth.clock import ManualClock
from troth.engine import Troth
from troth.errors import Refused
from troth.notices.publish import publish_policy


def _zones(minimum: int) -> Any:
    def edit(p: dict[str, Any]) -> None:
        p["organisation"]["time_zone"] = "Europe/Dublin"
        p["organisation"]["time_zones"] = {"ccpa": "America/Los_Angeles"}
        # Canada's floor is 14 (Quebec): pipeda never goes under it (AGE_FLOORS).
        p["minors"] = {"minimum_age": minimum, "by_jurisdiction": {"pipeda": max(minimum, 14)}}
        for purpose in p["purposes"]:
            if purpose["id"] == "licence_management":
                purpose["categories"].append("demographic")

    return edit


def _signup(t: Troth, n: int, born: str, juris: str) -> str:
    email = f"pupil{n}@example.com"
    data = {"name": "Pupil", "email": email, "username": f"pupil{n}", "date_of_birth": born}
    return str(t.collect("account_signup", data, jurisdiction=juris).subject_id)


def _utc(*a: int) -> datetime:
    return datetime(*a, tzinfo=UTC)


# (UTC time of collection, regime, date of birth, 13 there?)
CASES = [
    # Los Angeles, 17:00 on 30 Dec (01:00 UTC on the 31st): still 12 there.
    pytest.param(_utc(2025, 12, 31, 1, 0), "ccpa", "2012-12-31", False, id="la-year-end-12"),
    # Los Angeles, 00:00 on the 31st (08:00 UTC): 13 there.
    pytest.param(_utc(2025, 12, 31, 8, 0), "ccpa", "2012-12-31", True, id="la-year-end-13"),
    # Dublin, 00:30 Irish Summer Time on 1 Jul (23:30 UTC on 30 Jun): 13 there.
    pytest.param(_utc(2025, 6, 30, 23, 30), "gdpr", "2012-07-01", True, id="dublin-summer-13"),
    # Dublin, 23:59 IST on 30 Jun (22:59 UTC): still 12.
    pytest.param(_utc(2025, 6, 30, 22, 59), "gdpr", "2012-07-01", False, id="dublin-summer-12"),
    # A regime without a zone of its own (pipeda, 14 at least): the organisation's (Dublin).
    pytest.param(_utc(2025, 6, 30, 23, 30), "pipeda", "2011-07-01", True, id="no-zone-org-14"),
    pytest.param(_utc(2025, 6, 30, 22, 59), "pipeda", "2011-07-01", False, id="no-zone-org-13"),
    # Born 29 Feb: in a common year the birthday is 1 Mar. 23:00 on 28 Feb in Los
    # Angeles is 1 Mar in UTC: still 12 there.
    pytest.param(_utc(2025, 3, 1, 7, 0), "ccpa", "2012-02-29", False, id="leap-day-la-28feb"),
    pytest.param(_utc(2025, 3, 1, 8, 0), "ccpa", "2012-02-29", True, id="leap-day-la-1mar"),
    pytest.param(_utc(2025, 2, 28, 23, 0), "gdpr", "2012-02-29", False, id="leap-day-dublin"),
    # The night clocks go forward in Los Angeles (9 Mar 2025, 02:00 PST): 23:59 PST on
    # the 8th is the 9th in UTC; 00:00 on the 9th is 13.
    pytest.param(_utc(2025, 3, 9, 7, 59), "ccpa", "2012-03-09", False, id="la-dst-start-12"),
    pytest.param(_utc(2025, 3, 9, 8, 0), "ccpa", "2012-03-09", True, id="la-dst-start-13"),
    # The night they go back (2 Nov 2025, 02:00 PDT): 23:59 PDT on 1 Nov, 00:00 on 2 Nov.
    pytest.param(_utc(2025, 11, 2, 6, 59), "ccpa", "2012-11-02", False, id="la-dst-end-12"),
    pytest.param(_utc(2025, 11, 2, 7, 0), "ccpa", "2012-11-02", True, id="la-dst-end-13"),
    # Dublin's clocks go back on 26 Oct 2025 (02:00 IST): 00:30 IST on the 26th is
    # 23:30 UTC on the 25th.
    pytest.param(_utc(2025, 10, 25, 23, 30), "gdpr", "2012-10-26", True, id="dublin-dst-end"),
]


@pytest.mark.parametrize(("at", "juris", "born", "thirteen"), CASES)
def test_collection_counts_the_age_on_the_persons_date(
    home: Any, clock: ManualClock, at: datetime, juris: str, born: str, thirteen: bool
) -> None:
    t = home("itechno", edit=_zones(13))
    clock.set(at)
    if thirteen:
        assert _signup(t, 1, born, juris)
        return
    with pytest.raises(Refused) as caught:
        _signup(t, 1, born, juris)
    assert caught.value.reason == "minor"


def test_a_date_time_of_birth_is_dated_where_the_person_is(home: Any, clock: ManualClock) -> None:
    # Born 31 Dec 2012 at 20:00 in Los Angeles, written in UTC (04:00 on 1 Jan 2013): on 31
    # Dec 2025 in Los Angeles they are 13, though the UTC date of birth says 12.
    def edit(p: dict[str, Any]) -> None:
        _zones(13)(p)
        for cp in p["collection_points"]:
            if cp["id"] == "account_signup":
                cp["fields"]["date_of_birth"]["type"] = "datetime"

    t = home("itechno", edit=edit)
    clock.set(_utc(2025, 12, 31, 20, 0))
    assert _signup(t, 1, "2013-01-01T04:00:00+00:00", "ccpa")


def test_find_minors_counts_the_age_on_the_persons_date(
    home: Any, db_url: str, clock: ManualClock, tmp_path: Path
) -> None:
    t = home("itechno", db_url, edit=_zones(13))
    clock.set(_utc(2025, 6, 1, 12, 0))
    la = _signup(t, 1, "2011-12-31", "ccpa")
    dublin = _signup(t, 2, "2011-07-01", "gdpr")
    data = yaml.safe_load(t.ctx.settings.resolved_policy_file.read_text())
    data["version"] = f"{data['version']}-14"
    data["minors"] = {"minimum_age": 14}
    path = tmp_path / "policy-14.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    publish_policy(t.ctx, path)
    t2 = Troth.open(t.ctx.settings.home, clock=clock)
    try:
        # 22:59 UTC on 30 Jun: 23:59 in Dublin, both are still 13 where they are.
        clock.set(_utc(2025, 6, 30, 22, 59))
        assert sorted(t2.find_minors()) == sorted([la, dublin])
        # 23:30 UTC on 30 Jun: 1 Jul in Dublin (14), 30 Jun in Los Angeles (13).
        clock.set(_utc(2025, 6, 30, 23, 30))
        assert t2.find_minors() == [la]
        # 01:00 UTC on 31 Dec: 30 Dec in Los Angeles, so the pupil is 13 there still.
        clock.set(_utc(2025, 12, 31, 1, 0))
        assert t2.find_minors() == [la]
        clock.set(_utc(2025, 12, 31, 8, 0))  # midnight in Los Angeles: 14 there too
        assert t2.find_minors() == []
        assert t2.purge_minors(dry_run=True) == []
    finally:
        t2.close()
