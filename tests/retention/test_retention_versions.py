"""P30, P36: retention follows the version in effect at the run (not a version published
to take effect later), a value never outlives the period of the version it was collected
under, and a purpose a new version drops keeps nothing: its values go at the first run once
that version is in effect, audited, and the diff says so beforehand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from troth.audit.entries import list_entries
from troth.cli import main
from troth.store.tables import records

USAGE = {"event": "login", "browser": "firefox"}
ORDER = {
    "name": "Ann Lee",
    "email": "ann@example.com",
    "address": "1 Main St",
    "card_number": "4111111111111111",
    "card_expiry": "12/29",
    "order_items": "1 widget",
}


def _auckland(data: dict[str, Any]) -> None:
    data["organisation"]["time_zone"] = "Pacific/Auckland"


def _publish(t: Any, tmp_path: Path, change: Any, effective: date, version: str = "2.0") -> Any:
    data = yaml.safe_load(t.ctx.settings.resolved_policy_file.read_text())
    data["version"] = version
    data["effective"] = effective
    change(data)
    path = tmp_path / f"{version}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return t.policy.publish(path)


def _purpose(data: dict[str, Any], pid: str) -> dict[str, Any]:
    return next(p for p in data["purposes"] if p["id"] == pid)


def _live(t: Any, sid: str) -> int:
    """The person's values not deleted nor anonymised."""
    with t.ctx.engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).where(
                    records.c.subject_id == sid, records.c.anonymised.is_(False)
                )
            ).scalar_one()
        )


def test_a_shorter_period_waits_for_its_date_across_the_year_end(
    home: Any, db_url: str, clock: Any, tmp_path: Path
) -> None:
    # v1 keeps usage 2 years; v2 (published in March) keeps it 30 days from 1 Jan 2027 in
    # Auckland, which is 31 Dec 2026 11:00 UTC (NZDT, UTC+13).
    t = home("itechno", db_url, edit=_auckland)
    sid = t.collect("site_usage", USAGE).subject_id

    def shorter(data: dict[str, Any]) -> None:
        _purpose(data, "product_improvement")["retention"]["keep_for"] = "30d"

    _publish(t, tmp_path, shorter, date(2027, 1, 1))
    clock.set(datetime(2026, 6, 1, tzinfo=UTC))
    assert t.retention.plan().total == 0 and t.retention.run().total == 0
    instant = datetime(2026, 12, 31, 11, 0, tzinfo=UTC)
    clock.set(instant - timedelta(seconds=1))
    assert t.retention.run().total == 0 and _live(t, sid) == 2
    assert t.retention.plan(instant).total == 2  # a plan for the instant sees v2
    clock.set(instant)
    assert t.retention.run().total == 2 and _live(t, sid) == 0


def test_a_longer_period_applies_only_to_data_collected_under_it(
    home: Any, db_url: str, clock: Any, tmp_path: Path
) -> None:
    t = home("itechno", db_url)
    old = t.collect("site_usage", USAGE).subject_id  # 2 Mar 2026, under 1.0: 2 years

    def longer(data: dict[str, Any]) -> None:
        _purpose(data, "product_improvement")["retention"]["keep_for"] = "4y"

    _publish(t, tmp_path, longer, date(2026, 4, 15))
    # Before 2.0 takes effect, 1.0 rules: still 2 years.
    clock.set(datetime(2026, 4, 15, tzinfo=UTC))
    new = t.collect("site_usage", {**USAGE, "browser": "safari"}).subject_id  # under 2.0
    clock.set(datetime(2028, 3, 2, 9, 0, tzinfo=UTC) - timedelta(seconds=1))
    assert t.retention.run().total == 0
    clock.set(datetime(2028, 3, 2, 9, 0, 1, tzinfo=UTC))
    # The person was told 2 years when it was collected: never longer without notice.
    assert t.retention.run().total == 2
    assert _live(t, old) == 0 and _live(t, new) == 2
    clock.set(datetime(2030, 4, 15, 0, 0, 1, tzinfo=UTC))
    assert t.retention.run().total == 2 and _live(t, new) == 0


def test_a_dropped_purpose_keeps_nothing_once_its_version_is_in_effect(
    home: Any, db_url: str, clock: Any, tmp_path: Path, capsys: Any
) -> None:
    t = home("itechno", db_url)
    news = t.collect(
        "newsletter_signup", {"name": "Bo", "email": "bo@example.com"}, consents=["product_news"]
    ).subject_id
    order = t.collect("order_form", ORDER).subject_id

    def drop(data: dict[str, Any]) -> None:
        data["purposes"] = [p for p in data["purposes"] if p["id"] != "product_news"]
        data["collection_points"] = [
            p for p in data["collection_points"] if p["id"] != "newsletter_signup"
        ]
        data["lists"] = []

    old_file = tmp_path / "1.0.yaml"
    old_file.write_text(t.ctx.settings.resolved_policy_file.read_text())
    result = _publish(t, tmp_path, drop, date(2026, 6, 1))
    assert not result.material  # a removal: no notice owed
    said = [w for w in result.warnings if "'product_news' is removed" in w]
    assert said and "2 value(s) are held for it, 2 serving no other purpose" in said[0]
    # `policy diff` of the two files says it too (no data at hand: no counts).
    code = None
    try:
        main(["policy", "diff", str(old_file), str(tmp_path / "2.0.yaml")])
    except SystemExit as exc:
        code = exc.code
    assert code in (None, 0)
    assert "warning: purpose 'product_news' is removed" in capsys.readouterr().out
    # Before 1 June 1.0 rules: consent given, kept.
    clock.set(datetime(2026, 6, 1, tzinfo=UTC) - timedelta(seconds=1))
    assert t.retention.run().total == 0 and _live(t, news) == 2
    clock.set(datetime(2026, 6, 1, tzinfo=UTC))
    report = t.retention.run()
    assert report.total == 2 and report.by_purpose["product_news"] == 2
    assert _live(t, news) == 0
    assert _live(t, order) == 6  # billing and fulfilment data untouched
    logged = [e.entry for e in list_entries(t.ctx) if e.entry.action == "retention"]
    assert logged and logged[-1].details["purposes"] == {"product_news": 2}
    # Years on, the order data follows its own periods as before.
    clock.set(datetime(2033, 3, 3, tzinfo=UTC))
    t.retention.run()
    assert _live(t, order) == 0
