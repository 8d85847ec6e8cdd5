"""P28 (itechno): when a customer stops using the service their data is deleted, subject
to retention obligations: the relationship ends, invoices stay (restricted to billing for
the legal minimum), the rest goes; the customer is told what was kept and why."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from test_requests_helpers import mails_for, verified
from troth.requests.states import RequestState
from troth.store import read_values
from troth.store.tables import subject_keys, subjects

MAIL = "carla@example.com"


def test_p28_closing_the_account_deletes_all_but_what_the_law_keeps(
    make_troth: Any, db_url: str
) -> None:
    t = make_troth("itechno", db_url)
    sid = t.collect(
        "order_form",
        {
            "name": "Carla",
            "email": MAIL,
            "address": "3 Via Roma",
            "card_number": "4111111111111111",
            "card_expiry": "12/29",
            "order_items": "1 x Licence",
        },
    ).subject_id
    t.collect("account_signup", {"name": "Carla", "email": MAIL, "username": "carla"})
    rid = verified(t, "close_account", MAIL)
    done = t.requests.execute(rid)
    assert done.state is RequestState.completed
    with t.ctx.engine.connect() as conn:
        subj = conn.execute(sa.select(subjects).where(subjects.c.id == sid)).mappings().one()
        left = read_values(conn, t.ctx, sid)
        keys = conn.execute(
            sa.select(sa.func.count())
            .select_from(subject_keys)
            .where(subject_keys.c.subject_id == sid)
        ).scalar_one()
    assert subj["relationship_ended_at"] is not None and subj["erased_at"] is not None
    assert subj["email_bidx"] is None
    # Kept: the invoice only (name, address, items: the categories the billing purpose's
    # legal minimum names), restricted to billing for 7 years. Gone: the account, the
    # e-mail and the card (PCI DSS: no card kept without a need; tax law needs the invoice).
    # This test once asserted the card was kept: that was the defect (issue 14).
    assert {v.field for v in left} == {"name", "address", "order_items"}
    assert {v.restricted_to for v in left} == {"billing"}
    assert {v.restricted_until.isoformat() for v in left if v.restricted_until} == {"2033-03-02"}
    assert keys == 0  # nothing encrypted is kept: the card's key is shredded
    (troth_part,) = done.result["systems"]  # type: ignore[index]
    (why,) = troth_part["kept_because"]
    assert why["purpose"] == "billing" and why["until"] == "2033-03-02"
    assert why["law"] == "Tax record-keeping rules (7 years)"
    assert why["categories"] == ["identity", "purchases", "shipping_address"]
    assert "card_number" not in why["fields"]
    assert "closing your account" in mails_for(t, rid)[-1]["subject"]
