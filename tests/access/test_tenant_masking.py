"""Nobody at a customer reads a card number in clear unless the policy gives them a role that
reads it whole (trial #14, F4; PCI DSS 3.4: a PAN masked on display). A field that declares
``mask: last4`` is read masked by a customer's admin without a role, a customer's member
without a role (where the policy declares no member roles), and a key bound to a customer
whatever its scopes (it has no role): through the Python API, the CLI, the HTTP API, a
disclosure they make, as the tenant export already did. A member role that lists the
category (not in its ``masked``) reads it whole; the vendor's own side is unchanged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from _http import PASSWORD, client_for, csrf_from
from troth.access import actor_for
from troth.engine import Troth
from troth.errors import NotFound, Refused
from troth.gate import SYSTEM, Actor, ActorKind
from unknown_helpers import assert_unknown_to

MARKET = """\
troth: 1
id: market
multi_tenant: true
version: "1.0"
effective: 2025-01-01
organisation:
  name: Stall Ltd
  contact: {name: Privacy desk, email: privacy@stall.example}
  dpo: {name: Dana, email: dpo@stall.example}
  jurisdictions: [gdpr]
subjects:
  - id: buyer
    description: Buyers at the sellers.
categories:
  - {id: payment_card, description: Card number and expiry., sensitive: true}
  - {id: billing, description: Invoice amounts.}
purposes:
  - id: payment
    description: Take card payments.
    legal_basis: contract
    categories: [identity, payment_card, billing]
    retention: {keep_for: 120d}
  - id: order_fulfilment
    description: Ship the order.
    legal_basis: contract
    categories: [identity, shipping_address]
    retention: {keep_for: 2y}
collection_points:
  - id: order
    description: A buyer orders.
    subjects: [buyer]
    fields:
      name: {category: identity, required: true}
      address: {category: shipping_address, required: true}
      card_number: {category: payment_card, required: true, mask: last4}
      card_expiry: {category: payment_card, required: true, mask: last4}
      amount: {category: billing}
    purposes: [payment, order_fulfilment]
recipients:
  - id: psp
    name: Card acquirer
    kind: sub_processor
    role: card payments
    location: NL
    receives:
      - {purpose: payment, categories: [identity, payment_card, billing]}
    individual_transactions: true
locations: {allowed: [NL], default: NL}
roles:
  - id: payments
    description: The vendor's payments team reads the card masked.
    categories: [identity, payment_card, billing]
    masked: [payment_card]
    purposes: [payment]
  - id: acquiring
    description: The vendor's acquiring desk reads the card whole.
    categories: [identity, payment_card, billing]
    purposes: [payment]
MEMBER_ROLES
support_access: {requires_customer_grant: false, max_days: 7}
"""

ROLES = """\
  - id: seller_admin
    for: tenant_members
    description: A seller's owner.
    categories: [identity, shipping_address, billing]
    purposes: [order_fulfilment]
  - id: cashier
    for: tenant_members
    description: Takes card payments at the seller (reads the card whole).
    categories: [identity, payment_card, billing]
    purposes: [payment]
  - id: till
    for: tenant_members
    description: Sees the card masked.
    categories: [identity, payment_card, billing]
    masked: [payment_card]
    purposes: [payment]
"""

CARD = "4111111111111111"
MASKED = "•••• 1111"


def _market(home: Any, tmp_path: Path, roles: str) -> Any:
    policy = tmp_path / "market.yaml"
    policy.write_text(MARKET.replace("MEMBER_ROLES\n", roles))
    t: Troth = home(policy=policy)
    acc = t.access
    anouk = acc.tenants.create_tenant("Atelier Anouk", "anouk@anouk.example")
    bert = acc.tenants.create_tenant("Berliner Buecher", "bert@bert.example")

    def member(tid: str, email: str, trole: str = "member", role: str | None = None) -> Actor:
        tok, _ = acc.tenants.invite(tid, email, role=trole, member_role=role)
        return actor_for(acc.tenants.accept_invitation(tok, PASSWORD))

    def buyer(tid: str, name: str) -> str:
        return t.collect(
            "order",
            {
                "name": name,
                "address": "1 Canal St",
                "card_number": CARD,
                "card_expiry": "12/29",
                "amount": "12.50",
            },
            tenant_id=tid,
        ).subject_id

    return t, anouk, bert, member, buyer(anouk, "Emma"), buyer(bert, "Lucas")


@pytest.fixture
def market(home: Any, tmp_path: Path) -> Any:
    return _market(home, tmp_path, ROLES)


def _card(t: Troth, sid: str, actor: Actor) -> Any:
    view = t.use(sid, purpose="payment", actor=actor)
    return view.get("card_number"), view.get("amount")


def test_an_admin_without_a_role_reads_the_card_masked(market: Any) -> None:
    # Before the fix the admin (no member role) read "4111111111111111".
    t, anouk, _bert, member, emma, _lucas = market
    admin = member(anouk, "anouk@anouk.example", "admin")
    assert admin.role is None
    assert _card(t, emma, admin) == (MASKED, "12.50")  # a field without mask: as it is
    text = json.dumps(t.use(emma, purpose="payment", actor=admin).as_dict(), ensure_ascii=False)
    assert CARD not in text and "411111" not in text
    # Given a role that reads the card whole, they read it whole; one that reads it
    # masked, masked; and taken away again, masked again. (An admin whose role reads it
    # masked may not take that role away themself: an admin without a role reads every
    # category, beyond their role: ``beyond_own_role``. The operator may.)
    t.access.tenants.set_member_role(anouk, admin.id, "cashier", by=admin)
    assert _card(t, emma, admin)[0] == CARD
    t.access.tenants.set_member_role(anouk, admin.id, "till", by=admin)
    assert _card(t, emma, admin)[0] == MASKED
    with pytest.raises(Refused) as exc:
        t.access.tenants.set_member_role(anouk, admin.id, None, by=admin)
    assert exc.value.reason == "beyond_own_role"
    t.access.tenants.set_member_role(anouk, admin.id, None)
    assert _card(t, emma, admin)[0] == MASKED
    # A member role reads as it says; the vendor's side is unchanged.
    assert _card(t, emma, member(anouk, "cash@anouk.example", role="cashier"))[0] == CARD
    assert _card(t, emma, member(anouk, "till@anouk.example", role="till"))[0] == MASKED
    assert _card(t, emma, Actor(ActorKind.staff, "pay", role="payments"))[0] == MASKED
    assert _card(t, emma, Actor(ActorKind.staff, "acq", role="acquiring"))[0] == CARD
    assert _card(t, emma, SYSTEM)[0] == CARD
    vendor_key = Actor(ActorKind.application, "k", scopes=frozenset({"use"}))
    assert _card(t, emma, vendor_key)[0] == CARD


@pytest.mark.parametrize("scopes", [["use"], ["use:payment"], ["admin"]])
def test_a_seller_key_reads_the_card_masked_whatever_its_scopes(
    market: Any, scopes: list[str]
) -> None:
    # Before the fix a key bound to the seller read "4111111111111111" over the API.
    t, anouk, bert, _member, emma, lucas = market
    bound, _ = t.access.keys.create_api_key("anouk shop", scopes, tenant_id=anouk)
    other, _ = t.access.keys.create_api_key("bert shop", ["admin"], tenant_id=bert)
    vendor, _ = t.access.keys.create_api_key("vendor backend", ["use"])
    with client_for(t.ctx) as c:
        r = c.get(
            f"/api/v1/subjects/{emma}?purpose=payment",
            headers={"Authorization": f"Bearer {bound}"},
        )
        assert r.status_code == 200, r.text
        assert CARD not in r.text and "411111" not in r.text
        cards = {v["field"]: v["value"] for v in r.json()["values"]}
        assert cards["card_number"] == MASKED and cards["card_expiry"] == "••••"
        # Another seller's admin key reaches nothing of this seller's buyer.
        r = c.get(
            f"/api/v1/subjects/{emma}?purpose=payment",
            headers={"Authorization": f"Bearer {other}"},
        )
        assert r.status_code in (403, 404) and CARD not in r.text
        # Nor the first key another seller's.
        r = c.get(
            f"/api/v1/subjects/{lucas}?purpose=payment",
            headers={"Authorization": f"Bearer {bound}"},
        )
        assert r.status_code in (403, 404) and CARD not in r.text
        # The vendor's own key (bound to no seller) is unchanged.
        r = c.get(
            f"/api/v1/subjects/{emma}?purpose=payment",
            headers={"Authorization": f"Bearer {vendor}"},
        )
        assert r.status_code == 200 and CARD in r.text


def test_the_admin_signed_in_reads_the_card_masked_over_the_api(market: Any) -> None:
    t, anouk, _bert, member, emma, _lucas = market
    member(anouk, "anouk@anouk.example", "admin")
    with client_for(t.ctx) as c:
        page = c.get("/tenant/login").text
        r = c.post(
            "/tenant/login",
            data={
                "email": "anouk@anouk.example",
                "password": PASSWORD,
                "csrf_token": csrf_from(page),
            },
        )
        assert r.status_code == 200, r.text
        r = c.get(f"/api/v1/subjects/{emma}?purpose=payment")
        assert r.status_code == 200 and CARD not in r.text, r.text
        values = {v["field"]: v["value"] for v in r.json()["values"]}
        assert values["card_number"] == MASKED
        # The same as the tenant export for the same admin (masked there before the fix).
        r = c.get("/tenant/export.json")
        assert r.status_code == 200 and CARD not in r.text
        values = [v for p in r.json()["subjects"] for v in p["values"]]
        assert [v["value"] for v in values if v["field"] == "card_number"] == [MASKED]


def test_the_cli_use_of_a_seller_admin_shows_the_card_masked(market: Any) -> None:
    from troth.cli import app

    t, anouk, _bert, member, emma, _lucas = market
    member(anouk, "anouk@anouk.example", "admin")
    actor = "tenant_admin:anouk@anouk.example@Atelier Anouk"
    home = str(t.ctx.home)
    r = CliRunner().invoke(
        app, ["--home", home, "use", emma, "--purpose", "payment", "--actor", actor, "--json"]
    )
    assert r.exit_code == 0, r.output
    assert CARD not in r.output
    values = {v["field"]: v["value"] for v in json.loads(r.output)["values"]}
    assert values["card_number"] == MASKED
    args = ["--home", home, "use", emma, "--purpose", "payment", "--actor", "system", "--json"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0 and CARD in r.output  # the operator (troth itself) unchanged


def test_a_disclosure_by_a_seller_passes_the_card_masked(market: Any) -> None:
    # Before the fix a seller's admin (or its key) sent the whole number on.
    t, anouk, _bert, member, emma, _lucas = market
    admin = member(anouk, "anouk@anouk.example", "admin")
    key = Actor(ActorKind.application, "k", tenant_id=anouk, scopes=frozenset({"admin"}))
    for actor in (admin, key):
        package = t.disclosures.disclose(emma, "psp", "payment", actor)
        sent = {v.field: v.value for v in package.values}
        assert sent["card_number"] == MASKED, actor
    cashier = member(anouk, "cash@anouk.example", role="cashier")
    for actor in (cashier, SYSTEM):  # a role that reads it whole, and troth itself
        package = t.disclosures.disclose(emma, "psp", "payment", actor)
        assert {v.field: v.value for v in package.values}["card_number"] == CARD


def test_a_member_without_a_role_where_the_policy_declares_none(home: Any, tmp_path: Path) -> None:
    # No member roles: every member reads what the purposes allow, but a card masked.
    t, anouk, bert, member, emma, lucas = _market(home, tmp_path, "")
    clerk = member(anouk, "clerk@anouk.example")
    assert _card(t, emma, clerk) == (MASKED, "12.50")
    # Another customer's person: unknown to the clerk, as an id naming nobody (trial 19,
    # F11; it was Refused not_a_member), audited not_a_member; never the card.
    with pytest.raises(NotFound) as exc:
        t.use(lucas, purpose="payment", actor=clerk)
    assert CARD not in exc.value.message
    assert_unknown_to(t, lucas, "payment", clerk)
    bert_admin = member(bert, "bert@bert.example", "admin")
    assert _card(t, lucas, bert_admin)[0] == MASKED
