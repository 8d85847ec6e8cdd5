"""The end of a relationship over HTTP (`POST /api/v1/subjects/{id}/relationship/end`,
`.../resume`) and on the command line (`troth subjects end-relationship`,
`resume-relationship`): the service decides, the edges render its answers and errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from _http import api_key, client_for, is_problem
from cli_runner import run
from troth.audit.entries import list_entries
from troth.store.subjects import lookup_subject

POLICY = Path(__file__).parent / "hirewell.yaml"
API = "/api/v1/subjects"


def _people(t: Any) -> tuple[str, str, str, str]:
    """Two candidates who applied on 5 January (the ends below fall after it, before now)."""
    acme = t.access.tenants.create_tenant("Acme", "hr@acme.example")
    bolt = t.access.tenants.create_tenant("Bolt", "hr@bolt.example")
    now = t.ctx.clock.now()
    t.ctx.clock.set(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    rob = t.collect("application", {"name": "Rob", "email": "rob@a.ex"}, tenant_id=acme)
    bo = t.collect("application", {"name": "Bo", "email": "bo@b.ex"}, tenant_id=bolt)
    t.ctx.clock.set(now)
    return acme, bolt, rob.subject_id, bo.subject_id


def test_http_end_and_resume(home: Any, db_url: str) -> None:
    ctx = home(db=db_url, policy=POLICY, context=True)
    from troth.engine import Troth

    t = Troth(ctx)
    acme, _bolt, rob, bo = _people(t)
    with client_for(ctx) as c:
        own = api_key(c, ["collect"], tenant_id=acme)
        reader = api_key(c, ["use"], tenant_id=acme)
        r = c.post(f"{API}/{rob}/relationship/end", json={"at": "2026-02-01", "reason": "rejected"},
                   headers=own)  # fmt: skip
        assert r.status_code == 200, r.text
        assert r.json() == {
            "subject_id": rob,
            "ended_at": "2026-01-31T13:00:00+00:00",
            "changed": True,
            "previous_ended_at": None,
        }
        again = c.post(f"{API}/{rob}/relationship/end", headers=own).json()
        assert again["changed"] is False and again["ended_at"] == "2026-01-31T13:00:00+00:00"
        # Moving a recorded end takes more than the collecting key: an admin key.
        fix = {"at": "2026-02-02", "correct": True}
        body = is_problem(c.post(f"{API}/{rob}/relationship/end", json=fix, headers=own), 403)
        assert body["reason"] == "scope_missing"
        admin = api_key(c, ["admin"], tenant_id=acme)
        fixed = c.post(f"{API}/{rob}/relationship/end", json=fix, headers=admin).json()
        assert fixed["changed"] and fixed["previous_ended_at"] == "2026-01-31T13:00:00+00:00"
        # Another tenant's person, an unknown and a malformed id: the same 404.
        for sid in (bo, "0" * 32):
            is_problem(c.post(f"{API}/{sid}/relationship/end", headers=own), 404, "not_found")
        assert c.post(f"{API}/{'x' * 65}/relationship/end", headers=own).status_code in (404, 422)
        body = is_problem(c.post(f"{API}/{rob}/relationship/resume", headers=reader), 403)
        assert body["reason"] == "scope_missing"
        for at, code in (("2099-01-01", "time_in_future"), ("soon", "invalid_time")):
            bad = c.post(f"{API}/{rob}/relationship/end", json={"at": at, "correct": True},
                         headers=own)  # fmt: skip
            is_problem(bad, 422, code)
        bad = c.post(f"{API}/{rob}/relationship/end", json={"ended": "x"}, headers=own)
        assert bad.status_code == 422
        back = c.post(f"{API}/{rob}/relationship/resume", json={"reason": "re-applied"},
                      headers=own).json()  # fmt: skip
        assert back["ended_at"] is None and back["changed"] is True
        assert c.post("/api/v1/subjects/x/relationship/end").status_code == 401
    assert lookup_subject(ctx, rob).relationship_ended_at is None
    assert lookup_subject(ctx, bo).relationship_ended_at is None


def _troth(capsys: pytest.CaptureFixture[str], t: Any, *args: str) -> tuple[int, str, str]:
    return run(capsys, "--home", str(t.ctx.home), *args)


def test_cli_end_resume_and_a_file_of_ids(
    home: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    t = home(policy=POLICY)
    _acme, _bolt, rob, bo = _people(t)
    code, out, err = _troth(capsys, t, "subjects", "end-relationship", rob, "--at",
                            "2026-02-01", "--reason", "rejected", "-q")  # fmt: skip
    assert (code, out) == (0, "2026-01-31T13:00:00+00:00\n"), err
    code, out, _ = _troth(capsys, t, "subjects", "end-relationship", rob[:12], "--at", "2026-02-20")
    assert code == 0 and "already ended 2026-01-31T13:00:00+00:00" in out and "--correct" in out
    code, out, _ = _troth(capsys, t, "subjects", "end-relationship", rob, "--at", "2026-02-20",
                          "--correct", "--json", "--actor", "staff:po@privacy_office")  # fmt: skip
    assert code == 0 and json.loads(out)["ended_at"] == "2026-02-19T13:00:00+00:00"
    code, _out, err = _troth(capsys, t, "subjects", "end-relationship", rob, "--at", "2099-01-01")
    assert code == 1 and "in the future" in err
    code, _out, err = _troth(capsys, t, "subjects", "end-relationship", rob,
                             "--actor", "staff:rec@recruiter")  # fmt: skip
    assert code == 3 and "no_grant" in err
    code, out, _ = _troth(capsys, t, "subjects", "resume-relationship", rob, "-q")
    assert (code, out) == (0, "")
    assert lookup_subject(t.ctx, rob).relationship_ended_at is None
    ids = tmp_path / "rejected.txt"
    ids.write_text(f"{rob}\n{bo}\n\n{'0' * 32}\n")
    code, out, _ = _troth(capsys, t, "subjects", "end-relationship", "--file", str(ids),
                          "--at", "2026-03-01", "--json")  # fmt: skip
    assert code == 1  # one id named nobody
    assert [(r["subject_id"], r["outcome"]) for r in json.loads(out)] == [
        (rob, "ended"),
        (bo, "ended"),
        ("0" * 32, "not_found"),
    ]
    ended = datetime(2026, 2, 28, 13, 0, tzinfo=UTC)
    assert lookup_subject(t.ctx, bo).relationship_ended_at == ended
    by = {e.entry.actor for e in list_entries(t.ctx, action="relationship.end", limit=100)}
    assert by == {"system:troth", "staff:po"}
    code, _out, err = _troth(capsys, t, "subjects", "end-relationship")
    assert code == 1 and "--file" in err
