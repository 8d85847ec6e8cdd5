"""A fitness-wearables vendor whose customers (gyms, employers) are tenants (trial #15):
the policy (``PULSE``, its health and fraud purposes ``vendor_only``) and a world built on
it (``pulse_world``): two customers, each kind of customer-side actor, the vendor's staff
and keys, and people holding health data. Shared by the tests of the gate, the requests,
the access service, the policy and the scenarios."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from troth.access import actor_for
from troth.engine import Troth
from troth.gate import Actor, ActorKind

PASSWORD = "correct horse battery staple"

PULSE = """\
troth: 1
id: pulse
multi_tenant: true
version: "1.0"
effective: 2026-01-01
organisation:
  name: Pulse Wearables Inc.
  contact: {name: Pulse Privacy Team, email: privacy@pulse.example}
  jurisdictions: [gdpr]
subjects:
  - {id: member, description: People who wear a Pulse band.}
categories:
  - {id: biometrics, description: Heart rate., sensitive: true, special: true}
  - {id: reproductive_health, description: Cycle logs., sensitive: true, special: true}
  - {id: attendance, description: Gym check-ins.}
  - {id: membership_card, description: A gym's membership card number.}
  - {id: participation, description: Wellness programme participation.}
  - {id: device, description: The band's device fingerprint.}
purposes:
  - id: account
    description: Run the Pulse account.
    legal_basis: contract
    categories: [identity, contact]
    retention: {keep_for: 90d, after: relationship_end}
  - id: activity_tracking
    description: Record heart rate and cycle logs and show them to the person.
    legal_basis: consent
    withdraw: Turn off health tracking in the app.
    categories: [biometrics, reproductive_health]
    vendor_only: true
    retention: {keep_for: 30d, after: relationship_end}
  - id: health_insights
    description: Personalised insights from heart rate.
    legal_basis: consent
    withdraw: Turn off insights in the app.
    categories: [biometrics]
    vendor_only: true
    retention: {keep_for: 30d, after: relationship_end}
  - id: club_statistics
    description: The vendor's own statistics of check-ins at every gym.
    legal_basis: legitimate_interest
    categories: [attendance]
    aggregate_only: true
    dimensions: [club]
    vendor_only: true
    retention: {keep_for: 1y, then: anonymise}
  - id: fraud_detection
    description: Detect account fraud.
    legal_basis: legitimate_interest
    categories: [identity, contact, device]
    vendor_only: true
    retention: {keep_for: 1y}
  - id: gym_attendance
    description: Let the gym see its members' check-ins.
    legal_basis: contract
    categories: [identity, attendance, membership_card]
    retention: {keep_for: 2y}
  - id: wellness_participation
    description: Aggregate participation for an employer.
    legal_basis: legitimate_interest
    categories: [participation]
    aggregate_only: true
    dimensions: [challenge]
    retention: {keep_for: 1y, then: anonymise}
collection_points:
  - id: member_signup
    description: Sign-up in the app.
    subjects: [member]
    fields:
      name: {category: identity, required: true}
      email: {category: contact, type: email, required: true, identifies: email}
    purposes: [account, fraud_detection]
  - id: band_sync
    description: The band uploads heart rate.
    subjects: [member]
    source: observed
    fields:
      email: {category: contact, type: email, required: true, identifies: email}
      heart_rate: {category: biometrics, type: integer}
    purposes: [account, activity_tracking, health_insights]
  - id: cycle_log
    description: A member logs their cycle.
    subjects: [member]
    fields:
      email: {category: contact, type: email, required: true, identifies: email}
      cycle_day: {category: reproductive_health, type: integer, required: true}
    purposes: [account, activity_tracking]
  - id: fraud_review
    description: The vendor's fraud checks.
    subjects: [member]
    source: observed
    fields:
      email: {category: contact, type: email, required: true, identifies: email}
      device_id: {category: device}
    purposes: [fraud_detection]
  - id: gym_checkin
    description: A check-in at a gym club.
    subjects: [member]
    source: observed
    fields:
      email: {category: contact, type: email, required: true, identifies: email}
      name: {category: identity}
      club: {category: attendance, required: true}
      member_card: {category: membership_card, mask: last4}
    purposes: [account, gym_attendance, club_statistics]
  - id: wellness_enrolment
    description: An employee joins the wellness programme.
    subjects: [member]
    fields:
      email: {category: contact, type: email, required: true, identifies: email}
      challenge: {category: participation, required: true}
    purposes: [account, wellness_participation]
recipients:
  - id: lab
    name: Cardio Lab GmbH (insights processor)
    kind: sub_processor
    location: EU
    receives:
      - {purpose: health_insights, categories: [biometrics]}
      - {purpose: account, categories: [identity, contact]}
locations: {allowed: [EU], default: EU}
roles:
  - id: privacy_office
    description: The vendor's office.
    categories: [identity, contact]
    purposes: [account]
    powers: [manage_requests, manage_tenants, read_audit, publish_policy]
  - id: insights_engine
    description: The vendor's health insights service.
    categories: [biometrics, reproductive_health]
    purposes: [activity_tracking, health_insights]
  - id: analyst
    description: The vendor's analysts.
    categories: [attendance]
    purposes: [club_statistics]
  - id: fraud_team
    description: The vendor's fraud team.
    categories: [identity, contact, device]
    purposes: [fraud_detection]
  - id: gym_front_desk
    for: tenant_members
    description: A gym's desk -- check-ins, the card only masked.
    categories: [identity, attendance, membership_card]
    masked: [membership_card]
    purposes: [gym_attendance]
  - id: wellness_coordinator
    for: tenant_members
    description: An employer's coordinator -- aggregate participation only.
    categories: [participation]
    purposes: [wellness_participation]
  - id: member_support
    for: tenant_members
    description: A customer's help desk -- the account only.
    categories: [identity, contact]
    purposes: [account]
support_access: {requires_customer_grant: true, max_days: 3}
aggregates: {min_group_size: 2}
"""

CARD = "6011 0009 9013 9424"
HEALTH = ("biometrics", "reproductive_health")


def without_vendor_only(text: str = PULSE) -> str:
    """``PULSE`` as it would read before ``vendor_only`` existed: the same policy, no flag."""
    return text.replace("    vendor_only: true\n", "")


@dataclass
class PulseWorld:
    """What ``pulse_world`` built. ``actors``: every customer-side actor and the vendor's,
    by name; ``people``: subject ids by name; ``tenants``: tenant ids by name."""

    t: Troth
    tenants: dict[str, str]
    actors: dict[str, Actor]
    people: dict[str, str]
    emails: dict[str, str] = field(default_factory=dict)


def write_policy(tmp_path: Path, text: str = PULSE, name: str = "pulse.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _key(t: Troth, scopes: list[str], tenant_id: str | None) -> Actor:
    """The actor an API key with ``scopes`` (bound to ``tenant_id``) acts as."""
    _, record = t.access.keys.create_api_key("k", scopes, tenant_id=tenant_id)
    return Actor(ActorKind.application, record.id, tenant_id=tenant_id, scopes=frozenset(scopes))


def pulse_world(home: Any, tmp_path: Path, text: str = PULSE) -> PulseWorld:
    """Two customers: Contoso (an employer: an admin without a role, an admin and a member
    coordinating wellness, a member without a role, a help-desk member) and IronWorks (a
    gym: an admin and a member at the front desk); keys bound to Contoso (use, collect,
    admin) and the vendor's own; the vendor's staff. People: ``emp`` at Contoso (heart
    rate, a cycle log, wellness, a fraud check) and ``gym`` at IronWorks (a check-in with
    a card, heart rate) and ``own``, Pulse's own member (no customer's)."""
    t: Troth = home(policy=write_policy(tmp_path, text))
    acc = t.access
    contoso = acc.tenants.create_tenant("Contoso Wellness", "office@contoso.example")
    iron = acc.tenants.create_tenant("IronWorks Gym", "office@ironworks.example")

    def member(tid: str, email: str, trole: str = "member", role: str | None = None) -> Actor:
        tok, _ = acc.tenants.invite(tid, email, role=trole, member_role=role)
        return actor_for(acc.tenants.accept_invitation(tok, PASSWORD))

    actors = {
        "boss": member(contoso, "boss@contoso.example", "admin"),
        "coord": member(contoso, "coord@contoso.example", "admin", "wellness_coordinator"),
        "helpdesk_admin": member(contoso, "help@contoso.example", "admin", "member_support"),
        "hr": member(contoso, "hr@contoso.example", role="wellness_coordinator"),
        "helpdesk": member(contoso, "desk@contoso.example", role="member_support"),
        "newbie": member(contoso, "new@contoso.example"),
        "desk": member(iron, "desk@ironworks.example", "admin", "gym_front_desk"),
        "clerk": member(iron, "clerk@ironworks.example", role="gym_front_desk"),
        "key_use": _key(t, ["use"], contoso),
        "key_collect": _key(t, ["collect"], contoso),
        "key_admin": _key(t, ["admin"], contoso),
        "key_all": _key(t, ["use", "collect", "disclose", "aggregate"], contoso),
        "vendor_key": _key(t, ["use", "collect", "aggregate"], None),
        "vendor_admin_key": _key(t, ["admin"], None),
        "insights": Actor(ActorKind.staff, "ie", role="insights_engine"),
        "fraud": Actor(ActorKind.staff, "ft", role="fraud_team"),
    }
    health = ["activity_tracking", "health_insights"]
    emp = t.collect(
        "member_signup", {"name": "Erin Employee", "email": "erin@contoso.example"},
        tenant_id=contoso,
    ).subject_id  # fmt: skip
    more = [
        ("band_sync", {"email": "erin@contoso.example", "heart_rate": 99}, health),
        ("cycle_log", {"email": "erin@contoso.example", "cycle_day": 3}, health),
        ("wellness_enrolment", {"email": "erin@contoso.example", "challenge": "steps"}, []),
        ("fraud_review", {"email": "erin@contoso.example", "device_id": "dev-77"}, []),
    ]
    for point, data, consents in more:
        t.collect(point, data, subject_id=emp, tenant_id=contoso, consents=consents)
    gym = t.collect(
        "gym_checkin",
        {"email": "gus@gymmail.example", "name": "Gus Gym", "club": "Soho", "member_card": CARD},
        tenant_id=iron,
    ).subject_id
    t.collect(
        "band_sync", {"email": "gus@gymmail.example", "heart_rate": 150},
        subject_id=gym, tenant_id=iron, consents=health,
    )  # fmt: skip
    # Pulse's own member (no customer's): the vendor's staff need no grant for her.
    own = t.collect(
        "band_sync", {"email": "olga@pulse-members.example", "heart_rate": 58}, consents=health
    ).subject_id
    t.collect("cycle_log", {"email": "olga@pulse-members.example", "cycle_day": 9}, subject_id=own)
    return PulseWorld(
        t,
        {"contoso": contoso, "iron": iron},
        actors,
        {"emp": emp, "gym": gym, "own": own},
        {"emp": "erin@contoso.example", "gym": "gus@gymmail.example"},
    )
