"""A payroll-like world for the customers' breach tests (trial 16, G1 and G2): the
vendor in Toronto, two affected customers (one with German people, one with Canadian
people), one customer not affected, and the vendor's own Californian person. Imported
by the tests of tests/breaches (not a plugin: only they use it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from _http import PASSWORD
from troth.gate import Actor, ActorKind


def payroll_policy(tenant_people: str = "controller") -> Any:
    """The phone-service policy as a processor in Toronto with customers abroad, and two
    roles for the customers' members: one that reads contact details, one that does not."""

    def edit(data: dict[str, Any]) -> None:
        org = data["organisation"]
        org["jurisdictions"] = ["gdpr", "ccpa", "pipeda"]
        org["time_zone"] = "America/Toronto"
        org["time_zones"] = {"gdpr": "Europe/Berlin", "ccpa": "America/Los_Angeles"}
        data["breach_notices"] = {"tenant_people": tenant_people}
        data["roles"] += [
            {
                "id": "ops",
                "for": "tenant_members",
                "categories": ["identity", "contact"],
                "purposes": ["provide_service", "account_administration"],
            },
            {
                "id": "bookkeeper",
                "for": "tenant_members",
                "categories": ["company", "identity"],
                "purposes": ["account_administration"],
            },
        ]

    return edit


@dataclass
class World:
    t: Any
    clock: Any
    acme: str  # German people (gdpr)
    bolt: str  # Canadian person (pipeda)
    cedar: str  # no one affected
    acme_people: list[str]
    bolt_people: list[str]
    own: str  # the vendor's own person (ccpa)
    breach: str = ""


def person(t: Any, email: str, tenant: str | None, regime: str) -> str:
    return str(
        t.collect(
            "user_invitation",
            {"name": "P", "email": email},
            tenant_id=tenant,
            jurisdiction=regime,
        ).subject_id
    )


def record(t: Any, clock: Any, **kw: Any) -> Any:
    now = clock.now()
    args: dict[str, Any] = {
        "title": "Bank details exposed",
        "description": "A storage bucket was public.",
        "discovered_at": now,
        "occurred_from": now - timedelta(days=2),
        "occurred_until": now - timedelta(minutes=1),
        "categories": ["contact"],
        "high_risk": True,
    }
    return t.breaches.record_breach(**{**args, **kw})


def world(home: Any, clock: Any, db_url: str | None = None, setting: str = "controller") -> World:
    """The world, with a mixed breach recorded (the vendor's person and two customers')."""
    t = home("phone-service", db_url, edit=payroll_policy(setting))
    tenants = t.access.tenants
    acme = tenants.create_tenant("Acme GmbH", "office@acme.example")
    bolt = tenants.create_tenant("Bolt Bakery", "office@bolt.example")
    cedar = tenants.create_tenant("Cedar Clinic", "office@cedar.example")
    acme_people = [person(t, f"a{i}@acme.example", acme, "gdpr") for i in range(2)]
    bolt_people = [person(t, "b@bolt.example", bolt, "pipeda")]
    own = person(t, "own@example.com", None, "ccpa")
    clock.advance(days=1)
    w = World(t, clock, acme, bolt, cedar, acme_people, bolt_people, own)
    w.breach = record(t, clock).id
    # Cedar's person arrives after the window: not affected.
    person(t, "c@cedar.example", cedar, "pipeda")
    return w


def key(tenant: str | None, *scopes: str) -> Actor:
    return Actor(ActorKind.application, "hris", tenant_id=tenant, scopes=frozenset(scopes))


def account(t: Any, email: str, tenant: str, role: str = "admin") -> Actor:
    """A customer's account (``role``: admin or member), as its sign-in acts."""
    from troth.access import actor_for

    user = t.access.accounts.add_user(
        email, kind="tenant_member", tenant_id=tenant, tenant_role=role, password=PASSWORD
    )
    return actor_for(user)
