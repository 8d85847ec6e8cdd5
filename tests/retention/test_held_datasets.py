"""A connected dataset's retention sweep honours legal holds (P30; GDPR Art. 17(3)(e)): the
rows of a person under a hold, on them or on their tenant, stay whatever their age (found
as an erasure finds them, their orders' lines and payments with them), are counted
``held`` in the dry run, the run and its audit entry, and go at the first run after the
last hold on them is lifted. Everyone else's expired rows go as before. The shop on
SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import json
from typing import Any

import pytest

import connected_schema as cs
from requests_helpers import connect_shop
from troth.audit.entries import list_entries
from troth.engine import Troth

RULES = {
    "customers": "{keep_for: 2y, from: created_at, where_purpose: account_management}",
    "orders": "{keep_for: 2y, from: placed_at, where_purpose: sales}",
    "invoices": "{keep_for: 1y, from: issued_at, where_purpose: sales}",
    "support_tickets": "{keep_for: 1y, from: opened_at, then: anonymise, where_purpose: support}",
    "calls": "{keep_for: 6m, from: started_at, where_purpose: support}",
}
SECRET = "Garda investigation 2026/17"


def _declare_with_rules(t: Troth) -> None:
    text = cs.declaration("SHOP_DATABASE_URL")
    for table, rule in RULES.items():
        head = f"      {table}:\n        primary_key: "
        text = text.replace(
            head, f"      {table}:\n        retention: {rule}\n        primary_key: "
        )
    (t.ctx.settings.resolved_datasets_dir / "shop.yaml").write_text(text)


def _held(report: dict[str, Any]) -> int:
    return sum(t["held"] for t in report["tables"].values())


def test_a_sweep_keeps_held_peoples_rows_and_sweeps_them_after_the_lift(
    home: Any, clock: Any, shop_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = home("mindlink")
    shop = connect_shop(t, shop_url, monkeypatch)  # people 1-6, on each backend
    _declare_with_rules(t)
    acme = t.access.tenants.create_tenant("Acme", "office@acme.example")
    bolt = t.access.tenants.create_tenant("Bolt", "office@bolt.example")
    one, _ = cs.customer(t, 1, acme), cs.customer(t, 2, bolt)
    cs.customer(t, 4, acme)
    on_one = t.retention.place_hold(reason=SECRET, subject_id=one)
    on_bolt = t.retention.place_hold(reason="Regulator inquiry", tenant_id=bolt)
    on_bolt_too = t.retention.place_hold(reason="Tribunal 4/2026", tenant_id=bolt)
    clock.advance(days=366)
    before = {i: cs.rows_of(shop, i) for i in (1, 2, 4)}

    plan = t.retention.plan()
    [planned] = plan.datasets
    report = t.retention.run()
    [swept] = report.datasets
    # Person 1 (held) and person 2 (their tenant held) keep every row; person 4's go.
    assert cs.rows_of(shop, 1) == before[1] and cs.rows_of(shop, 2) == before[2]
    assert cs.rows_of(shop, 4) != before[4] and swept["total"] > 0
    assert planned["error"] is None and _held(swept) == _held(planned) > 0
    assert swept["tables"]["orders"]["held"] == 2  # the 2017 orders of persons 1 and 2
    for name, tab in swept["tables"].items():
        would = planned["tables"][name]
        assert (tab["deleted"], tab["anonymised"]) == (
            would["would_delete"],
            would["would_anonymise"],
        ), name
    (entry,) = [e for e in list_entries(t.ctx, action="retention.dataset")]
    assert entry.entry.details["tables"]["orders"]["held"] == 2
    assert SECRET not in json.dumps([swept, entry.entry.details], default=str)
    # Again: nothing more goes while the holds run.
    assert t.retention.run().datasets[0]["total"] == 0

    # Person 1's hold lifted: theirs go at the next run; Bolt keeps one hold of two.
    t.retention.lift_hold(on_one)
    t.retention.lift_hold(on_bolt)
    again = t.retention.run().datasets[0]
    assert cs.rows_of(shop, 1) != before[1] and cs.rows_of(shop, 2) == before[2]
    assert again["tables"]["orders"]["held"] == 1 and again["total"] > 0
    t.retention.lift_hold(on_bolt_too)
    last = t.retention.run().datasets[0]
    assert cs.rows_of(shop, 2) != before[2] and _held(last) == 0
    assert {r[0] for r in cs.rows_of(shop, 2)["orders"]} == {21}  # the 2017 order went
