"""Connectors over a real shop / help-desk / telephony database on SQLite, PostgreSQL and
MariaDB: export finds every row of a person and nothing else; erasure applies each
strategy, keeps invoices with their legal reason, and is idempotent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import connected_schema as cs
from troth.clock import ManualClock
from troth.connectors import Connector, JobState, JobStore, parse_datasets
from troth.db import make_engine
from troth.errors import ConnectorError, ValidationError
from troth.keys import Keyring

PEOPLE = range(1, 13)


@pytest.fixture
def shop(shop_url: str, tmp_path: Path) -> dict[str, Any]:
    engine = make_engine(shop_url)
    cs.create_schema(engine)
    cs.populate(engine, PEOPLE)
    clock = ManualClock()
    store = JobStore(make_engine(f"sqlite:///{tmp_path}/troth.db"), clock)
    store.create_tables()
    keys = Keyring.create(tmp_path / "keys.json")
    connector = Connector(
        parse_datasets(cs.declaration()),
        store=store,
        keys=keys,
        clock=clock,
        environ={"SHOP_DATABASE_URL": shop_url},
    )
    yield {"engine": engine, "connector": connector, "keys": keys, "store": store}
    connector.close()
    engine.dispose()


def _ids(rows: list[dict[str, Any]], table: str) -> set[tuple[Any, ...]]:
    pk = ("order_id", "line_no") if table == "order_items" else ("id",)
    return {tuple(int(r[c]) for c in pk) for r in rows}


@pytest.mark.parametrize("person", [4, 5, 6])
def test_export_finds_every_row_of_the_person_and_nothing_else(shop, person):
    [export] = shop["connector"].export(
        {"email": cs.email_of(person), "phone": cs.phone_of(person)}
    )
    expected = cs.rows_for(person)
    for table in cs.TABLES:
        got = export.tables[table].rows if table in export.tables else []
        assert _ids(got, table) == _ids(expected[table], table), table
    assert export.tables["customers"].columns["email"] == "contact"
    assert export.tables["calls"].columns["destination"] == "call_records"
    assert export.location == "GB"
    assert export.tables["customers"].rows[0]["birth_date"].count("-") == 2  # ISO date


def test_export_by_customer_id_alone_reaches_linked_tables(shop):
    [export] = shop["connector"].export({"customer_id": "5"})
    assert _ids(export.tables["order_items"].rows, "order_items") == {
        (51, 1),
        (51, 2),
        (52, 1),
        (52, 2),
    }
    # The e-mail-only ticket and the number-only call are not linked to the account.
    assert "newsletter_signups" not in export.tables
    assert _ids(export.tables["calls"].rows, "calls") == {(51,)}


def test_export_of_unknown_person_is_empty(shop):
    [export] = shop["connector"].export({"email": "nobody@example.com"})
    assert export.count() == 0


def _rows(engine: sa.Engine, table: str, where: str, **params: Any) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [
            dict(r)
            for r in conn.execute(
                sa.text(f"SELECT * FROM {table} WHERE {where}"), params
            ).mappings()
        ]


def test_erase_applies_each_strategy_and_keeps_invoices(shop):
    engine, keys = shop["engine"], shop["keys"]
    before = cs.snapshot(engine)
    [report] = shop["connector"].erase({"email": cs.email_of(4), "phone": cs.phone_of(4)}, "job-4")
    t = report.tables
    # customers: referenced by the kept invoice, so anonymised column by column
    [cust] = _rows(engine, "customers", "id = 4")
    mac = "h:" + keys.mac("connector:shop", cs.email_of(4).encode()).hex()
    assert cust["email"] == mac[:255] and cust["phone"] is None and cust["name"] == "***"
    assert cust["birth_date"] is None
    assert t["customers"].kept == 1 and "invoices" in t["customers"].kept_because[0].reason
    assert _rows(engine, "addresses", "customer_id = 4") == []
    # orders: the one with a kept invoice stays, masked; the other goes with items, payments
    [order] = _rows(engine, "orders", "customer_id = 4")
    assert order["id"] == 41 and order["ship_name"] == "***" and order["ship_address"] is None
    assert _rows(engine, "order_items", "order_id IN (41, 42)") == []
    assert _rows(engine, "payments", "order_id IN (41, 42)") == []
    # invoices: the recent one kept (tax law, until 2032), the one past 7 years deleted
    [inv] = _rows(engine, "invoices", "customer_id = 4")
    assert inv["id"] == 41 and inv["billing_name"] == "Person 4"
    assert t["invoices"].found == 2 and t["invoices"].deleted == 1 and t["invoices"].kept == 1
    kept = t["invoices"].kept_because[0]
    assert kept.reason.startswith("Tax law") and kept.until == "2032-06-01"
    assert kept.purpose == "tax_records" and kept.keep_for == "7y"
    # tickets anonymised, messages deleted
    tickets = _rows(engine, "support_tickets", "id IN (41, 42)")
    assert len(tickets) == 2
    assert all(r["email"] == mac[:255] and r["subject"] == "***" for r in tickets)
    assert all(r["customer_id"] is None for r in tickets)
    assert _rows(engine, "ticket_messages", "ticket_id IN (41, 42)") == []
    # calls: caller hashed; the recent call's destination kept a year, the old one hashed
    calls = {r["id"]: r for r in _rows(engine, "calls", "id IN (41, 42)")}
    assert calls[41]["destination"] == cs.rows_for(4)["calls"][0]["destination"]
    assert calls[42]["destination"].startswith("h:")
    assert calls[41]["caller"].startswith("h:") and calls[41]["customer_id"] is None
    assert t["calls"].kept_because[0].columns == ["destination"]
    assert t["calls"].kept_because[0].until == "2026-12-01"
    assert t["calls"].hashed == 2
    # counts
    assert (t["customers"].hashed, t["customers"].nulled, t["customers"].masked) == (1, 1, 1)
    assert t["order_items"].deleted == 4 and t["ticket_messages"].deleted == 4
    # nobody else was touched
    after = cs.snapshot(engine)
    for table in cs.TABLES:
        mine = {str(r["id"]) for r in cs.rows_for(4)[table]} if table != "order_items" else set()
        others_before = [r for r in before[table] if r[0] not in mine and not r[0].startswith("4")]
        others_after = [r for r in after[table] if r[0] not in mine and not r[0].startswith("4")]
        assert others_before == others_after, table
    assert shop["store"].get("job-4").state is JobState.complete
    assert shop["store"].get("job-4").identities is None  # no personal data left in the job


def test_erase_without_kept_data_deletes_the_customer(shop):
    [report] = shop["connector"].erase({"customer_id": 6, "email": cs.email_of(6)})
    assert report.tables["customers"].deleted == 1
    assert _rows(shop["engine"], "customers", "id = 6") == []
    assert _rows(shop["engine"], "newsletter_signups", "id = 6") == []


def test_erase_is_idempotent(shop):
    ids = {"email": cs.email_of(5), "phone": cs.phone_of(5), "customer_id": "5"}
    first = shop["connector"].erase(ids)[0]
    assert first.changed() > 0
    state = cs.snapshot(shop["engine"])
    again = shop["connector"].erase(ids)[0]
    assert again.changed() == 0
    assert cs.snapshot(shop["engine"]) == state
    # The same job id returns the stored report and does nothing.
    assert shop["connector"].erase(ids, job_id="j") == shop["connector"].erase(ids, job_id="j")


def test_correct_updates_mapped_columns(shop):
    [report] = shop["connector"].correct({"email": cs.email_of(7)}, {"name": "Ann Example"})
    assert report.tables["customers"].corrected == 1
    assert report.tables["orders"].corrected == 2
    assert _rows(shop["engine"], "customers", "id = 7")[0]["name"] == "Ann Example"
    again = shop["connector"].correct({"email": cs.email_of(7)}, {"name": "Ann Example"})
    assert again[0].changed() == 0
    with pytest.raises(ValidationError, match="shoe_size"):
        shop["connector"].correct({"email": cs.email_of(7)}, {"shoe_size": 9})


def test_correct_email_changes_identity_columns(shop):
    shop["connector"].correct({"email": cs.email_of(8)}, {"email": "new8@example.com"})
    [export] = shop["connector"].export({"email": "new8@example.com"})
    assert len(export.tables["support_tickets"].rows) == 2
    assert shop["connector"].export({"email": cs.email_of(8)})[0].count() == 0


def test_unreachable_database_raises_connector_error_and_job_waits(tmp_path):
    clock = ManualClock()
    store = JobStore(make_engine(f"sqlite:///{tmp_path}/troth.db"), clock)
    store.create_tables()
    connector = Connector(
        parse_datasets(cs.declaration()),
        store=store,
        keys=Keyring.create(tmp_path / "keys.json"),
        clock=clock,
        environ={"SHOP_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"},
    )
    with pytest.raises(ConnectorError, match="shop: the database cannot be reached"):
        connector.export({"email": "a@example.com"})
    with pytest.raises(ConnectorError, match="cannot be reached"):
        connector.erase({"email": "a@example.com"}, job_id="waits")
    job = store.get("waits")
    assert job.state is JobState.interrupted and "cannot be reached" in (job.error or "")
    assert job.identities == {"email": ["a@example.com"], "phone": [], "customer_id": []}


def test_missing_url_variable_is_a_clear_error(tmp_path):
    clock = ManualClock()
    store = JobStore(make_engine(f"sqlite:///{tmp_path}/troth.db"), clock)
    connector = Connector(
        parse_datasets(cs.declaration()),
        store=store,
        keys=Keyring.create(tmp_path / "keys.json"),
        clock=clock,
        environ={},
    )
    with pytest.raises(ConnectorError, match="SHOP_DATABASE_URL is not set"):
        connector.export({"email": "a@example.com"})


def test_unknown_identity_kind_and_empty_erasure_are_refused(shop):
    with pytest.raises(ValidationError, match="unknown identity kind 'passport'"):
        shop["connector"].export({"passport": "X1"})
    with pytest.raises(ValidationError, match="at least one email"):
        shop["connector"].erase({"email": []})
