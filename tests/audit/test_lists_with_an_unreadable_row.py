"""One garbled row no longer takes a whole list down.

Before: a value troth never writes in one request's row (a list where its details belong,
a kind no troth knows: ``UPDATE requests SET details = '[1]'``) or in one legal demand's
(a status no troth knows, an empty gag) made the requests list and the legal-demands list
answer 409 ``record_tampered`` whole: ``GET /api/v1/requests``, ``troth requests list``,
the console's requests page, ``GET /api/v1/legal-demands`` and the console's demands page
showed nothing of the other rows, and the office could not see its deadlines. Now each
list shows every other row as before and that one flagged (``tampered``, ``unreadable``:
the columns troth cannot read, never the value), the row's own pages and every step on it
still refused; the unreadable rows are audited once (``stored_value``,
``record_tampered``), as any refused read of them."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from _http import PASSWORD, api_key, client_for, console_login
from cli_runner import run
from troth.audit.entries import list_entries
from troth.disclosures.demands import list_demands
from troth.engine import Troth
from troth.errors import TamperedValue
from troth.gate import Actor, ActorKind

OFFICE = Actor(ActorKind.staff, "pat", role="privacy_office")
SQLITE_ONLY = {"received_at", "gag_until"}


def _garble(t: Troth, table: str, column: str, value: str, row: str) -> None:
    with t.ctx.engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {table} SET {column} = {value} WHERE id = :r"), {"r": row})


def _audited(t: Troth) -> list[Any]:
    return [e.entry for e in list_entries(t.ctx, action="stored_value", limit=100)]


@pytest.mark.parametrize(
    ("column", "value"), [("details", "'[1]'"), ("kind", "'bogus'"), ("received_at", "'x'")]
)
def test_the_requests_list_shows_the_rest_and_flags_the_row(
    home: Any, db_url: str, capsys: pytest.CaptureFixture[str], column: str, value: str
) -> None:
    if column in SQLITE_ONLY and not db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's typed column holds no such value")
    t = home("itechno", None if db_url.startswith("sqlite") else db_url)
    ids = [t.requests.open("access", email=f"p{i}@example.com").id for i in range(3)]
    bad = ids[1]
    _garble(t, "requests", column, value, bad)
    listed = {r.id: r for r in t.requests.list()}
    assert set(listed) == set(ids)
    assert listed[bad].tampered and listed[bad].unreadable == (f"requests.{column}",)
    assert not any(listed[i].tampered or listed[i].unreadable for i in ids if i != bad)
    with client_for(t.ctx) as c:
        desk = api_key(c, ["requests:admin"])
        for _ in range(2):
            r = c.get("/api/v1/requests", headers=desk)
            assert r.status_code == 200, r.text
            items = {i["id"]: i for i in r.json()["items"]}
            assert set(items) == set(ids)
            assert items[bad]["tampered"] is True
            assert items[bad]["unreadable"] == [f"requests.{column}"]
            assert items[ids[0]]["tampered"] is False and items[ids[0]]["unreadable"] == []
        # The row itself, and every step on it, is still refused.
        assert c.get(f"/api/v1/requests/{bad}", headers=desk).status_code == 409
        t.access.accounts.add_user("pat@example.com", role="privacy_office", password=PASSWORD)
        console_login(c, "pat@example.com")
        page = c.get("/console/requests")
        assert page.status_code == 200, page.text
        assert all(i[-10:] in page.text for i in ids) and "changed outside troth" in page.text
        csv = c.get("/console/requests.csv")
        assert csv.status_code == 200 and all(i in csv.text for i in ids)
    with pytest.raises(TamperedValue):
        t.requests.get(bad)
    entries = _audited(t)
    assert len(entries) == 1 and entries[0].reason == "record_tampered"
    assert entries[0].details["rows"] == [bad] and entries[0].details["column"] == column
    home_dir = str(t.ctx.settings.home)
    code, out, err = run(capsys, "--home", home_dir, "requests", "list", "--json")
    assert code == 0, err
    assert {r["id"] for r in json.loads(out)} == set(ids)
    code, out, err = run(capsys, "--home", home_dir, "requests", "list")
    assert code == 0 and "changed outside troth" in out, err


def _demands(t: Troth) -> list[str]:
    return [
        t.disclosures.record_demand(
            authority="Crown Court",
            instrument="production_order",
            reference=f"PO-{i}",
            scope="account records",
            categories=["identity", "contact"],
            recipient="law_enforcement",
            gag_until=t.ctx.clock.now() + timedelta(days=30),
        ).id
        for i in range(3)
    ]


@pytest.mark.parametrize(("column", "value"), [("status", "'bogus'"), ("gag_until", "''")])
def test_the_demands_list_shows_the_rest_and_flags_the_row(
    home: Any, db_url: str, column: str, value: str
) -> None:
    if column in SQLITE_ONLY and not db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's typed column holds no such value")
    t = home("mindlink", None if db_url.startswith("sqlite") else db_url)
    ids = _demands(t)
    bad = ids[1]
    _garble(t, "legal_demands", column, value, bad)
    listed = {d.id: d for d in list_demands(t.ctx, actor=OFFICE)}
    assert set(listed) == set(ids)
    assert listed[bad].unreadable == (f"legal_demands.{column}",)
    assert all(listed[i].unreadable == () for i in ids if i != bad)
    # What it asks for is listed as recorded, the flagged row's too.
    assert {listed[i].categories for i in ids} == {("contact", "identity")}
    t.access.accounts.add_user("pat@example.com", role="privacy_office", password=PASSWORD)
    key, _ = t.access.keys.create_api_key("office", ["admin"])
    with client_for(t.ctx) as c:
        for _ in range(2):
            r = c.get("/api/v1/legal-demands", headers={"Authorization": f"Bearer {key}"})
            assert r.status_code == 200, r.text
            items = {i["id"]: i for i in r.json()["items"]}
            assert set(items) == set(ids)
            assert items[bad]["tampered"] is True
            assert items[bad]["unreadable"] == [f"legal_demands.{column}"]
            assert items[bad][column] is None  # never the value
            assert "tampered" not in items[ids[0]]
        console_login(c, "pat@example.com")
        page = c.get("/console/demands")
        assert page.status_code == 200, page.text
        assert "PO-0" in page.text and "PO-2" in page.text and "changed outside troth" in page.text
    entries = _audited(t)
    assert len(entries) == 1 and entries[0].details["rows"] == [bad]
