"""Trial #20 F10 (the letters beside the legal-disclosure one): a breach notice the console
offered began "Dear customer", cut the discovery time to "Monday 7 D", and never said who
decides about the data. The notice a person gets speaks to them by no title it cannot
know, names the data in the policy's words and, where the organisation tells a customer's
people for the customer (``tenant_people: organisation`` while the customers decide), names
that customer as the one who decides (``controller``); for the organisation's own people,
and for a breach only of its own purposes' data, the organisation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from outbox_helpers import outbox_mail
from tallyroom_samples import BILLING, CLAIRE, TALLYROOM, tallyroom_world
from troth.breaches.notify import DEFAULT_TEMPLATE
from troth.clock import ManualClock

TOLD_BY_US = TALLYROOM.replace(
    "tenant_controller: customer\n",
    "tenant_controller: customer\nbreach_notices: {tenant_people: organisation}\n",
)


def _notice(w: Any, categories: list[str]) -> dict[str, str]:
    now = w.t.ctx.clock.now()
    b = w.t.breaches.record_breach(
        title="Backup exposure",
        description="A backup was readable by anyone.",
        discovered_at=now,
        occurred_from=now - timedelta(days=30),
        occurred_until=now,
        categories=categories,
        high_risk=True,
    )
    w.t.breaches.notify_individuals(b.id, DEFAULT_TEMPLATE)
    return {m["to_addr"]: m["body_text"] for m in outbox_mail(w.t)}


def test_a_customer_s_person_reads_who_decides(
    home: Any, tmp_path: Path, clock: ManualClock
) -> None:
    w = tallyroom_world(home, tmp_path, TOLD_BY_US)
    own = w.t.collect(
        "booking", {"name": "Own", "email": "own@example.org", "arrival": "2026-12-01",
                    "special_request": "late check-in"},
        consents=["special_requests_service"],
    ).subject_id  # fmt: skip
    assert own
    clock.set(datetime(2026, 12, 31, 23, 30, tzinfo=UTC))  # 18:30 in Toronto
    sent = _notice(w, ["special_requests"])
    claire = sent[CLAIRE]
    assert "Dear customer" not in claire and claire.startswith("Hello,")
    assert "Tallyroom B.V. holds this data for Auberge Quebec, who decides about it." in claire
    assert "Your special requests" in claire and "special_requests" not in claire
    assert "Thursday 31 December 2026 at 18:30 EST" in claire  # whole, in her zone
    eva = sent["eva@example.se"]
    assert "for Hotel Sol Madrid, who decides" in eva and "Quebec" not in eva
    assert "Friday 1 January 2027 at 00:30 CET" in eva
    # The organisation's own person: it decides, and no customer is named.
    mine = sent["own@example.org"]
    assert "holds this data for" not in mine and "Hotel" not in mine


def test_a_breach_of_the_vendor_s_own_data_names_no_customer(home: Any, tmp_path: Path) -> None:
    w = tallyroom_world(home, tmp_path)  # the customers tell their people; not this breach
    sent = _notice(w, ["hotel_account"])
    billing = sent[BILLING["madrid"]]
    assert "holds this data for" not in billing and "Hotel Sol Madrid" not in billing
    assert "The hotel's company name, VAT number and billing address" in billing
