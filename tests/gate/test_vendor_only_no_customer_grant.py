"""The vendor's own purposes (``vendor_only``) and the customer's support grant (trial #17
F4, G4; trial #18 F5): the vendor's lab could not genotype a kit a clinic bought, nor its
safety team see a driver's check, without the customer's grant, and every such look (or
refused try) was listed in the customer's "What the vendor looked at". Now the vendor's
staff act for a ``vendor_only`` purpose by their role alone (the grant is the customer's
say over its data, never over the vendor's own processing), and those uses are left out
of the customer's vendor-access log (service, CLI's source, API). Staff still need a role
that lists the purpose; vendor admins still need a grant; a customer's own purposes still
need one. pulse on SQLite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from _http import client_for
from pulse_samples import pulse_world
from troth.errors import Refused
from troth.gate import Actor, ActorKind

OWN = {"activity_tracking", "health_insights", "club_statistics", "fraud_detection"}


def test_staff_act_for_the_vendors_own_purposes_without_a_grant(home: Any, tmp_path: Path) -> None:
    w = pulse_world(home, tmp_path)
    t = w.t
    for person in ("emp", "gym"):  # two customers' people
        view = t.use(w.people[person], purpose="activity_tracking", actor=w.actors["insights"])
        assert view.get("heart_rate") is not None
    view = t.use(w.people["emp"], purpose="fraud_detection", actor=w.actors["fraud"])
    assert view.get("device_id") == "dev-77"


@pytest.mark.parametrize(
    ("actor", "reason"),
    [
        (Actor(ActorKind.staff, "norole"), "role_not_allowed"),
        (Actor(ActorKind.staff, "an", role="analyst"), "role_not_allowed"),
        (Actor(ActorKind.vendor_admin, "ops"), "no_grant"),
    ],
)
def test_a_role_is_still_needed_and_vendor_admins_still_need_a_grant(
    home: Any, tmp_path: Path, actor: Actor, reason: str
) -> None:
    w = pulse_world(home, tmp_path)
    with pytest.raises(Refused) as exc:
        w.t.use(w.people["emp"], purpose="activity_tracking", actor=actor)
    assert exc.value.reason == reason


def test_a_customers_own_purpose_still_needs_its_grant(home: Any, tmp_path: Path) -> None:
    w = pulse_world(home, tmp_path)
    office = Actor(ActorKind.staff, "po", role="privacy_office")
    with pytest.raises(Refused) as exc:
        w.t.use(w.people["emp"], purpose="account", actor=office)
    assert exc.value.reason == "no_grant"


@pytest.mark.parametrize("who", ["boss", "coord", "helpdesk", "key_all", "key_admin"])
def test_the_customers_side_is_still_refused_the_vendors_purposes(
    home: Any, tmp_path: Path, who: str
) -> None:
    w = pulse_world(home, tmp_path)
    with pytest.raises(Refused) as exc:
        w.t.use(w.people["emp"], purpose="activity_tracking", actor=w.actors[who])
    assert exc.value.reason == "vendor_only"


def test_the_vendors_own_uses_are_not_in_the_customers_log(home: Any, tmp_path: Path) -> None:
    w = pulse_world(home, tmp_path)
    t, contoso = w.t, w.tenants["contoso"]
    t.use(w.people["emp"], purpose="activity_tracking", actor=w.actors["insights"])
    t.use(w.people["emp"], purpose="fraud_detection", actor=w.actors["fraud"])
    with pytest.raises(Refused):  # a refused try of a vendor_only purpose: not listed either
        t.use(w.people["emp"], purpose="health_insights", actor=Actor(ActorKind.staff, "x"))
    office = Actor(ActorKind.staff, "po", role="privacy_office")
    with pytest.raises(Refused):  # a customer's purpose without its grant: listed
        t.use(w.people["emp"], purpose="account", actor=office)
    seen = t.access.grants.vendor_accesses(contoso)
    assert {a.purpose for a in seen} & OWN == set()
    assert any(a.purpose == "account" and a.actor == office.label for a in seen)
    # Nor in the other customer's log.
    t.use(w.people["gym"], purpose="activity_tracking", actor=w.actors["insights"])
    assert {a.purpose for a in t.access.grants.vendor_accesses(w.tenants["iron"])} & OWN == set()
    # Over HTTP, to the customer's own key.
    key, _ = t.access.keys.create_api_key("ops", ["admin"], tenant_id=contoso)
    with client_for(t.ctx) as c:
        r = c.get(
            f"/api/v1/tenants/{contoso}/vendor-accesses",
            headers={"Authorization": f"Bearer {key}"},
        )
    assert r.status_code == 200, r.text
    listed = {x.get("purpose") for x in r.json()["items"]}
    assert "account" in listed and not listed & OWN
