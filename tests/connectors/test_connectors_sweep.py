"""Time-based retention over a connected shop database on SQLite, PostgreSQL and MariaDB:
rows expire by date, children go before parents, invoices kept by tax law stay, the dry
run changes nothing and counts what the run then does, a rerun does nothing, a database
that is down is reported."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import connected_schema as cs
from troth.clock import ManualClock
from troth.connectors import Connector, DeclarationError, JobStore, parse_datasets
from troth.connectors.sweep import sweep_dataset, sweep_datasets
from troth.db import make_engine
from troth.keys import Keyring

PEOPLE = range(1, 13)
LATER = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)  # a year past the tickets, 6 months past calls

RULES = {
    "customers": "{keep_for: 2y, from: created_at, where_purpose: shop}",
    "orders": "{keep_for: 2y, from: placed_at}",
    "invoices": "{keep_for: 1y, from: issued_at}",  # shorter than the 7y keep: the keep wins
    "support_tickets": "{keep_for: 1y, from: opened_at, then: anonymise}",
    "calls": "{keep_for: 6m, from: started_at}",
    "newsletter_signups": "{keep_for: 1y, from: signed_up_at}",
}


def with_rules(rules: dict[str, str] = RULES, url_env: str = "SHOP_DATABASE_URL") -> str:
    """The shop declaration with ``retention:`` rules added to the named tables."""
    text = cs.declaration(url_env)
    for table, rule in rules.items():
        head = f"      {table}:\n        primary_key: "
        assert head in text, table
        text = text.replace(
            head, f"      {table}:\n        retention: {rule}\n        primary_key: "
        )
    return text


@pytest.fixture
def shop(shop_url: str, tmp_path: Path) -> Any:
    engine = make_engine(shop_url)
    cs.create_schema(engine)
    cs.populate(engine, PEOPLE)
    clock = ManualClock(LATER)
    store = JobStore(make_engine(f"sqlite:///{tmp_path}/troth.db"), clock)
    store.create_tables()
    keys = Keyring.create(tmp_path / "keys.json")
    connector = Connector(
        parse_datasets(with_rules()),
        store=store,
        keys=keys,
        clock=clock,
        engines={"shop": engine},
    )
    yield {"engine": engine, "connector": connector, "keys": keys, "clock": clock}
    connector.close()
    engine.dispose()


def _ids(engine: sa.Engine, table: str, where: str = "1=1") -> set[int]:
    with engine.connect() as conn:
        return {r[0] for r in conn.execute(sa.text(f"SELECT id FROM {table} WHERE {where}"))}


def _row(engine: sa.Engine, table: str, id_: int) -> dict[str, Any]:
    with engine.connect() as conn:
        return dict(
            conn.execute(sa.text(f"SELECT * FROM {table} WHERE id = :i"), {"i": id_})
            .mappings()
            .one()
        )


def _counts(report: Any, field: str) -> dict[str, int]:
    return {t: getattr(s, field) for t, s in report.tables.items() if getattr(s, field)}


EXPECTED_DELETED = {
    "customers": 4,  # the people who never ordered (3, 6, 9, 12)
    "addresses": 18,  # follow their customers, as on erasure
    "orders": 8,  # the 2017 orders; the 2025 ones are inside their 2 years
    "order_items": 16,
    "payments": 8,
    "invoices": 8,  # the 2017 invoices, past the 7-year keep
    "calls": 12,  # the 2023 calls (the destination's one-year keep is over)
    "newsletter_signups": 6,
}
EXPECTED_ANONYMISED = {
    "customers": 8,  # still referenced by a 2025 invoice (kept until 2032) and order
    "support_tickets": 18,
    "calls": 12,  # the 2025 calls: destination kept until 2026-12-01, the rest erased
}


def test_dry_run_changes_nothing_and_counts_what_the_run_does(shop):
    engine, runner = shop["engine"], shop["connector"].runner("shop")
    before = cs.snapshot(engine)
    plan = sweep_dataset(runner, LATER, dry_run=True)
    assert cs.snapshot(engine) == before
    assert _counts(plan, "would_delete") == EXPECTED_DELETED
    assert _counts(plan, "would_anonymise") == EXPECTED_ANONYMISED
    assert _counts(plan, "kept") == {"invoices": 8}
    report = sweep_dataset(runner, LATER, batch=3)
    assert _counts(report, "deleted") == _counts(plan, "would_delete")
    assert _counts(report, "anonymised") == _counts(plan, "would_anonymise")
    assert _counts(report, "kept") == {"invoices": 8}
    assert report.total == plan.total == sum(EXPECTED_DELETED.values()) + 38
    assert report.batches > len(report.tables)  # batch=3: several transactions per table
    assert report.tables["order_items"].rule == "follows orders"
    assert report.tables["customers"].purpose == "shop"
    assert report.tables["customers"].rule == "2y from created_at, then delete_row"


def test_expiry_by_date_keeps_invoices_and_anonymises_their_parents(shop):
    engine, keys = shop["engine"], shop["keys"]
    sweep_dataset(shop["connector"].runner("shop"), LATER)
    assert _ids(engine, "customers") == {i for i in PEOPLE if i % 3}
    # Invoices under the 7-year tax keep are untouched, the 2017 ones went.
    assert _ids(engine, "invoices") == {i * 10 + 1 for i in PEOPLE if i % 3}
    assert _row(engine, "invoices", 41)["billing_name"] == "Person 4"
    # Their customer is anonymised by the column strategies, not deleted.
    cust = _row(engine, "customers", 4)
    mac = "h:" + keys.mac("connector:shop", cs.email_of(4).encode()).hex()
    assert cust["email"] == mac[:255] and cust["phone"] is None and cust["name"] == "***"
    # The recent order stays whole, with its items; the 2017 order went with its children.
    assert _ids(engine, "orders") == {i * 10 + 1 for i in PEOPLE if i % 3}
    assert _row(engine, "orders", 41)["ship_name"] == "Person 4"
    with engine.connect() as conn:
        items = conn.execute(sa.text("SELECT order_id FROM order_items")).scalars().all()
    assert set(items) == {i * 10 + 1 for i in PEOPLE if i % 3}
    assert _ids(engine, "payments") == {i * 10 + 1 for i in PEOPLE if i % 3}
    assert _ids(engine, "addresses") == set()
    # Calls: the old ones went; the recent ones keep the destination until its keep ends.
    assert _ids(engine, "calls") == {i * 10 + 1 for i in PEOPLE}
    call = _row(engine, "calls", 41)
    assert call["destination"] == cs.rows_for(4)["calls"][0]["destination"]
    assert call["caller"].startswith("h:") and call["customer_id"] is None
    ticket = _row(engine, "support_tickets", 41)
    assert ticket["subject"] == "***" and ticket["customer_id"] is None
    assert _ids(engine, "ticket_messages")  # no rule, not following an expiring parent
    assert _ids(engine, "newsletter_signups") == set()


def test_rerun_does_nothing_and_later_runs_catch_up(shop):
    engine, runner, clock = shop["engine"], shop["connector"].runner("shop"), shop["clock"]
    sweep_dataset(runner, LATER)
    state = cs.snapshot(engine)
    again = sweep_dataset(runner, LATER)
    assert again.total == 0 and cs.snapshot(engine) == state
    assert sweep_dataset(runner, LATER, dry_run=True).total == 0
    # 2033: the 2025 invoices' keep is over, orders are past 2 years, call keeps ended.
    clock.set(datetime(2033, 1, 1, tzinfo=UTC))
    report = sweep_dataset(runner, clock.now())
    assert report.tables["invoices"].deleted == 8 and report.tables["customers"].deleted == 8
    for table in ("customers", "orders", "order_items", "payments", "invoices", "calls"):
        with engine.connect() as conn:
            assert conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar() == 0, table
    assert sweep_dataset(runner, clock.now()).total == 0


def test_children_are_deleted_before_their_parents(shop):
    order: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("DELETE"):
            order.append(statement.split()[2].strip('`"'))

    sa.event.listen(shop["engine"], "before_cursor_execute", record)
    sweep_dataset(shop["connector"].runner("shop"), LATER, batch=1000)
    first = {t: order.index(t) for t in dict.fromkeys(order)}
    assert first["order_items"] < first["orders"] and first["payments"] < first["orders"]
    assert first["invoices"] < first["orders"] < first["customers"]
    assert first["addresses"] < first["customers"]


def test_a_dataset_that_is_down_is_reported_and_others_still_run(shop, tmp_path):
    ok = parse_datasets(with_rules())
    down = parse_datasets(with_rules(url_env="DOWN_URL").replace("name: shop", "name: shop2"))
    unset = parse_datasets(with_rules(url_env="UNSET_URL").replace("name: shop", "name: shop3"))
    clock = ManualClock(LATER)
    store = JobStore(make_engine(f"sqlite:///{tmp_path}/troth2.db"), clock)
    connector = Connector(
        [*ok, *down, *unset],
        store=store,
        keys=shop["keys"],
        clock=clock,
        engines={"shop": shop["engine"]},
        environ={"DOWN_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"},
    )
    reports = {r.dataset: r for r in sweep_datasets(connector, LATER)}
    assert "cannot be reached" in (reports["shop2"].error or "")
    assert "UNSET_URL is not set" in (reports["shop3"].error or "")
    assert reports["shop"].error is None and reports["shop"].total > 0
    assert reports["shop2"].to_dict()["tables"] == {}
    connector.close()


BAD = [
    ("customers", "{keep_for: 2y, from: created}", ".customers.retention.from", "not a column"),
    ("customers", "{keep_for: soon, from: created_at}", "retention.keep_for", "not a duration"),
    ("customers", "{keep_for: 0d, from: created_at}", "retention.keep_for", "longer than zero"),
    ("customers", "{keep_for: 2y, from: created_at, then: burn}", "retention.then", "delete_row"),
    ("addresses", "{keep_for: 2y, from: city, then: anonymise}", "retention.then", "no column"),
    ("customers", "{keep_for: 2y, from: created_at, until: x}", "retention.until", "unknown key"),
    ("orders", "{keep_for: 2y, from: placed_at, where_purpose: nope}", "where_purpose", "nope"),
]


@pytest.mark.parametrize(("table", "rule", "where", "message"), BAD)
def test_bad_retention_rules_say_file_line_and_what_to_fix(table, rule, where, message):
    text = with_rules({table: rule})
    line = text.splitlines().index(f"        retention: {rule}") + 1
    with pytest.raises(DeclarationError) as err:
        parse_datasets(text, "shop.yaml", purposes=["shop", "billing"])
    [issue] = err.value.issues
    assert issue.startswith(f"shop.yaml:{line}: ") and where in issue and message in issue


def test_purposes_are_only_checked_when_given():
    parse_datasets(with_rules({"orders": "{keep_for: 2y, from: placed_at, where_purpose: x}"}))


def test_then_keep_counts_expired_rows_and_touches_nothing(shop_url, tmp_path):
    engine = make_engine(shop_url)
    cs.create_schema(engine)
    cs.populate(engine, PEOPLE)
    clock = ManualClock(LATER)
    connector = Connector(
        parse_datasets(with_rules({"calls": "{keep_for: 6m, from: started_at, then: keep}"})),
        store=JobStore(make_engine(f"sqlite:///{tmp_path}/troth.db"), clock),
        keys=Keyring.create(tmp_path / "keys.json"),
        clock=clock,
        engines={"shop": engine},
    )
    before = cs.snapshot(engine)
    report = sweep_dataset(connector.runner("shop"), LATER)
    assert cs.snapshot(engine) == before and report.total == 0
    assert report.tables["calls"].kept == 24 and report.tables["calls"].rule.endswith("keep")
    connector.close()
    engine.dispose()
