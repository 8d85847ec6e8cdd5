"""A correction's new values are the person's data: read through the gate like any other.

Before: ``details.changes`` (field -> the new value) came back whole to whoever may see the
request: a key bound to the customer with ``requests:admin`` alone (no ``use`` scope at
all) read an employee's corrected heart rate, a category only the vendor's own purposes
use (``vendor_only``) and no key of a customer ever reads; the privacy office's console
page showed it to a role that reads identity and contact only; a gym's key read a new
card number whole where every read of the card is masked. Now each new value is shown
only where the actor may read the value it replaces (the gate's decision for some purpose,
the value's binding, masking as the reader reads); the others are left out of
``changes`` and named in ``details.withheld`` with the reason, and the withholding is
audited (``request.read``, outcome deny, once per request read)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from _http import api_key, client_for, console_login
from pulse_samples import CARD, PulseWorld, pulse_world
from troth.audit.entries import list_entries
from troth.gate import SYSTEM, Actor, ActorKind

NEW_HEART = 187
NEW_CARD = "5555444433331111"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def world(home: Any, tmp_path: Path) -> PulseWorld:
    return pulse_world(home, tmp_path)


def _erin_fix(w: PulseWorld) -> str:
    """A correction of Erin's heart rate (Contoso's employee) and of her name."""
    r = w.t.requests.open(
        "correct",
        subject_id=w.people["emp"],
        tenant_id=w.tenants["contoso"],  # Contoso's request (its desk's)
        details={"changes": {"heart_rate": NEW_HEART, "name": "Erin Q. Employee"}},
    )
    return str(r.id)


def _gus_fix(w: PulseWorld) -> str:
    r = w.t.requests.open(
        "correct",
        subject_id=w.people["gym"],
        tenant_id=w.tenants["iron"],
        details={"changes": {"member_card": NEW_CARD}},
    )
    return str(r.id)


def _withheld_entries(w: PulseWorld) -> list[Any]:
    return [e.entry for e in list_entries(w.t.ctx, action="request.read", outcome="deny")]


def test_a_customers_desk_key_reads_no_value_its_scopes_do_not_reach(world: PulseWorld) -> None:
    w = world
    rid = _erin_fix(w)
    contoso = w.tenants["contoso"]
    with client_for(w.t.ctx) as c:
        desk = api_key(c, ["requests:admin"], tenant_id=contoso)
        r = c.get(f"/api/v1/requests/{rid}", headers=desk)
        assert r.status_code == 200, r.text
        details = r.json()["details"]
        assert details["changes"] == {}
        assert details["withheld"] == {"heart_rate": "vendor_only", "name": "scope_missing"}
        assert str(NEW_HEART) not in r.text and "Erin Q." not in r.text
        listed = c.get("/api/v1/requests", headers=desk).json()["items"]
        (mine,) = [i for i in listed if i["id"] == rid]
        assert mine["details"]["changes"] == {} and str(NEW_HEART) not in json.dumps(mine)
        # With `use`: the name, as any read of it; the heart rate stays the vendor's.
        reader = api_key(c, ["requests:admin", "use"], tenant_id=contoso)
        details = c.get(f"/api/v1/requests/{rid}", headers=reader).json()["details"]
        assert details["changes"] == {"name": "Erin Q. Employee"}
        assert details["withheld"] == {"heart_rate": "vendor_only"}
    entries = _withheld_entries(w)
    assert len(entries) == 3
    assert all(e.subject_id == w.people["emp"] and e.tenant_id == contoso for e in entries)
    assert entries[0].reason == "scope_missing"  # the most telling of the two
    assert entries[0].details["withheld"] == {"heart_rate": "vendor_only", "name": "scope_missing"}
    assert entries[0].details["request"] == rid


def test_a_gyms_key_reads_the_new_card_masked(world: PulseWorld) -> None:
    w = world
    rid = _gus_fix(w)
    with client_for(w.t.ctx) as c:
        key = api_key(c, ["requests:admin", "use"], tenant_id=w.tenants["iron"])
        r = c.get(f"/api/v1/requests/{rid}", headers=key)
    assert r.json()["details"]["changes"] == {"member_card": "•••• 1111"}
    assert NEW_CARD not in r.text and CARD not in r.text
    assert not _withheld_entries(w)


def test_the_office_reads_only_its_roles_categories(world: PulseWorld) -> None:
    """The office's power opens the request desk; what it reads of the values stays its
    role's categories (identity, contact), and of a customer's people only under the
    customer's grant (P14), on the console and from Python."""
    w = world
    rid = _erin_fix(w)
    w.t.access.accounts.add_user("po@pulse.example", role="privacy_office", password=PASSWORD)
    with client_for(w.t.ctx) as c:
        console_login(c, "po@pulse.example")
        page = c.get(f"/console/requests/{rid}")
    assert page.status_code == 200
    assert str(NEW_HEART) not in page.text and "Erin Q." not in page.text
    assert "role_not_allowed" in page.text and "no_grant" in page.text
    office = Actor(ActorKind.staff, "po", role="privacy_office")
    seen = w.t.requests.read(rid, actor=office)
    assert seen.details["changes"] == {}
    assert seen.details["withheld"] == {"heart_rate": "role_not_allowed", "name": "no_grant"}
    (listed,) = w.t.access.records.requests_for(office, w.people["emp"])
    assert listed.details["changes"] == {}
    # Troth and the person read it whole; the request as stored is unchanged (it is
    # carried out with its values).
    for whole in (SYSTEM, Actor(ActorKind.subject, w.people["emp"])):
        assert w.t.requests.read(rid, actor=whole).details["changes"] == {
            "heart_rate": NEW_HEART,
            "name": "Erin Q. Employee",
        }
    assert w.t.requests.get(rid).details["changes"]["heart_rate"] == NEW_HEART


def test_the_vendors_own_member_is_read_by_the_roles_that_read_her(world: PulseWorld) -> None:
    """Olga is Pulse's own member (no customer's): the office reads her new e-mail
    (contact), not her heart rate; the insights engine her heart rate, not her e-mail."""
    w = world
    rid = w.t.requests.open(
        "correct",
        subject_id=w.people["own"],
        details={"changes": {"heart_rate": NEW_HEART, "email": "olga@new.example"}},
    ).id
    office = Actor(ActorKind.staff, "po", role="privacy_office")
    engine = Actor(ActorKind.staff, "ie", role="insights_engine")
    assert w.t.requests.read(rid, actor=office).details["changes"] == {"email": "olga@new.example"}
    # The engine is not at the request desk; what it would read of the request, it reads.
    assert w.t.requests.shown(w.t.requests.get(rid), engine).details["changes"] == {
        "heart_rate": NEW_HEART
    }


def test_a_correction_left_to_the_customer_is_read_as_its_persons(world: PulseWorld) -> None:
    """The office names Contoso's Erin by id: the request is left to Contoso (opened for no
    one); her new name is still a customer's person's, read only under Contoso's grant."""
    w = world
    office = Actor(ActorKind.staff, "po", role="privacy_office")
    rid = w.t.requests.open(
        "correct",
        subject_id=w.people["emp"],
        details={"changes": {"name": "Erin Q. Employee"}},
        actor=office,
    ).id
    seen = w.t.requests.read(rid, actor=office)
    assert seen.subject_id is None
    assert seen.details["changes"] == {} and seen.details["withheld"] == {"name": "no_grant"}
