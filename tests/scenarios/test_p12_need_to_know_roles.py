"""P12 (itechno, mindlink): staff see only the categories their role or department is
granted, for declared purposes: accounts sees billing and card data, support never sees
the payment card."""

from __future__ import annotations

from typing import Any

import pytest

from troth.audit.entries import list_entries
from troth.clock import ManualClock
from troth.engine import Troth
from troth.errors import Refused

PW = "correct horse battery staple"
ORDER = {
    "name": "Dana Ng",
    "email": "dana@example.com",
    "address": "1 Main St",
    "card_number": "4111111111111111",
    "card_expiry": "12/29",
    "order_items": "1 licence",
}


@pytest.fixture
def t(home: Any, db_url: str) -> Troth:
    return home("itechno", db_url, clock=ManualClock())


def login(t: Troth, email: str, role: str):  # type: ignore[no-untyped-def]
    """Add a staff account, log in, and come back through the session as the web does."""
    t.access.accounts.add_user(email, role=role, password=PW)
    user = t.access.accounts.authenticate(email, PW)
    token, _ = t.access.sessions.start_session(user)
    return t.access.sessions.resolve_session(token)[1]


def test_p12_accounts_sees_card_support_does_not(t: Troth) -> None:
    sid = t.collect("order_form", ORDER).subject_id
    accounts = login(t, "acc@itechno.example", "accounts")
    support = login(t, "sup@itechno.example", "support")

    billing = t.use(sid, purpose="billing", actor=accounts)
    assert billing.get("card_number") == "4111111111111111"
    assert billing.get("card_expiry") == "12/29"

    orders = t.use(sid, purpose="order_fulfilment", actor=support)
    assert orders.get("name") == "Dana Ng" and orders.get("order_items") == "1 licence"
    assert orders.get("card_number") is None and orders.get("address") is None
    # Support may never see a card: it is not even named as withheld (troth.gate.masks).
    assert "card_number" not in orders.masked and "4111" not in repr(orders)
    # Support asking for billing at all is refused, and audited.
    with pytest.raises(Refused) as exc:
        t.use(sid, purpose="billing", actor=support)
    assert exc.value.reason == "role_not_allowed"
    last = list_entries(t.ctx, newest_first=True, limit=1)[0].entry
    assert last.action == "use" and last.outcome == "deny" and last.actor == support.label
    # Even naming the card category explicitly does not reveal it to support.
    with pytest.raises(Refused):
        t.use(sid, purpose="order_fulfilment", actor=support, categories=["payment_card"])
