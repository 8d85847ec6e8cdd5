"""The breach steps from the command line and over HTTP (trial 6, Pillbox): `--actor` and
its power, the regulator's time recorded once (`--correct` with a reason), a dry run that
renders the notice, and the people not told for want of an address."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from _http import api_key, client_for, is_problem
from cli_runner import run
from troth.audit.log import transaction
from troth.engine import Troth
from troth.notices.outbox import outbox
from troth.requests.execution import erase_in_store

PAT = "staff:pat@privacy_office"


def _billed(t: Any, email: str) -> str:
    sid = t.collect("billing_contact", {"name": "Ann", "email": email}).subject_id
    t.collect("invoice", {"invoice_number": "F-1", "amount": 12}, subject_id=sid)
    return str(sid)


def test_breach_steps_on_the_command_line(home: Any, capsys: Any, tmp_path: Path) -> None:
    t = home("ilign")
    _billed(t, "ann@example.nz")
    erased = _billed(t, "bob@example.nz")
    with transaction(t.ctx) as conn:  # an erased person: the invoice kept, no e-mail
        erase_in_store(conn, t.ctx, erased)

    def cli(*args: str) -> tuple[int, str, str]:
        return run(capsys, "--home", str(t.ctx.home), "breaches", *args)

    code, out, err = cli("record", "-q", "--title", "Backup", "--description", "exposed",
                         "--from", "2026-03-01T00:00+00:00", "--until", "2026-03-09T00:00+00:00",
                         "--discovered", "2026-03-10T08:00+01:00", "--category", "billing",
                         "--regime", "gdpr", "--high-risk", "--actor", PAT)  # fmt: skip
    assert code == 0, err
    bid = out.strip()
    # --actor is checked against the policy's powers, as over the API.
    code, _, err = cli("regulator", bid, "--at", "2026-03-11T08:00+01:00",
                       "--actor", "staff:sam@support")  # fmt: skip
    assert code != 0 and "power_not_granted" in err and "manage_breaches" in err, err
    late = ["--at", "2026-03-14T08:25+01:00", "--late-reason", "forensics", "--actor", PAT]
    assert cli("regulator", bid, *late)[0] == 0
    code, _, err = cli("regulator", bid, "--at", "2026-03-11T08:00+01:00")
    assert code == 1 and "recorded once" in err and "--correct" in err, err
    shown = json.loads(cli("show", bid)[1])
    assert shown["late_reason"] == "forensics" and shown["regulator_notified_at"].startswith(
        "2026-03-14T07:25"
    )
    assert {c["status"] for c in shown["clocks"] if c["audience"] == "regulator"} == {"met_late"}
    code, _, err = cli("regulator", bid, "--at", "2026-03-14T08:20+01:00", "--correct", "typo",
                       "--actor", PAT)  # fmt: skip
    assert code == 0, err
    shown = json.loads(cli("show", bid)[1])
    assert shown["late_reason"] == "forensics" and len(shown["history"]) == 2
    assert shown["history"][1]["by"] == "staff:pat" and shown["history"][1]["correction"] == "typo"
    # The dry run renders the notice as the real run does: an unknown variable fails here.
    bad = tmp_path / "bad.j2"
    bad.write_text("Dear {{ name }}, {{ organisation }} lost your data.")
    code, _, err = cli("notify", bid, "--template", str(bad), "--dry-run")
    assert code == 1 and "'name' is undefined" in err and "organisation" in err, err
    good = tmp_path / "good.j2"
    good.write_text("{{ organisation }}: {{ breach.title }}. Write to {{ contact }}.")
    code, out, err = cli("notify", bid, "--template", str(good), "--dry-run")
    assert code == 0 and ": Backup. Write to" in out and "would queue 1 notice(s)" in out, err
    with t.ctx.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(outbox)).scalar() == 0
    # The real run: one told, the erased person not, and the CLI says what to do.
    code, out, err = cli("notify", bid, "--template", str(good), "--actor", PAT)
    assert code == 0 and "queued 1 notice(s)" in out, err
    assert "1 affected person was not told: no address" in out and "public-notice" in out
    shown = json.loads(cli("show", bid)[1])
    assert shown["status"] == "individuals_partly_notified"
    assert shown["people"]["unreachable"] == 1
    code, out, _ = cli("affected", bid)
    assert "not told: no address" in out
    code, out, err = cli("public-notice", bid, "--how", "pillbox.ca/incident", "--actor", PAT)
    assert code == 0 and "individuals_notified" in out, err
    assert cli("public-notice", bid, "--how", "again")[0] == 1


def test_the_regulators_time_over_http_is_recorded_once(mindlink: Any) -> None:
    Troth(mindlink).collect(
        "support_request", {"name": "Ada", "email": "ada@example.com", "message": "Hi"}
    )
    mindlink.clock.advance(timedelta(days=1))
    now = mindlink.clock.now()
    body = {
        "title": "Help desk export leaked",
        "description": "A support export was readable without login.",
        "discovered_at": now.isoformat(),
        "occurred_from": (now - timedelta(days=1)).isoformat(),
        "occurred_until": now.isoformat(),
        "categories": ["contact"],
    }
    with client_for(mindlink) as c:
        admin = api_key(c, ["admin"])
        bid = c.post("/api/v1/breaches", json=body, headers=admin).json()["id"]
        url = f"/api/v1/breaches/{bid}/regulator-notified"
        mindlink.clock.advance(timedelta(hours=1))
        now = mindlink.clock.now()
        first = c.post(url, json={"at": now.isoformat()}, headers=admin)
        assert first.status_code == 200, first.text
        earlier = (now - timedelta(minutes=5)).isoformat()
        problem = is_problem(c.post(url, json={"at": earlier}, headers=admin), 409)
        assert "recorded once" in problem["detail"]
        fixed = c.post(url, json={"at": earlier, "correction": "clock skew"}, headers=admin)
        assert fixed.status_code == 200, fixed.text
        b = fixed.json()
        assert [h["correction"] for h in b["history"][1:]] == ["clock skew"]
        assert b["history"][0]["at"] == now.isoformat()
