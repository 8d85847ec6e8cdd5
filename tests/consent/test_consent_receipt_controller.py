"""Trial #20 F4: a hotel guest's consent receipt named the vendor (Tallyroom) as the
controller of a consent to the hotel's own purpose, though the policy makes each hotel its
guests' controller (``tenant_controller: customer``). A receipt names the controller of
the purpose consented to: the person's customer for a customer's purpose where the
customers decide; the organisation for its own (``vendor_only``) purposes, for its own
people and wherever it decides about the customers' people."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from pulse_samples import pulse_world
from tallyroom_samples import TALLYROOM, tallyroom_world
from troth.consent import decode_receipt, verify_receipt
from troth.consent.tables import consent_receipts
from troth.engine import Troth
from troth.store.tables import tenants


def _receipts(t: Troth, subject_id: str) -> list[dict[str, Any]]:
    with t.ctx.engine.connect() as conn:
        rows = conn.execute(
            select(consent_receipts.c.jws).where(consent_receipts.c.subject_id == subject_id)
        ).scalars()
        return [verify_receipt(j, t.ctx.keys.public_key_b64()) for j in rows]


def _controller(r: dict[str, Any]) -> tuple[str, str, str]:
    c = r["piiControllers"]
    assert len(c) == 1  # the processor is never named in the controller's role
    return c[0]["piiController"], c[0]["email"], r["services"][0]["service"]


def test_a_customer_s_guest_s_receipt_names_the_hotel(home: Any, tmp_path: Path) -> None:
    w = tallyroom_world(home, tmp_path)
    (claire,) = _receipts(w.t, w.people["claire"])
    assert _controller(claire) == ("Auberge Quebec", "office@auberge.example", "Auberge Quebec")
    assert "Tallyroom" not in str(claire["piiControllers"])
    # Eva's receipt at Madrid names Madrid, never the other hotel that holds her address.
    (eva,) = _receipts(w.t, w.people["eva"])
    assert _controller(eva)[0] == "Hotel Sol Madrid"
    assert "Quebec" not in str(eva)


def test_a_consent_granted_later_names_the_hotel_too(home: Any, tmp_path: Path) -> None:
    w = tallyroom_world(home, tmp_path)
    rec = w.t.consent.grant(w.people["eva_qc"], "special_requests_service")
    r = decode_receipt(rec.receipt_jws or "")
    assert _controller(r)[0] == "Auberge Quebec"


def test_the_vendor_s_own_purpose_names_the_vendor(home: Any, tmp_path: Path) -> None:
    # pulse: a customer's employee consents to the vendor's own health tracking.
    w = pulse_world(home, tmp_path)
    receipts = _receipts(w.t, w.people["emp"])
    found = {r["services"][0]["purposes"][0]["purposeId"]: r for r in receipts}
    assert set(found) == {"activity_tracking", "health_insights"}
    for r in found.values():
        assert _controller(r) == (
            "Pulse Wearables Inc.", "privacy@pulse.example", "Pulse Wearables Inc."
        )  # fmt: skip


def test_the_organisation_s_own_people_and_where_it_decides(home: Any, tmp_path: Path) -> None:
    w = tallyroom_world(home, tmp_path, TALLYROOM.replace("customer\n", "organisation\n", 1))
    assert _controller(_receipts(w.t, w.people["claire"])[0])[0] == "Tallyroom B.V."
    own = w.t.collect(
        "booking", {"name": "Own", "email": "own@example.org", "arrival": "2026-12-01"},
        consents=["special_requests_service"],
    ).subject_id  # fmt: skip
    assert _controller(_receipts(w.t, own)[0]) == (
        "Tallyroom B.V.", "dpo@tallyroom.example", "Tallyroom B.V."
    )  # fmt: skip


def test_a_hotel_row_changed_outside_troth_gives_no_address(home: Any, tmp_path: Path) -> None:
    w = tallyroom_world(home, tmp_path)
    with w.t.ctx.engine.begin() as conn:
        conn.execute(
            update(tenants)
            .where(tenants.c.id == w.tenants["quebec"])
            .values(primary_email="attacker@evil.example")
        )
    rec = w.t.consent.grant(w.people["eva_qc"], "special_requests_service")
    name, email, _ = _controller(decode_receipt(rec.receipt_jws or ""))
    assert (name, email) == ("Auberge Quebec", "")
