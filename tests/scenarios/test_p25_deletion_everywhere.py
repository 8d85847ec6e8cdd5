"""P25 (ilign, mindlink, itechno): deletion reaches every connected system; what the law
requires to keep (invoices) is kept, restricted to its legal purpose, and the report says
why. A connected database down in the middle: the request waits, nothing is half done,
the person is told, and it resumes to completion."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import connected_schema as cs
from requests_helpers import buy, connect_shop, mails_for, rows, shop_db, verified
from troth.errors import ConnectorError, NotFound, Refused
from troth.gate import Actor, ActorKind
from troth.requests.states import RequestState
from troth.store.values import read_values

ACCOUNTS = Actor(ActorKind.staff, "ada", role="accounts")
SUPPORT = Actor(ActorKind.staff, "sam", role="support")
PERSON = cs.email_of(4)


def test_p25_deleted_everywhere_except_invoices(
    home: Any,
    shop_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    t = home("mindlink")
    shop = connect_shop(t, shop_url, monkeypatch)
    other = cs.snapshot(shop)
    sid = buy(t, PERSON)
    rid = verified(t, "delete", PERSON)
    done = t.requests.execute(rid)
    assert done.state is RequestState.completed
    assert done.result is not None
    troth_part, shop_part = done.result["systems"]

    # troth: the invoice (name, billing address, product: the categories the sales purpose's
    # legal minimum names) stays, restricted to sales for 6 years; the rest goes, the
    # e-mail and the renewal date with it (they were once kept: no law needs them).
    assert troth_part["system"] == "troth"
    assert troth_part["found"] == 11 and troth_part["kept"] == 3 and troth_part["deleted"] == 8
    (why,) = troth_part["kept_because"]
    assert why["purpose"] == "sales" and why["until"] == "2032-03-02"
    assert "HMRC" in why["reason"] and "restricted to 'sales'" in why["reason"]
    with t.ctx.engine.connect() as conn:
        left = read_values(conn, t.ctx, sid)
    assert {v.field for v in left} == {"name", "address", "product"}
    assert all(v.restricted_to == "sales" for v in left)
    assert t.use(sid, purpose="sales", actor=ACCOUNTS).get("address") == "1 High Street, Leeds"
    with pytest.raises(Refused) as refused:
        t.use(sid, purpose="support", actor=SUPPORT)
    assert refused.value.reason == "subject_erased"
    with pytest.raises(NotFound):
        t.find(email=PERSON)  # no longer findable by address

    # The shop: person 4's recent invoice kept (tax law), the rest deleted or anonymised.
    assert shop_part["system"] == "dataset:shop"
    assert [r.id for r in rows(shop, "invoices", "customer_id = 4")] == [41]
    # The order the kept invoice points at stays, anonymised; the old one is gone.
    (order,) = rows(shop, "orders", "customer_id = 4")
    assert order.id == 41 and order.ship_name == "***" and order.ship_address is None
    assert rows(shop, "support_tickets", "email = :e", e=PERSON) == []
    (customer,) = rows(shop, "customers", "id = 4")
    assert customer.name == "***" and customer.phone is None and customer.email != PERSON
    kept = {k["table"]: k for k in shop_part["kept_because"]}
    assert "Tax law" in kept["invoices"]["reason"] and kept["invoices"]["rows"] == 1
    assert shop_part["deleted"] > 0 and shop_part["masked"] > 0
    # Nobody else was touched.
    after = cs.snapshot(shop)
    assert after["customers"][:3] == other["customers"][:3]  # people 1-3 unchanged
    assert len(after["customers"]) == len(other["customers"])
    # The person is told, with the reasons.
    body = mails_for(t, rid)[-1]["body_text"]
    assert "Tax law requires invoices" in body and 'In our system "shop":' in body
    assert "dataset:" not in body  # the system in the person's words (trial #20 F12)


def test_p25_database_down_in_the_middle_resumes(
    home: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = home("mindlink")
    shop = connect_shop(t, shop_db(tmp_path), monkeypatch)
    # A second system whose database is unreachable.
    down = f"sqlite:///{tmp_path}/missing-dir/warehouse.db"
    connect_shop(
        t, shop_db(tmp_path, "warehouse"), monkeypatch, name="warehouse", env="WAREHOUSE_URL"
    )
    monkeypatch.setenv("WAREHOUSE_URL", down)
    sid = buy(t, PERSON)
    rid = verified(t, "delete", PERSON)
    with t.ctx.engine.connect() as conn:
        before = read_values(conn, t.ctx, sid)
    with pytest.raises(ConnectorError, match="warehouse") as info:
        t.requests.execute(rid)
    assert f"troth requests execute {rid}" in info.value.message
    waiting = t.requests.get(rid)
    assert waiting.state is RequestState.in_progress and waiting.error
    assert "delayed" in mails_for(t, rid)[-1]["subject"]
    with t.ctx.engine.connect() as conn:
        assert read_values(conn, t.ctx, sid) == before  # troth's part waits, untouched
    assert rows(shop, "orders", "customer_id = 4 AND id = 42") == []  # shop's part done
    monkeypatch.setenv("WAREHOUSE_URL", f"sqlite:///{tmp_path}/warehouse.db")
    done = t.requests.execute(rid)
    assert done.state is RequestState.completed and done.error is None
    systems = {s["system"]: s for s in done.result["systems"]}  # type: ignore[index]
    assert systems["dataset:shop"]["deleted"] > 0  # the report from the first run
    assert systems["dataset:warehouse"]["deleted"] > 0
    assert systems["troth"]["kept"] == 3
    assert [e["event"] for e in t.requests.history(rid)][-4:] == [
        "started",
        "interrupted",
        "started",
        "completed",
    ]


def test_p25_a_connected_table_kept_for_a_legal_minimum_keeps_only_its_categories(
    home: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dataset that keeps a table whole for a policy purpose with a legal minimum may hold
    only the categories the minimum names: a card column there is refused with a message
    saying what to write (keep column by column, and erase the card)."""
    from troth.connectors.loader import DeclarationError
    from troth.requests.connected import connected_datasets

    t = home("mindlink")
    connect_shop(t, shop_db(tmp_path), monkeypatch)
    path = t.ctx.settings.resolved_datasets_dir / "shop.yaml"
    text = path.read_text().replace("purpose: tax_records", "purpose: sales")
    path.write_text(text)
    assert [d.name for d in connected_datasets(t.ctx)] == ["shop"]  # invoices: billing only
    path.write_text(
        text.replace("amount: billing\n", "amount: billing\n          card: payment_card\n")
    )
    with pytest.raises(DeclarationError) as bad:
        connected_datasets(t.ctx)
    (issue,) = bad.value.issues
    assert "tables.invoices.columns.card: category 'payment_card' is kept for 'sales'" in issue
    assert "identity, billing, purchases" in issue and "erase: keep" in issue


def test_p25_an_erasure_resumed_after_its_hold_with_a_database_down_is_retried(
    home: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Trial 4: the hold lifted while a connected database was down left the erasure
    ``in_progress`` for ever (the worker looked only for ``awaiting_hold``), and the lift
    said nothing. Now the lift names it, and the worker retries it until done; a request
    interrupted without a hold behind it is left to the office, as before."""
    t = home("mindlink")
    connect_shop(t, shop_db(tmp_path), monkeypatch)
    down = f"sqlite:///{tmp_path}/missing-dir/warehouse.db"
    connect_shop(
        t, shop_db(tmp_path, "warehouse"), monkeypatch, name="warehouse", env="WAREHOUSE_URL"
    )
    sid = buy(t, PERSON)
    other = cs.email_of(5)
    buy(t, other)
    hold = t.retention.place_hold(reason="Tribunal 4/2026", subject_id=sid)
    rid = verified(t, "delete", PERSON)
    assert t.requests.execute(rid).state is RequestState.awaiting_hold
    monkeypatch.setenv("WAREHOUSE_URL", down)
    # Another person's erasure interrupted by the same outage, no hold behind it.
    plain = verified(t, "delete", other)
    with pytest.raises(ConnectorError):
        t.requests.execute(plain)
    done = t.retention.lift_hold(hold)
    assert done["erasures_done"] == 0 and "warehouse" in done["erasures_left"][rid]
    assert t.requests.get(rid).state is RequestState.in_progress
    assert "0 erasure(s) done" in t.requests.run_due()  # still down: left, said so
    monkeypatch.setenv("WAREHOUSE_URL", f"sqlite:///{tmp_path}/warehouse.db")
    assert t.requests.run_due().startswith("1 erasure(s) done")
    finished = t.requests.get(rid)
    assert finished.state is RequestState.completed
    systems = {s["system"]: s for s in finished.result["systems"]}  # type: ignore[index]
    assert systems["dataset:warehouse"]["deleted"] > 0
    assert systems["troth"]["kept"] == 3  # the invoices' legal minimum, as unheld (above)
    assert t.requests.get(plain).state is RequestState.in_progress  # the office resumes it
