"""Every place a user's time without an offset is read in the organisation's zone refuses
one a daylight-saving change skipped or showed twice (the Pillbox trial, in Toronto:
`breaches record --discovered 2026-03-08T02:30` was stored as 07:30Z, `2026-11-01T01:30`
took the first of two; `requests open --received` and the API's relationship end, in
Paris, likewise). Nothing is stored; the same time with an offset is taken."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from _http import api_key, client_for, is_problem
from cli_runner import run
from troth.audit.entries import list_entries
from troth.store.subjects import lookup_subject

GAP, FOLD = "2026-03-08T02:30", "2026-11-01T01:30"  # Toronto's two changes of 2026


def _toronto(data: dict[str, Any]) -> None:
    data["organisation"]["time_zone"] = "America/Toronto"


def _cli(capsys: pytest.CaptureFixture[str], t: Any, *args: str) -> tuple[int, str, str]:
    """`troth ARGS` in ``t``'s home; stderr on one line (a long message may be wrapped)."""
    code, out, err = run(capsys, "--home", str(t.ctx.home), *args)
    return code, out, " ".join(err.split())


def test_breach_times_at_toronto_changes(home: Any, capsys: pytest.CaptureFixture[str]) -> None:
    t = home("ilign", edit=_toronto)
    category = next(iter(t.ctx.policy.categories))
    base = ["breaches", "record", "-q", "--title", "Laptop", "--description", "lost",
            "--category", category]  # fmt: skip
    window = ["--from", "2026-03-01", "--until", "2026-03-07T12:00"]
    code, _out, err = _cli(capsys, t, *base, *window, "--discovered", GAP)
    assert code == 1, err
    assert "2026-03-08T02:30 does not exist in America/Toronto (the clocks went forward)" in err
    assert "2026-03-08T02:30-05:00" in err
    late = ["--from", "2026-10-20", "--until", "2026-10-31T23:00"]
    code, _out, err = _cli(capsys, t, *base, *late, "--discovered", FOLD)
    assert code == 1 and "happens twice in America/Toronto" in err, err
    assert "2026-11-01T01:30-04:00" in err and "2026-11-01T01:30-05:00" in err
    code, _out, err = _cli(capsys, t, *base, "--from", GAP, "--until", "2026-03-09", "--discovered",
                           "2026-03-10")  # fmt: skip
    assert code == 1 and "does not exist" in err
    assert json.loads(_cli(capsys, t, "breaches", "list", "--json")[1]) == []
    # The second 01:30, with its offset, is what is stored; a year end rolls over to UTC.
    code, out, err = _cli(capsys, t, *base, "--from", "2025-10-20", "--until",
                          "2025-12-31T23:30", "--discovered", "2026-11-01T01:30-05:00")  # fmt: skip
    assert code == 0, err
    shown = json.loads(_cli(capsys, t, "breaches", "show", out.strip())[1])
    at = {k: datetime.fromisoformat(shown[k]).astimezone(UTC) for k in
          ("discovered_at", "occurred_until")}  # fmt: skip
    assert at == {
        "discovered_at": datetime(2026, 11, 1, 6, 30, tzinfo=UTC),
        "occurred_until": datetime(2026, 1, 1, 4, 30, tzinfo=UTC),
    }


def test_request_receipt_at_toronto_changes(home: Any, capsys: pytest.CaptureFixture[str]) -> None:
    t = home("ilign", edit=_toronto)  # the CLI runs on today's clock: both are in the past
    before = t.requests.list(include_closed=True)
    for when, words in ((GAP, "does not exist"), (FOLD, "happens twice")):
        code, _out, err = _cli(capsys, t, "requests", "open", "access", "--email",
                               "a@example.com", "--received", when)  # fmt: skip
        assert code == 1 and words in err and "America/Toronto" in err, err
    assert t.requests.list(include_closed=True) == before
    code, out, err = _cli(capsys, t, "requests", "open", "access", "--email", "a@example.com",
                          "--received", "2026-11-01T01:30-04:00")  # fmt: skip
    assert code == 0 and "received 2026-11-01" in out, err


def test_api_relationship_end_at_paris_changes(home: Any, tmp_path: Path) -> None:
    policy = yaml.safe_load((Path(__file__).parent / "subjects" / "hirewell.yaml").read_text())
    policy["organisation"]["time_zone"] = "Europe/Paris"
    path = tmp_path / "hirewell-paris.yaml"
    path.write_text(yaml.safe_dump(policy))
    ctx = home(policy=path, context=True)
    from troth.engine import Troth

    t = Troth(ctx)
    acme = t.access.tenants.create_tenant("Acme", "hr@acme.example")
    rob = t.collect("application", {"name": "Rob", "email": "r@a.ex"}, tenant_id=acme).subject_id
    ctx.clock.set(datetime(2027, 1, 15, 12, 0, tzinfo=UTC))
    end = f"/api/v1/subjects/{rob}/relationship/end"
    with client_for(ctx) as c:
        key = api_key(c, ["admin"], tenant_id=acme)
        gap = is_problem(c.post(end, json={"at": "2026-03-29T02:30"}, headers=key), 422)
        assert gap["code"] == "time_does_not_exist" and gap["field"] == "at"
        assert "2026-03-29T02:30 does not exist in Europe/Paris" in gap["detail"]
        fold = is_problem(c.post(end, json={"at": "2026-10-25T02:30"}, headers=key), 422)
        assert fold["code"] == "time_is_ambiguous"
        assert "2026-10-25T02:30+02:00 (the first) or 2026-10-25T02:30+01:00" in fold["detail"]
        assert lookup_subject(ctx, rob).relationship_ended_at is None
        ok = c.post(end, json={"at": "2026-10-25T02:30+01:00"}, headers=key)
        assert ok.json()["ended_at"] == "2026-10-25T01:30:00+00:00", ok.text
        for at, utc in (
            ("2026-12-31T23:30", "2026-12-31T22:30"),
            ("2027-01-01", "2026-12-31T23:00"),
        ):
            r = c.post(end, json={"at": at, "correct": True}, headers=key)
            assert r.json()["ended_at"] == f"{utc}:00+00:00", r.text
    refused = list_entries(ctx, action="relationship.end", outcome="deny", limit=10)
    assert sorted(e.entry.reason or "" for e in refused) == [
        "time_does_not_exist",
        "time_is_ambiguous",
    ]
