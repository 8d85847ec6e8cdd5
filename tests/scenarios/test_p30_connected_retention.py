"""P30 across connected systems: one retention run sweeps troth's own store and every
connected dataset's ``retention:`` rules, with a record of what went from each; invoices
kept by tax law stay; a connected database that is down is reported and stops nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import typer
from typer.testing import CliRunner

import connected_schema as cs
from requests_helpers import connect_shop, rows
from troth.audit.entries import list_entries
from troth.cli import retention as retention_cli
from troth.store.tables import records

# The shop's own retention rules, each naming the policy purpose it carries out.
RULES = {
    "customers": "{keep_for: 2y, from: created_at, where_purpose: account_management}",
    "orders": "{keep_for: 2y, from: placed_at, where_purpose: sales}",
    "invoices": "{keep_for: 1y, from: issued_at, where_purpose: sales}",  # tax keep: 7y
    "support_tickets": "{keep_for: 1y, from: opened_at, then: anonymise, where_purpose: support}",
    "calls": "{keep_for: 6m, from: started_at, where_purpose: support}",
    "newsletter_signups": "{keep_for: 1y, from: signed_up_at, where_purpose: newsletter}",
}


def declare_with_rules(t: Any, name: str = "shop", env: str = "SHOP_DATABASE_URL") -> None:
    text = cs.declaration(env).replace("name: shop", f"name: {name}", 1)
    for table, rule in RULES.items():
        head = f"      {table}:\n        primary_key: "
        text = text.replace(
            head, f"      {table}:\n        retention: {rule}\n        primary_key: "
        )
    (t.ctx.settings.resolved_datasets_dir / f"{name}.yaml").write_text(text)


def _count(engine: sa.Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar() or 0)


def test_p30_retention_run_sweeps_troth_and_connected_datasets(
    home: Any, db_url: str, clock: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = home("mindlink", db_url)
    shop = connect_shop(t, f"sqlite:///{tmp_path}/shop.db", monkeypatch)  # people 1-6
    declare_with_rules(t)
    t.collect("contact_form", {"email": "ann@example.com", "message": "hello"})
    clock.advance(days=366)  # 2027-03-03: the enquiry's year is over, and the shop's rules

    before = cs.snapshot(shop)
    plan = t.retention.plan()
    assert cs.snapshot(shop) == before  # the dry run changes nothing anywhere
    assert plan.total == 2
    [planned] = plan.datasets
    assert planned["dataset"] == "shop" and planned["dry_run"] and planned["error"] is None

    report = t.retention.run()
    # troth's own records went...
    assert report.total == 2
    with t.ctx.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(records)).scalar() == 0
    # ...and so did the shop's expired rows, children before parents.
    [swept] = report.datasets
    assert swept["error"] is None and swept["total"] == planned["total"] > 0
    for name, tab in swept["tables"].items():
        would = planned["tables"][name]
        assert (tab["deleted"], tab["anonymised"]) == (
            would["would_delete"],
            would["would_anonymise"],
        ), name
    assert [r.id for r in rows(shop, "customers")] == [1, 2, 4, 5]  # 3, 6 never ordered
    assert _count(shop, "newsletter_signups") == 0 and _count(shop, "addresses") == 0
    assert {r.id for r in rows(shop, "orders")} == {11, 21, 41, 51}  # 2017 orders went
    # Invoices under the 7-year tax keep are untouched; their customers anonymised.
    assert {r.id for r in rows(shop, "invoices")} == {11, 21, 41, 51}
    assert rows(shop, "invoices", "id = 41")[0].billing_name == "Person 4"
    assert swept["tables"]["invoices"]["kept"] == 4
    assert rows(shop, "customers", "id = 4")[0].name == "***"
    assert swept["tables"]["customers"]["purpose"] == "account_management"
    # The record: one audit entry per dataset, counts only.
    [entry] = [e for e in list_entries(t.ctx, limit=1000) if e.entry.action == "retention.dataset"]
    assert entry.entry.details["dataset"] == "shop" and entry.entry.details["rows"] > 0
    assert entry.entry.details["tables"]["invoices"]["kept"] == 4
    assert cs.email_of(3) not in json.dumps(entry.entry.details)
    # A second run finds nothing left to do, here or there.
    again = t.retention.run()
    assert again.total == 0 and again.datasets[0]["total"] == 0


def test_p30_a_connected_database_down_is_reported_and_stops_nothing(
    home: Any, db_url: str, clock: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = home("mindlink", db_url)
    shop = connect_shop(t, f"sqlite:///{tmp_path}/shop.db", monkeypatch)
    declare_with_rules(t)
    declare_with_rules(t, name="archive", env="ARCHIVE_DATABASE_URL")
    monkeypatch.setenv("ARCHIVE_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    t.collect("contact_form", {"email": "ann@example.com", "message": "hello"})
    clock.advance(days=366)
    report = t.retention.run()
    assert report.total == 2  # troth's own sweep ran
    by_name = {d["dataset"]: d for d in report.datasets}
    assert "cannot be reached" in by_name["archive"]["error"]
    assert by_name["shop"]["error"] is None and by_name["shop"]["total"] > 0
    assert _count(shop, "newsletter_signups") == 0
    down = [
        e.entry
        for e in list_entries(t.ctx, limit=1000)
        if e.entry.action == "retention.dataset" and e.entry.details["dataset"] == "archive"
    ]
    assert down and "cannot be reached" in down[0].details["error"]


def test_p30_a_bad_declaration_is_reported_and_troth_still_sweeps(
    home: Any, clock: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = home("mindlink")
    connect_shop(t, f"sqlite:///{tmp_path}/shop.db", monkeypatch)
    declare_with_rules(t)
    path = t.ctx.settings.resolved_datasets_dir / "shop.yaml"
    path.write_text(path.read_text().replace("where_purpose: newsletter", "where_purpose: ads"))
    t.collect("contact_form", {"email": "ann@example.com", "message": "hello"})
    clock.advance(days=366)
    report = t.retention.run()
    assert report.total == 2
    [bad] = report.datasets
    assert "shop.yaml:" in bad["error"] and "unknown purpose 'ads'" in bad["error"]


def test_p30_cli_shows_connected_datasets(
    home: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = home("mindlink")
    connect_shop(t, f"sqlite:///{tmp_path}/shop.db", monkeypatch)
    declare_with_rules(t)
    home_dir = t.ctx.settings.home
    t.close()
    root = typer.Typer()

    @root.callback()
    def _root(ctx: typer.Context, home_dir: Path = typer.Option(None, "--home")) -> None:
        ctx.obj = {"home": home_dir}

    retention_cli.register(root)
    runner = CliRunner()
    base = ["--home", str(home_dir), "retention", "run", "--dry-run"]
    out = runner.invoke(root, [*base, "--json"])
    assert out.exit_code == 0, out.output
    [shop] = json.loads(out.output)["datasets"]
    assert shop["dataset"] == "shop" and "invoices" in shop["tables"]
    out = runner.invoke(root, base, env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert "Connected datasets" in out.output and "2y from created_at" in out.output
