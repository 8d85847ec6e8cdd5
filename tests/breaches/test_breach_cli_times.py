"""Times typed on the CLI without an offset (`breaches record --from/--until/--discovered`,
`breaches regulator --at`, `disclosures demand --gag-until`) are read in the organisation's
time zone, as `requests open --received` reads them (the trial found them refused, while a
request's were taken). ilign's organisation is in Pacific/Auckland (NZDT, UTC+13, in March)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from cli_runner import run


def _cli(capsys: pytest.CaptureFixture[str], t: Any, *args: str) -> tuple[int, str, str]:
    return run(capsys, "--home", str(t.ctx.home), *args)


def test_breach_times_without_an_offset_are_the_organisations(home: Any, capsys) -> None:
    t = home("ilign")
    category = next(iter(t.ctx.policy.categories))
    code, out, err = _cli(capsys, t, "breaches", "record", "-q", "--title", "Laptop",
                          "--description", "lost", "--from", "2026-02-27", "--until",
                          "2026-02-28T18:30", "--discovered", "2026-03-01T13:00",
                          "--category", category)  # fmt: skip
    assert code == 0, err
    breach = out.strip()
    shown = json.loads(_cli(capsys, t, "breaches", "show", breach)[1])
    when = {k: datetime.fromisoformat(shown[k]).astimezone(UTC) for k in
            ("occurred_from", "occurred_until", "discovered_at")}  # fmt: skip
    assert when == {
        "occurred_from": datetime(2026, 2, 26, 11, 0, tzinfo=UTC),  # midnight in Auckland
        "occurred_until": datetime(2026, 2, 28, 5, 30, tzinfo=UTC),
        "discovered_at": datetime(2026, 3, 1, 0, 0, tzinfo=UTC),
    }
    # With an offset, the offset given; the regulator's time likewise.
    assert _cli(capsys, t, "breaches", "regulator", breach, "--at", "2026-03-02T09:15")[0] == 0
    told = json.loads(_cli(capsys, t, "breaches", "show", breach)[1])["regulator_notified_at"]
    assert datetime.fromisoformat(told).astimezone(UTC) == datetime(2026, 3, 1, 20, 15, tzinfo=UTC)


@pytest.mark.parametrize("bad", ["yesterday", "2026-13-01", "01/03/2026 13:00", ""])
def test_a_time_that_is_not_iso_8601_says_what_to_type(home: Any, capsys, bad: str) -> None:
    t = home("ilign")
    category = next(iter(t.ctx.policy.categories))
    code, _out, err = _cli(capsys, t, "breaches", "record", "--title", "x", "--description",
                           "y", "--from", bad, "--until", "2026-02-28", "--category",
                           category)  # fmt: skip
    assert code != 0 and "ISO 8601" in err and "organisation's time zone" in err, err
    assert "Traceback" not in err
    assert json.loads(_cli(capsys, t, "breaches", "list", "--json")[1]) == []
