"""Aggregates count people, not values (P09): a person collected twice with two values of
a dimension is counted once, in the group of their latest value, so the groups add up to
the same total of distinct people whatever the grouping, and no difference of published
figures (between groupings, or a grouping and the total) is a count below k."""

from __future__ import annotations

from typing import Any

import pytest

from troth.aggregates.query import aggregate
from troth.errors import ValidationError
from troth.gate import Actor, ActorKind

ANALYST = Actor(ActorKind.application, "bi", scopes=frozenset({"aggregate"}))
P = "product_improvement"  # itechno: legitimate interest, dimensions event and browser, k 10


def _with_duration(p: dict[str, Any]) -> None:
    point = next(cp for cp in p["collection_points"] if cp["id"] == "site_usage")
    point["fields"]["duration"] = {"category": "usage", "type": "integer"}


def _moved(t: Any, clock: Any) -> str:
    """11 download/Firefox people, 11 view/Chrome people, and one person first seen as
    download/Safari, a day later as view/Chrome (23 people)."""
    t.collect_many("site_usage", [{"event": "download", "browser": "Firefox", "duration": 10}] * 11)
    t.collect_many("site_usage", [{"event": "view", "browser": "Chrome", "duration": 20}] * 11)
    first = {"event": "download", "browser": "Safari", "duration": 5}
    sid = str(t.collect("site_usage", first).subject_id)
    clock.advance(days=1)
    t.collect("site_usage", {"event": "view", "browser": "Chrome", "duration": 7}, subject_id=sid)
    return sid


def _published(r: Any) -> int:
    return int(sum(r.cells.values()) + (r.other or 0))


def test_every_grouping_has_the_same_total_of_distinct_people(home, db_url, clock):
    t = home("itechno", db_url, edit=_with_duration)
    _moved(t, clock)
    by_event = aggregate(t.ctx, P, "usage", "event", ["event"], actor=ANALYST)
    by_browser = aggregate(t.ctx, P, "technical", "browser", ["browser"], actor=ANALYST)
    overall = aggregate(t.ctx, P, "usage", "event", actor=ANALYST)
    # The person who moved is in their latest group only (view, Chrome): Safari is no
    # group at all, and no total differs from another by that one person.
    assert by_event.cells == {("download",): 11, ("view",): 12}
    assert by_browser.cells == {("Firefox",): 11, ("Chrome",): 12}
    assert by_event.total == by_browser.total == overall.total == 23
    for r in (by_event, by_browser):
        assert r.other is None and _published(r) == r.total
    # The same with another measured field: a count is people per value of the dimension.
    same = aggregate(t.ctx, P, "usage", "duration", ["event"], actor=ANALYST)
    assert same.cells == by_event.cells and same.total == 23


def test_a_group_of_k_values_but_fewer_than_k_people_is_suppressed(home, db_url, clock):
    t = home("itechno", db_url)
    t.collect_many("site_usage", [{"event": "download", "browser": "Firefox"}] * 9)
    t.collect_many("site_usage", [{"event": "view", "browser": "Chrome"}] * 15)
    sid = t.collect("site_usage", {"event": "download", "browser": "Firefox"}).subject_id
    clock.advance(hours=1)
    t.collect("site_usage", {"event": "view", "browser": "Chrome"}, subject_id=sid)
    r = aggregate(t.ctx, P, "usage", "event", ["event"], actor=ANALYST)
    # "download" holds 10 values but 9 people (below k = 10): hidden, and "view" with it
    # (else total minus view); "other" is distinct people, the total minus nothing shown.
    assert r.cells == {} and r.total == 25 and r.other == 25
    assert "download" not in str(r.to_dict())
    # The total at the k boundary: 25 people (26 values), so published at k = 25 only.
    assert aggregate(t.ctx, P, "usage", "event", actor=ANALYST, k=25).total == 25
    assert aggregate(t.ctx, P, "usage", "event", actor=ANALYST, k=26).total is None


def test_sums_put_a_persons_values_in_their_latest_group(home, db_url, clock):
    t = home("itechno", db_url, edit=_with_duration)
    _moved(t, clock)
    s = aggregate(t.ctx, P, "usage", "duration", ["event"], "sum", ANALYST)
    assert s.cells == {("download",): 110, ("view",): 220 + 5 + 7}
    whole = aggregate(t.ctx, P, "usage", "duration", measure="sum", actor=ANALYST)
    assert s.total == whole.total == 110 + 220 + 12
    a = aggregate(t.ctx, P, "usage", "duration", ["browser"], "avg", ANALYST)
    assert a.cells[("Firefox",)] == 10 and a.cells[("Chrome",)] == pytest.approx(232 / 13)
    assert ("Safari",) not in a.cells


def test_erased_person_in_two_groups_is_counted_nowhere(home, db_url, clock):
    t = home("itechno", db_url, edit=_with_duration)
    sid = _moved(t, clock)
    from sqlalchemy import update

    from troth.store.tables import subjects

    with t.ctx.engine.begin() as conn:
        conn.execute(update(subjects).where(subjects.c.id == sid).values(erased_at=clock.now()))
    # A second person moves from download to view and stays counted, once.
    other = t.collect("site_usage", {"event": "download", "browser": "Firefox"}).subject_id
    clock.advance(hours=1)
    t.collect("site_usage", {"event": "view", "browser": "Chrome"}, subject_id=str(other))
    r = aggregate(t.ctx, P, "usage", "event", ["event"], actor=ANALYST)
    assert r.cells == {("download",): 11, ("view",): 12} and r.total == 23
    assert aggregate(t.ctx, P, "technical", "browser", actor=ANALYST).total == 23


def test_group_by_none_or_a_string(home, db_url):
    t = home("itechno", db_url)
    t.collect_many("site_usage", [{"event": "download", "browser": "Firefox"}] * 12)
    assert t.aggregate(P, "usage", "event", group_by=None, actor=ANALYST).total == 12
    r = t.aggregate(P, "usage", "event", group_by="event", actor=ANALYST)
    assert r.group_by == ("event",) and r.cells == {("download",): 12}
    with pytest.raises(ValidationError, match="strings"):
        aggregate(t.ctx, P, "usage", "event", [1], actor=ANALYST)  # type: ignore[list-item]


def test_sum_grouped_has_the_ungrouped_total(home, db_url):
    t = home("itechno", db_url, edit=_with_duration)
    t.collect_many("site_usage", [{"event": "download", "duration": 10}] * 12)
    t.collect_many("site_usage", [{"browser": "Lynx", "duration": 1}] * 11)
    t.collect("site_usage", {"browser": "Lynx", "duration": 1000})
    s = aggregate(t.ctx, P, "usage", "duration", ["event"], "sum", ANALYST)
    whole = aggregate(t.ctx, P, "usage", "duration", measure="sum", actor=ANALYST)
    # The values without an event are the group None: the two totals agree, so their
    # difference gives away no one's duration.
    assert s.total == whole.total == 120 + 11 + 1000
    assert s.cells == {("download",): 120, (None,): 1011}
