"""P20 (ilign, mindlink, ixanet, itechno): legal disclosures are recorded; the person is told
unless the law forbids it, and is told once that restriction ends."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from troth.errors import ValidationError
from troth.gate import Actor, ActorKind

OFFICE = Actor(ActorKind.staff, "pat", role="privacy_office")


def test_p20_gagged_demand_notified_when_order_ends(home, db_url, clock):
    from troth.notices.outbox import outbox

    t = home("itechno", db_url)
    sid = t.collect(
        "order_form",
        {
            "name": "Ann",
            "email": "ann@example.com",
            "address": "1 Main St",
            "card_number": "4111111111111111",
            "card_expiry": "12/29",
            "order_items": "x",
        },
    ).subject_id
    with pytest.raises(ValidationError, match="instrument"):
        t.disclosures.record_demand(
            authority="Police", instrument=None, reference="-", scope="everything"
        )
    demand = t.disclosures.record_demand(
        authority="Superior Court",
        instrument="production_order",
        reference="PO-7",
        scope="orders of ann@example.com",
        categories=["identity", "contact", "shipping_address", "purchases", "billing"],
        gag_until=clock.now() + timedelta(days=60),
        recipient="courts_and_law_enforcement",
    )
    pkg = t.disclosures.disclose(
        sid, "courts_and_law_enforcement", "legal_disclosure", OFFICE, legal_demand_id=demand.id
    )
    assert pkg.legal_demand_id == demand.id

    def mail() -> list:
        with t.ctx.engine.connect() as conn:
            return list(conn.execute(sa.select(outbox)))

    assert mail() == [] and t.disclosures.disclosures_of(sid) == []
    clock.advance(days=61)
    assert t.disclosures.notify_due_demands() == 1
    assert [m.to_addr for m in mail()] == ["ann@example.com"]
    assert t.disclosures.notify_due_demands() == 0
    assert t.disclosures.demand(demand.id).status == "notified"
    assert t.disclosures.disclosures_of(sid)[0]["legal_demand"]["reference"] == "PO-7"
