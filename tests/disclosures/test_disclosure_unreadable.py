"""A legal demand's gag written outside troth as something that is no time (trial #16 F4:
``sqlite3 troth.db "update legal_demands set gag_until='' ..."`` then `troth audit verify`
and `troth disclosures list` printed a traceback, two endpoints answered 500). troth
honours the gag the audit log recorded, as for a gag moved (the person sees nothing while
it runs; audited ``legal_demand.gag``, ``record_tampered``); what must show the row itself
(the demands' list) is refused 409 ``record_tampered``, audited once; `troth audit verify`
names the row and its column. SQLite: PostgreSQL's timestamp column holds no such value."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from _http import PASSWORD, client_for, console_login
from cli_runner import run
from troth.audit import verify_log
from troth.audit.entries import list_entries
from troth.disclosures import legal_demands
from troth.engine import Troth
from troth.errors import TamperedValue
from troth.gate import Actor, ActorKind

OFFICE = Actor(ActorKind.staff, "pat", role="privacy_office")
ANN = {"name": "Ann", "email": "ann@example.com", "address": "1 Main St", "product": "x"}


GAG_DAYS = 3650  # past the real clock of the CLI commands below, which use no test clock


def _gagged(home: Any) -> tuple[Troth, str, str, str]:
    """Ann's data disclosed to the police under a demand gagged for ten years."""
    t = home("mindlink")
    ann = t.collect("purchase", ANN).subject_id
    demand = t.disclosures.record_demand(
        authority="Crown Court",
        instrument="production_order",
        reference="PO-9",
        scope="account records",
        categories=[
            "identity",
            "contact",
            "billing",
            "purchases",
            "account_history",
            "communications",
        ],
        recipient="law_enforcement",
        gag_until=t.ctx.clock.now() + timedelta(days=GAG_DAYS),
    ).id
    did = t.disclosures.disclose(
        ann, "law_enforcement", "legal_compliance", OFFICE, legal_demand_id=demand
    ).id
    return t, ann, demand, did


def _garble(t: Troth, demand: str, value: str) -> None:
    with t.ctx.engine.begin() as conn:
        conn.execute(
            sa.text(f"UPDATE legal_demands SET gag_until = {value} WHERE id = :d"),
            {"d": demand},
        )


def _entries(t: Troth, action: str) -> list[Any]:
    return [e.entry for e in list_entries(t.ctx, action=action, limit=1000)]


@pytest.mark.parametrize(
    "value", ["''", "'garbage'", "12345", "'2026-13-45 00:00:00'"], ids=str.strip
)
def test_a_garbled_gag_is_honoured_from_the_log_and_named(home, clock, capsys, value):
    t, ann, demand, did = _gagged(home)
    gag = t.disclosures.disclosures_of(ann, include_gagged=True)[0]["gagged_until"]
    _garble(t, demand, value)
    home_dir = str(t.ctx.settings.home)
    # verify names the row and its column (and the gag the log recorded differs), no crash
    code, out, err = run(capsys, "--home", home_dir, "audit", "verify", "--json")
    assert code == 1 and "Traceback" not in out + err
    assert f"legal_demands:{demand} (gag_until)" in out and demand in out
    # the person sees nothing while the gag the log recorded runs; the office sees it gagged
    code, out, err = run(capsys, "--home", home_dir, "disclosures", "list", ann, "--json")
    assert (code, err) == (0, "") and did not in out
    assert t.disclosures.disclosures_of(ann) == []
    office = t.disclosures.disclosures_of(ann, include_gagged=True)
    assert [(d["id"], d["gagged_until"]) for d in office] == [(did, gag)]
    assert t.disclosures.notify_due_demands() == 0
    # audited as a gag moved: once per process (the test's and each command's)
    found = {(e.reason, e.details["demand"]) for e in _entries(t, "legal_demand.gag")}
    assert found == {("record_tampered", demand)}
    # the order ends when the log says: Ann is told once, and sees it
    clock.advance(days=GAG_DAYS + 1)
    assert t.disclosures.notify_due_demands() == 1
    assert [d["id"] for d in t.disclosures.disclosures_of(ann)] == [did]


def test_the_endpoints_refuse_409_audit_once_and_the_console_says_so(home):
    t, ann, demand, _did = _gagged(home)
    t.access.accounts.add_user("pat@example.com", role="privacy_office", password=PASSWORD)
    key, _ = t.access.keys.create_api_key("office", ["admin"])
    _garble(t, demand, "''")
    auth = {"Authorization": f"Bearer {key}"}
    with client_for(t.ctx) as c:
        listed = c.get(f"/api/v1/subjects/{ann}/disclosures", headers=auth)
        assert (listed.status_code, listed.json()) == (200, [])  # gagged, as the log says
        for _ in range(2):
            # Listed, flagged, never the value (the list no longer refuses whole:
            # tests/audit/test_lists_with_an_unreadable_row.py).
            r = c.get("/api/v1/legal-demands", headers=auth)
            assert r.status_code == 200, r.text
            (item,) = r.json()["items"]
            assert (item["id"], item["tampered"], item["gag_until"]) == (demand, True, None)
            assert item["unreadable"] == ["legal_demands.gag_until"]
        # What must read the row itself is still refused.
        with pytest.raises(TamperedValue):
            t.disclosures.demand(demand)
        console_login(c, "pat@example.com")
        page = c.get("/console/demands")
        assert page.status_code == 200 and "legal_demands.gag_until" in page.text
        assert "troth audit verify" in page.text
    (entry,) = _entries(t, "stored_value")  # once per process for the same row
    assert entry.reason == "record_tampered"
    assert entry.details == {
        "table": "legal_demands",
        "column": "gag_until",
        "rows": [demand],
        "during": "legal demands list",
    }
    report = verify_log(t.ctx)
    assert not report.ok and report.bad_values == [f"legal_demands:{demand} (gag_until)"]
    # restored as it was: verify passes again
    with t.ctx.engine.begin() as conn:
        conn.execute(
            sa.update(legal_demands)
            .where(legal_demands.c.id == demand)
            .values(gag_until=t.ctx.clock.now() + timedelta(days=GAG_DAYS))
        )
    assert verify_log(t.ctx).ok


def test_a_cli_command_that_meets_one_exits_1_audited(home, capsys):
    t, ann, demand, _did = _gagged(home)
    with t.ctx.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE disclosures SET at = 'garbage' WHERE legal_demand_id = :d"),
            {"d": demand},
        )
    home_dir = str(t.ctx.settings.home)
    code, _out, err = run(capsys, "--home", home_dir, "disclosures", "list", ann, "--office")
    assert code == 1 and "Traceback" not in err
    assert "error (record_tampered): disclosures.at holds a value troth never writes" in err
    (entry,) = _entries(t, "stored_value")  # the command's refusal, audited
    assert entry.details["rows"] == [_did] and entry.details["column"] == "at"
    assert entry.details["during"] == "troth disclosures list"
