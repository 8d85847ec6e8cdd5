"""The dating app's policy (tests only; trial #19, Hearthly): consents whose very existence
tells special-category data (sexual orientation, a face check), staff roles that act for
different purposes (a moderation contractor, billing, marketing, a verification desk, the
privacy office), partner communities as tenants whose event hosts have a member role; and a
home holding a member who gave every consent.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _http import PASSWORD
from troth.access import actor_for
from troth.engine import Troth
from troth.gate import Actor

HEARTHLY = """\
troth: 1
id: hearthly
version: "1.0"
effective: 2025-01-01
multi_tenant: true
tenant_controller: organisation
organisation:
  name: Hearthly GmbH
  contact: {name: Hearthly privacy team, email: privacy@hearthly.example}
  jurisdictions: [gdpr, ccpa]
  default_jurisdiction: gdpr
  time_zone: Europe/Berlin
  time_zones: {ccpa: America/Los_Angeles}
subjects:
  - {id: member, description: People with a Hearthly dating profile.}
categories:
  - id: orientation
    description: Sexual orientation and whom you want to meet.
    special: true
    sensitive: true
  - id: biometric
    description: Face template computed from your verification selfie.
    special: true
    sensitive: true
  - {id: photos, description: Storage keys of your profile photos.}
  - {id: profile_text, description: Your profile bio.}
  - {id: coarse_location, description: Your city.}
  - {id: messages, description: In-app messages you sent., sensitive: true}
  - id: safety_reports
    description: Reports other members made about you, and moderation decisions.
    withheld_from_access: "Reports name the member who made them (GDPR Art. 15(4))."
  - {id: ad_identifiers, description: Advertising identifier of your device.}
  - {id: push_token, description: Push-notification token of your device.}
purposes:
  - id: matchmaking
    description: Show your profile to other members and suggest matches.
    legal_basis: contract
    categories: [identity, contact, photos, profile_text, coarse_location]
  - id: orientation_matching
    description: Use your sexual orientation to suggest matches.
    legal_basis: consent
    vendor_only: true
    categories: [orientation]
    notice: I explicitly agree that Hearthly uses my sexual orientation to suggest matches.
    withdraw: Untick it in Settings > Privacy.
  - id: identity_verification
    description: Check that your selfie matches your photos.
    legal_basis: consent
    vendor_only: true
    categories: [biometric]
    notice: I explicitly agree that Hearthly computes a face template from my selfie.
    withdraw: Untick it in Settings > Privacy.
  - id: messaging
    description: Deliver your messages to your matches.
    legal_basis: contract
    vendor_only: true
    categories: [messages]
  - id: safety
    description: Review reports about members, moderate and ban abusers.
    legal_basis: legitimate_interest
    vendor_only: true
    categories: [identity, safety_reports, messages, photos, profile_text]
    retention:
      keep_for: 2y
      legal_minimum:
        keep_for: 2y
        law: Digital Services Act Art. 16-20
        categories: [identity, safety_reports]
  - id: billing
    description: Charge your subscription and keep invoices.
    legal_basis: contract
    vendor_only: true
    categories: [identity, contact, billing]
  - id: email_news
    description: Tips, events and offers by e-mail.
    legal_basis: consent
    marketing: true
    categories: [identity, contact]
    notice: Send me Hearthly tips, events and offers by e-mail.
    withdraw: Untick it in Settings > Privacy.
  - id: push_news
    description: Offers by push notification.
    legal_basis: consent
    marketing: true
    categories: [push_token]
    notice: Send me offers as push notifications.
    withdraw: Untick it in Settings > Privacy.
  - id: ad_sharing
    description: Share your advertising id and city with advertising partners.
    legal_basis: consent
    sale_or_sharing: true
    vendor_only: true
    categories: [ad_identifiers, coarse_location]
    notice: Share my advertising id and city with Hearthly's advertising partners.
    withdraw: Untick it in Settings > Privacy.
  - id: community_events
    description: Invite you to your community's events.
    legal_basis: consent
    categories: [identity, contact]
    notice: Invite me to my community's events.
    withdraw: Untick it in Settings > Privacy.
  - id: legal_requests
    description: Answer law-enforcement and court orders.
    legal_basis: legal_obligation
    vendor_only: true
    categories: [identity, contact, messages, safety_reports, photos, coarse_location]
collection_points:
  - id: signup
    description: Create a dating profile.
    subjects: [member]
    fields:
      name: {category: identity, required: true}
      email: {category: contact, type: email, required: true, identifies: email}
      orientation: {category: orientation}
      bio: {category: profile_text}
      photo_keys: {category: photos}
      city: {category: coarse_location}
    purposes: [matchmaking, orientation_matching, safety, email_news, community_events]
  - id: message
    description: A member sends an in-app message.
    subjects: [member]
    fields:
      text: {category: messages, type: text}
    purposes: [messaging, safety]
  - id: id_verification
    description: Verification selfie.
    subjects: [member]
    fields:
      face_template: {category: biometric}
    purposes: [identity_verification]
  - id: device
    description: The app registers a device.
    subjects: [member]
    source: observed
    fields:
      ad_id: {category: ad_identifiers}
      push: {category: push_token}
    purposes: [ad_sharing, push_news]
recipients:
  - id: police_de
    name: German police and public prosecutors
    kind: authority
    location: DE
    receives:
      - purpose: legal_requests
        categories: [identity, contact, messages, safety_reports, photos, coarse_location]
locations: {allowed: [EU, DE], default: DE}
roles:
  - id: privacy_office
    description: Privacy team and DPO.
    categories: [identity, contact, safety_reports, messages, photos, coarse_location]
    purposes: [legal_requests, matchmaking]
    powers: [manage_requests, read_audit, legal_demands, manage_holds, manage_tenants]
  - id: member_support
    description: Member support (in-house).
    categories: [identity, contact, photos, profile_text, coarse_location]
    purposes: [matchmaking]
  - id: billing_team
    description: Subscriptions and invoices.
    categories: [identity, contact, billing]
    purposes: [billing]
  - id: moderator
    description: Moderation contractor staff (SafeMod, processor).
    categories: [identity, safety_reports, messages, photos, profile_text]
    purposes: [safety]
  - id: marketing
    description: E-mail and push campaigns.
    categories: [identity, contact, push_token]
    purposes: [email_news, push_news]
  - id: verification_desk
    description: Checks disputed blue ticks.
    categories: [identity, biometric, photos]
    purposes: [identity_verification]
  - id: community_host
    for: tenant_members
    description: A partner community's event host.
    categories: [identity, contact, photos, profile_text, coarse_location]
    purposes: [matchmaking, community_events]
support_access: {requires_customer_grant: false, max_days: 7, emergency_access: false}
cookies:
  - {category: strictly_necessary, description: Login session., purpose: matchmaking}
  - {category: marketing, description: Advertising partners' cookies., purpose: ad_sharing}
  - {category: analytics, description: Usage statistics.}
"""

# The consents a member of the app gives, and the staff roles of the vendor.
CONSENTS = (
    "orientation_matching",
    "identity_verification",
    "email_news",
    "push_news",
    "ad_sharing",
    "community_events",
)
COOKIES = ("cookie:marketing", "cookie:analytics")
STAFF_ROLES = (
    "privacy_office",
    "member_support",
    "billing_team",
    "moderator",
    "marketing",
    "verification_desk",
)


@dataclass
class Dating:
    """The home: troth, the partner community (a tenant) and another one, staff by role,
    the community's event host and admin, Anna (the vendor's own member), Max (a member of
    the community) and Olly (a member of the other community), each with every consent."""

    t: Troth
    pride: str
    other: str
    staff: dict[str, Actor]
    host: Actor
    admin: Actor
    other_host: Actor
    anna: str
    max: str
    olly: str


def member(t: Troth, email: str, name: str, tenant: str | None = None) -> str:
    """A member who signed up, then gave every consent and made every cookie choice."""
    sid = t.collect(
        "signup",
        {"name": name, "email": email, "orientation": "bisexual", "city": "Berlin"},
        tenant_id=tenant,
        consents=["orientation_matching", "email_news", "community_events"],
    ).subject_id
    for point, values, given in (
        ("id_verification", {"face_template": "FT:00aa"}, ["identity_verification"]),
        ("device", {"ad_id": "AAID-1", "push": "fcm:1"}, ["ad_sharing", "push_news"]),
    ):
        t.collect(point, values, subject_id=sid, tenant_id=tenant, consents=given)
    t.consent.record_cookie_choices(sid, {"marketing": True, "analytics": True})
    return sid


def dating_home(home: Any, tmp_path: Path) -> Dating:
    policy = tmp_path / "hearthly.yaml"
    policy.write_text(HEARTHLY)
    t: Troth = home(policy=policy)
    acc = t.access
    staff = {
        role: actor_for(
            acc.accounts.add_user(
                f"{role}@hearthly.example", kind="staff", role=role, password=PASSWORD
            )
        )
        for role in STAFF_ROLES
    }
    pride = acc.tenants.create_tenant("Pride Circle Berlin", "office@pride.example")
    other = acc.tenants.create_tenant("Outdoor Singles", "office@outdoor.example")

    def joined(tid: str, email: str, trole: str = "member", role: str | None = None) -> Actor:
        tok, _ = acc.tenants.invite(tid, email, role=trole, member_role=role)
        return actor_for(acc.tenants.accept_invitation(tok, PASSWORD))

    return Dating(
        t=t,
        pride=pride,
        other=other,
        staff=staff,
        host=joined(pride, "host@pride.example", role="community_host"),
        admin=joined(pride, "admin@pride.example", "admin"),
        other_host=joined(other, "host@outdoor.example", role="community_host"),
        anna=member(t, "anna@example.de", "Anna Becker"),
        max=member(t, "max@example.de", "Max Brandt", pride),
        olly=member(t, "olly@example.de", "Olly Green", other),
    )
