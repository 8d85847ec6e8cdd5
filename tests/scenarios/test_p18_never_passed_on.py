"""P18 (all): a disclosure to a recipient the policy does not list for that category and
purpose is refused, and the refusal is in the audit log."""

from __future__ import annotations

import pytest

from troth.audit.entries import list_entries
from troth.errors import Refused
from troth.gate import Actor, ActorKind

SHOP = Actor(ActorKind.application, "shop", scopes=frozenset({"admin"}))


@pytest.mark.parametrize(
    ("recipient", "purpose"),
    [("ad_network", "order_fulfilment"), ("shipping_company", "billing")],
)
def test_p18_unlisted_recipient_refused(home, db_url, recipient, purpose):
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
    with pytest.raises(Refused) as exc:
        t.disclosures.disclose(sid, recipient, purpose, SHOP)
    assert exc.value.reason == "recipient_not_listed"
    denied = [
        e
        for e in list_entries(t.ctx, limit=1000)
        if e.entry.action == "disclose" and e.entry.outcome == "deny"
    ]
    assert denied and denied[0].entry.details["recipient"] == recipient
    assert t.disclosures.disclosures_of(sid) == []
