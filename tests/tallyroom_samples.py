"""A hotel property-management vendor whose customers (hotels) are tenants (trial #20):
the policy (``TALLYROOM``: the hotels decide about their guests, ``tenant_controller:
customer``; the vendor keeps the hotels' billing contacts and checks payments for fraud
for its own purposes, ``vendor_only``) and a world built on it (``tallyroom_world``): two
hotels (Madrid under the GDPR, Quebec under PIPEDA in America/Toronto), a guest at each
(Eva at both, with one address), each hotel's billing contact (filed under the hotel,
collected only for the vendor's billing) and the vendor's own customer. Shared by the
tests of the requests, the consent ledger and the policy."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from troth.engine import Troth

TALLYROOM = """\
troth: 1
id: tallyroom
multi_tenant: true
tenant_controller: customer
version: "1.0"
effective: 2025-01-01
organisation:
  name: Tallyroom B.V.
  contact: {name: Tallyroom privacy desk, email: privacy@tallyroom.example}
  dpo: {name: Tallyroom DPO, email: dpo@tallyroom.example, address: "Herengracht 1, Amsterdam"}
  jurisdictions: [gdpr, pipeda]
  default_jurisdiction: gdpr
  time_zone: Europe/Amsterdam
  time_zones: {gdpr: Europe/Madrid, pipeda: America/Toronto}
subjects:
  - {id: guest, description: Hotel guests.}
  - {id: hotel_contact, description: The hotel's billing contact.}
categories:
  - {id: identity, description: Your name.}
  - {id: contact, description: Your e-mail address and phone number.}
  - {id: government_id, description: Your passport or ID card number., sensitive: true}
  - {id: stays, description: Your stay dates and room., transactions: true}
  - {id: payment_card, description: Your payment card (a token)., sensitive: true}
  - {id: special_requests, description: Your special requests., sensitive: true, special: true}
  - {id: hotel_account, description: "The hotel's company name, VAT number and billing address.",
     business_contact: true}
purposes:
  - id: stay_management
    description: Manage your booking and stay at the hotel.
    legal_basis: contract
    categories: [identity, contact, stays]
    retention: {keep_for: 2y, after: collection}
  - id: special_requests_service
    description: Meet your special requests.
    legal_basis: consent
    notice: May the hotel keep your special requests to meet them?
    withdraw: Ask the front desk.
    categories: [special_requests]
    retention: {keep_for: 30d, after: collection}
  - id: police_registration
    description: Register guests' identity documents with the police, as the law requires.
    legal_basis: legal_obligation
    categories: [identity, government_id, stays]
    retention:
      keep_for: 3y
      after: collection
      legal_minimum:
        keep_for: 3y
        law: Spain RD 933/2021 art. 5
        categories: [identity, government_id, stays]
        only_with: [government_id]
  - id: tallyroom_billing
    description: Tallyroom bills hotels for its service.
    legal_basis: contract
    vendor_only: true
    categories: [hotel_account]
    retention:
      keep_for: 7y
      after: relationship_end
      legal_minimum:
        keep_for: 7y
        law: Dutch tax law (AWR art. 52), 7 years
        categories: [hotel_account]
  - id: fraud_prevention
    description: Tallyroom checks payments for fraud across hotels.
    legal_basis: legitimate_interest
    vendor_only: true
    categories: [contact, payment_card]
    retention: {keep_for: 1y, after: collection}
collection_points:
  - id: booking
    description: A booking made at the hotel.
    subjects: [guest]
    fields:
      name: {category: identity, required: true}
      email: {category: contact, type: email, required: true, identifies: email}
      arrival: {category: stays, type: date, required: true}
      card_token: {category: payment_card, mask: last4}
      special_request: {category: special_requests, type: text}
    purposes: [stay_management, special_requests_service, fraud_prevention]
  - id: checkin_registration
    description: The guest register at check-in.
    subjects: [guest]
    fields:
      name: {category: identity, required: true}
      document_number: {category: government_id, required: true, mask: last4}
      checkin_at: {category: stays, type: datetime, required: true}
    purposes: [police_registration]
  - id: hotel_contract
    description: The hotel signs up with Tallyroom.
    subjects: [hotel_contact]
    fields:
      company: {category: hotel_account, required: true}
      vat_number: {category: hotel_account}
      billing_email: {category: hotel_account, type: email, identifies: email}
    purposes: [tallyroom_billing]
locations: {allowed: [NL, EU], default: NL}
roles:
  - id: privacy_office
    description: Tallyroom's privacy office.
    categories: [identity, contact, hotel_account]
    purposes: [tallyroom_billing]
    powers: [manage_requests, read_audit, manage_tenants, manage_holds]
  - id: billing_clerk
    description: Tallyroom billing.
    categories: [hotel_account]
    purposes: [tallyroom_billing]
  - id: fraud_analyst
    description: Tallyroom fraud team.
    categories: [contact, payment_card]
    purposes: [fraud_prevention]
  - id: front_desk
    for: tenant_members
    description: Hotel front desk.
    categories: [identity, contact, stays, special_requests, government_id]
    masked: [government_id]
    purposes: [stay_management, special_requests_service, police_registration]
support_access: {requires_customer_grant: true, max_days: 7}
"""

EVA = "eva@example.se"
CLAIRE = "claire@example.ca"
BILLING = {"madrid": "billing@sol.example", "quebec": "billing@auberge.example"}


def without_vendor_purposes(text: str = TALLYROOM) -> str:
    """``TALLYROOM`` with no purpose of the vendor's own: billing and fraud checks are
    the hotels' (as before ``vendor_only`` existed)."""
    return text.replace("    vendor_only: true\n", "")


@dataclass
class TallyroomWorld:
    """What ``tallyroom_world`` built: tenant ids and subject ids by name."""

    t: Troth
    tenants: dict[str, str]
    people: dict[str, str]


def tallyroom_world(home: Any, tmp_path: Path, text: str = TALLYROOM) -> TallyroomWorld:
    """Hotel Sol Madrid (GDPR) and Auberge Quebec (PIPEDA): Eva at Madrid (a booking with
    a card, a consented special request, the police register) and at Quebec (a booking);
    Claire at Quebec (a consented special request); each hotel's billing contact (filed
    under the hotel, collected only for ``tallyroom_billing``)."""
    path = tmp_path / "tallyroom.yaml"
    path.write_text(text)
    t: Troth = home(policy=path)
    madrid = t.access.tenants.create_tenant("Hotel Sol Madrid", "office@sol.example")
    quebec = t.access.tenants.create_tenant("Auberge Quebec", "office@auberge.example")
    eva = t.collect(
        "booking",
        {"name": "Eva Lind", "email": EVA, "arrival": "2026-10-01", "card_token": "tok_4242",
         "special_request": "wheelchair accessible room"},
        tenant_id=madrid, jurisdiction="gdpr", consents=["special_requests_service"],
    ).subject_id  # fmt: skip
    t.collect(
        "checkin_registration",
        {"name": "Eva Lind", "document_number": "SE1234567",
         "checkin_at": "2026-10-01T23:30:00+02:00"},
        tenant_id=madrid, subject_id=eva,
    )  # fmt: skip
    eva_qc = t.collect(
        "booking", {"name": "Eva Lind", "email": EVA, "arrival": "2026-11-10"},
        tenant_id=quebec, jurisdiction="pipeda",
    ).subject_id  # fmt: skip
    claire = t.collect(
        "booking",
        {"name": "Claire Roy", "email": CLAIRE, "arrival": "2026-12-05",
         "special_request": "halal meals"},
        tenant_id=quebec, jurisdiction="pipeda", consents=["special_requests_service"],
    ).subject_id  # fmt: skip
    people = {"eva": eva, "eva_qc": eva_qc, "claire": claire}
    for name, tid in (("madrid", madrid), ("quebec", quebec)):
        people[f"billing_{name}"] = t.collect(
            "hotel_contract",
            {"company": f"{name.title()} SL", "vat_number": f"VAT-{name}",
             "billing_email": BILLING[name]},
            tenant_id=tid,
        ).subject_id  # fmt: skip
    return TallyroomWorld(t, {"madrid": madrid, "quebec": quebec}, people)
