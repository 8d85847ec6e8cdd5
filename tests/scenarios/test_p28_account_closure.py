"""P28 (itechno): when a customer stops using the service their data is deleted, subject
to retention obligations: the relationship ends, invoices stay (restricted to billing for
the legal minimum), the rest goes; the customer is told what was kept and why."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from requests_helpers import mails_for, verified
from troth.errors import Refused
from troth.gate import Actor, ActorKind
from troth.policy.warnings import policy_warnings
from troth.requests.states import RequestState
from troth.store.tables import subject_keys, subjects
from troth.store.values import read_values

MAIL = "carla@example.com"


def test_p28_closing_the_account_deletes_all_but_what_the_law_keeps(home: Any, db_url: str) -> None:
    t = home("itechno", db_url)
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


ORDER = {
    "name": "Mia",
    "email": "mia@example.com",
    "address": "3 Via Roma",
    "card_number": "4111111111111111",
    "card_expiry": "12/29",
    "order_items": "1 x Licence",
}
OFFICE = Actor(ActorKind.staff, "pat", role="privacy_office")
ACCOUNTS = Actor(ActorKind.staff, "ada", role="accounts")


def test_p28_a_minors_card_goes_too_and_the_kept_invoice_reads_without_it(
    home: Any, db_url: str
) -> None:
    t = home("itechno", db_url)
    sid = t.collect("order_form", ORDER).subject_id
    out = t.report_minor(sid, evidence="parent says Mia is 15", actor=OFFICE)
    assert out["systems"][0]["kept"] == 3
    with t.ctx.engine.connect() as conn:
        left = read_values(conn, t.ctx, sid)
    assert {v.field for v in left} == {"name", "address", "order_items"}
    # accounts, who may see cards, reads the kept invoice for billing: no card in it.
    # (the accounts role does not see shipping addresses: that part stays masked)
    view = t.use(sid, purpose="billing", actor=ACCOUNTS)
    assert {v.field for v in view.values} == {"name", "order_items"}
    with pytest.raises(Refused) as refused:
        t.use(sid, purpose="billing", actor=ACCOUNTS, categories=["payment_card"])
    assert refused.value.reason == "subject_erased"


def test_p28_a_card_is_kept_only_when_the_policy_names_it_and_validation_warns(
    home: Any, db_url: str
) -> None:
    def keep_the_card(policy: dict[str, Any]) -> None:
        billing = next(p for p in policy["purposes"] if p["id"] == "billing")
        billing["retention"]["legal_minimum"]["categories"].append("payment_card")

    t = home("itechno", db_url, edit=keep_the_card)
    warnings = policy_warnings(t.ctx.policy.policy)
    assert any("sensitive category 'payment_card'" in w for w in warnings)
    sid = t.collect("order_form", ORDER).subject_id
    t.requests.execute(verified(t, "close_account", ORDER["email"]))
    with t.ctx.engine.connect() as conn:
        left = {v.field for v in read_values(conn, t.ctx, sid)}
    assert left == {"name", "address", "order_items", "card_number", "card_expiry"}
