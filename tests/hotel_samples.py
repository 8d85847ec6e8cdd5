"""A hotel PMS's policy (tests only; trial #20's Tallyroom, cut down): hotels are the
customers, each the controller of its guests; the guest register at check-in keeps the
passport number (``mask: last4``), which the law makes the hotel file with the police (a
``kind: authority`` recipient with a ``statutory_duty``); the front desk reads it masked.
A card acquirer receives the card token for payment (an ordinary, contract disclosure).
And a home of two hotels, Madrid and Roma, each with a guest, its members and keys."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _http import PASSWORD
from troth.access import actor_for
from troth.engine import Troth
from troth.gate import Actor, ActorKind

HOTELS = """\
troth: 1
id: tallyroom
multi_tenant: true
tenant_controller: customer
version: "1.0"
effective: 2025-01-01
organisation:
  name: Tallyroom B.V.
  contact: {name: Tallyroom privacy desk, email: privacy@tallyroom.example}
  dpo: {name: Tallyroom DPO, email: dpo@tallyroom.example}
  jurisdictions: [gdpr]
subjects:
  - {id: guest, description: Hotel guests.}
categories:
  - {id: identity, description: Your name.}
  - {id: contact, description: Your e-mail address.}
  - {id: government_id, description: Your passport or ID card number., sensitive: true}
  - {id: nationality, description: Your nationality.}
  - {id: stays, description: Your stay dates and room., transactions: true}
  - {id: payment_card, description: Your payment card (a token)., sensitive: true}
purposes:
  - id: stay_management
    description: Manage your booking and stay at the hotel.
    legal_basis: contract
    categories: [identity, contact, stays]
    retention: {keep_for: 2y}
  - id: police_registration
    description: Register guests' identity documents with the police, as the law requires.
    legal_basis: legal_obligation
    categories: [identity, government_id, nationality, stays]
    retention:
      keep_for: 3y
      legal_minimum:
        keep_for: 3y
        law: Spain RD 933/2021 art. 5; Italy TULPS art. 109 (guest register)
        categories: [identity, government_id, nationality, stays]
  - id: payment
    description: Take payment for your stay.
    legal_basis: contract
    categories: [identity, stays, payment_card]
    retention: {keep_for: 7y}
  - id: support
    description: Tallyroom support looks at a hotel's guest data when the hotel grants it.
    legal_basis: contract
    categories: [identity, stays]
collection_points:
  - id: checkin_registration
    description: The guest register at check-in (identity document).
    subjects: [guest]
    fields:
      name: {category: identity, required: true}
      document_number: {category: government_id, required: true, mask: last4}
      nationality: {category: nationality, required: true}
      checkin_at: {category: stays, type: datetime, required: true}
    purposes: [police_registration]
  - id: booking
    description: A booking at the hotel.
    subjects: [guest]
    fields:
      name: {category: identity, required: true}
      email: {category: contact, type: email, required: true, identifies: email}
      arrival: {category: stays, type: date, required: true}
      card_token: {category: payment_card, mask: last4}
    purposes: [stay_management, payment, support]
recipients:
  - id: police_es_it
    name: Police guest-register service
    kind: authority
    location: EU
    statutory_duty: "Spain RD 933/2021; Italy TULPS art. 109 (guest registration)"
    receives:
      - {purpose: police_registration, categories: [identity, government_id, nationality, stays]}
  - id: acquirer
    name: Card acquirer
    kind: sub_processor
    role: card payments
    location: NL
    individual_transactions: true
    receives:
      - {purpose: payment, categories: [identity, stays, payment_card]}
locations: {allowed: [NL, EU, ES, IT], default: NL}
roles:
  - id: privacy_office
    description: Tallyroom's privacy office.
    categories: [identity]
    purposes: [support]
    powers: [manage_requests, read_audit, legal_demands, manage_tenants]
  - id: police_desk
    description: Tallyroom's staff who file a hotel's register when it asks.
    categories: [identity, government_id, nationality, stays]
    masked: [government_id]
    purposes: [police_registration]
  - id: front_desk
    for: tenant_members
    description: Hotel front desk.
    categories: [identity, government_id, nationality, stays, payment_card]
    masked: [government_id, payment_card]
    purposes: [stay_management, police_registration, payment]
  - id: revenue_manager
    for: tenant_members
    description: Hotel revenue manager.
    categories: [nationality, stays]
    purposes: [stay_management]
support_access: {requires_customer_grant: true, max_days: 7}
"""

PASSPORT = "X1234567"
PASSPORT_MASKED = "•••• 4567"
CARD = "tok_4111111111111111"
CARD_MASKED = "•••• 1111"
EMAIL = "eva@example.se"  # one address at both hotels
DPO = Actor(ActorKind.staff, "dpo@tallyroom.example", role="privacy_office")
POLICE_DESK = Actor(ActorKind.staff, "pd@tallyroom.example", role="police_desk")


@dataclass
class Hotels:
    """Two hotels and what a test needs of them."""

    t: Troth
    madrid: str
    roma: str
    eva: str  # Madrid's guest: checked in (passport) and booked (card token)
    rosa: str  # Roma's guest

    def member(
        self, tenant: str, email: str, trole: str = "member", role: str | None = None
    ) -> Actor:
        """A member of ``tenant`` (``trole`` admin or member), holding member ``role``."""
        tenants = self.t.access.tenants
        code, _ = tenants.invite(tenant, email, role=trole, member_role=role)
        return actor_for(tenants.accept_invitation(code, PASSWORD))

    def key(self, tenant: str | None, *scopes: str) -> Actor:
        """An API key with ``scopes``, bound to ``tenant`` (None: the vendor's)."""
        return Actor(
            ActorKind.application, f"k-{tenant}", tenant_id=tenant, scopes=frozenset(scopes)
        )


def guest(t: Troth, tenant: str, name: str) -> str:
    """A guest of ``tenant``, checked in with a passport and booked with a card."""
    sid = t.collect(
        "checkin_registration",
        {
            "name": name,
            "document_number": PASSPORT,
            "nationality": "SE",
            "checkin_at": "2026-12-01T15:00:00+01:00",
        },
        tenant_id=tenant,
    ).subject_id
    t.collect(
        "booking",
        {"name": name, "email": EMAIL, "arrival": "2026-12-01", "card_token": CARD},
        tenant_id=tenant,
        subject_id=sid,
    )
    return sid


def hotels(home: Any, tmp_path: Path, db_url: str) -> Hotels:
    """The two hotels' home on ``db_url``."""
    policy = tmp_path / "hotels.yaml"
    policy.write_text(HOTELS)
    t: Troth = home(db=db_url if not db_url.startswith("sqlite") else None, policy=policy)
    madrid = t.access.tenants.create_tenant("Hotel Sol Madrid", "admin@sol.example")
    roma = t.access.tenants.create_tenant("Albergo Roma", "admin@roma.example")
    return Hotels(t, madrid, roma, guest(t, madrid, "Eva"), guest(t, roma, "Rosa"))
