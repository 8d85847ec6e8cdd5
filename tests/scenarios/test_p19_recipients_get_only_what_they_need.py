"""P19 (itechno): the shipping company gets name and address, nothing else; no third party
gets individual transaction data."""

from __future__ import annotations

import pytest

from troth.errors import Refused
from troth.gate import Actor, ActorKind

DESK = Actor(ActorKind.staff, "dan", role="shipping_desk")


def test_p19_shipping_company_gets_name_and_address(home, db_url):
    t = home("itechno", db_url)
    sid = t.collect(
        "order_form",
        {
            "name": "Ann Lee",
            "email": "ann@example.com",
            "phone": "+15551234567",
            "address": "1 Main St",
            "zip_code": "10001",
            "card_number": "4111111111111111",
            "card_expiry": "12/29",
            "order_items": "2 widgets",
        },
    ).subject_id
    pkg = t.disclosures.disclose(sid, "shipping_company", "order_fulfilment", DESK)
    assert [(v.field, v.value) for v in pkg.values] == [
        ("name", "Ann Lee"),
        ("address", "1 Main St"),
    ]
    with pytest.raises(Refused) as exc:
        t.disclosures.disclose(
            sid, "shipping_company", "order_fulfilment", DESK, categories=["purchases"]
        )
    assert exc.value.reason == "recipient_category_not_allowed"
    [seen] = t.disclosures.disclosures_of(sid)
    assert seen["fields"] == ["name", "address"] and seen["recipient"] == "shipping_company"
