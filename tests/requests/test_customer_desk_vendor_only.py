"""A customer's side at the request desk (trial #17 F2): a fleet operator's key with
``admin`` opened a deletion request for its driver, verified it itself "as staff" (audited
``staff:application:<key>``) and executed it, erasing the vendor's own (``vendor_only``)
legally required check, under ``tenant_controller: organisation``. Now:

- under ``tenant_controller: organisation`` a customer's side may open (relay) a request,
  never verify it itself, extend, refuse or execute it (``tenant_bound``, audited);
- wherever the policy has ``vendor_only`` purposes, no customer executes an erasure
  (``vendor_only``, audited): the vendor's desk does;
- a customer key's attestation (where the customer is controller) is recorded as the
  key's (``application:<id>``, method ``customer``), never as staff;
- a customer's side may not end the relationship that runs the vendor's own purposes'
  retention clocks where the organisation is controller (``vendor_only``).
pulse (trial #15's wearables vendor) on SQLite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from _http import client_for, is_problem
from pulse_samples import PULSE, PulseWorld, pulse_world
from troth.audit.entries import list_entries
from troth.errors import NotFound, Refused
from troth.gate import SYSTEM, Actor, ActorKind
from troth.store.tables import records

ORG = PULSE.replace("multi_tenant: true\n", "multi_tenant: true\ntenant_controller: organisation\n")
OFFICE = Actor(ActorKind.staff, "po", role="privacy_office")
CUSTOMER_SIDE = ["boss", "coord", "hr", "newbie", "key_admin", "key_all", "desk_key"]


def _world(home: Any, tmp_path: Path, text: str = PULSE) -> PulseWorld:
    w = pulse_world(home, tmp_path, text)
    _, rec = w.t.access.keys.create_api_key(
        "desk", ["requests:admin"], tenant_id=w.tenants["contoso"]
    )
    w.actors["desk_key"] = Actor(
        ActorKind.application, rec.id, tenant_id=w.tenants["contoso"],
        scopes=frozenset({"requests:admin"}),
    )  # fmt: skip
    return w


def _held(w: PulseWorld, person: str = "emp") -> int:
    with w.t.ctx.engine.connect() as conn:
        q = (
            select(func.count())
            .select_from(records)
            .where(records.c.subject_id == w.people[person])
        )
        return int(conn.execute(q).scalar_one())


def _denied(w: PulseWorld, action: str) -> list[Any]:
    entries = list_entries(w.t.ctx, action=action, outcome="deny", limit=100)
    return [e.entry for e in entries]


def _open_delete(w: PulseWorld) -> str:
    rec = w.t.requests.open(
        "delete",
        subject_id=w.people["emp"],
        tenant_id=w.tenants["contoso"],
        actor=w.actors["desk_key"],
    )
    return rec.id


@pytest.mark.parametrize("who", CUSTOMER_SIDE)
def test_under_organisation_control_no_customer_verifies_or_executes(
    home: Any, tmp_path: Path, who: str
) -> None:
    w = _world(home, tmp_path, ORG)
    before = _held(w)
    rid = _open_delete(w)  # relayed by the customer's desk key: allowed
    actor = w.actors[who]
    for step in (
        lambda: w.t.requests.verify_by_staff(rid, staff="x", reason="ID seen", actor=actor),
        lambda: w.t.requests.extend(rid, "busy", actor=actor),
        lambda: w.t.requests.refuse(rid, reason="no", actor=actor),
    ):
        with pytest.raises(Refused) as exc:
            step()
        assert exc.value.reason in ("tenant_bound", "scope_missing")
    # Verified by the vendor's desk, a customer still may not execute it.
    w.t.requests.verify_by_staff(rid, staff="po", reason="ID seen", actor=OFFICE)
    with pytest.raises(Refused) as exc:
        w.t.requests.execute(rid, actor=actor)
    assert exc.value.reason in ("tenant_bound", "scope_missing")
    assert _held(w) == before
    assert _denied(w, "request.execute") or _denied(w, "office.manage_requests")
    # The vendor's desk carries it out.
    w.t.requests.execute(rid, actor=OFFICE)
    assert _held(w) < before


def test_the_desk_key_is_told_why_and_it_is_audited(home: Any, tmp_path: Path) -> None:
    w = _world(home, tmp_path, ORG)
    rid = _open_delete(w)
    key = w.actors["desk_key"]
    with pytest.raises(Refused) as exc:
        w.t.requests.verify_by_staff(rid, staff="application:x", reason="left", actor=key)
    assert exc.value.reason == "tenant_bound"
    assert "request desk" in exc.value.message and "privacy@pulse.example" in exc.value.message
    (entry,) = _denied(w, "request.verify_by_staff")
    assert entry.reason == "tenant_bound" and entry.actor == key.label
    assert entry.tenant_id == w.tenants["contoso"]
    assert w.t.requests.get(rid).verified_at is None


def test_over_http_the_fleet_operators_key_cannot_verify_or_execute(
    home: Any, tmp_path: Path
) -> None:
    w = _world(home, tmp_path, ORG)
    before = _held(w)
    key, _ = w.t.access.keys.create_api_key("fleet", ["admin"], tenant_id=w.tenants["contoso"])
    h = {"Authorization": f"Bearer {key}"}
    with client_for(w.t.ctx) as c:
        r = c.post(
            "/api/v1/requests", json={"kind": "delete", "subject_id": w.people["emp"]}, headers=h
        )
        assert r.status_code == 201
        rid = r.json()["id"]
        r = c.post(f"/api/v1/requests/{rid}/verify-by-staff", json={"reason": "left"}, headers=h)
        assert is_problem(r, 403)["reason"] == "tenant_bound"
        w.t.requests.verify_by_staff(rid, staff="po", reason="ID seen")
        r = c.post(f"/api/v1/requests/{rid}/execute", headers=h)
        assert is_problem(r, 403)["reason"] == "tenant_bound"
        # Reading it back is still allowed (the customer relays, then follows).
        assert c.get(f"/api/v1/requests/{rid}", headers=h).status_code == 200
    assert _held(w) == before


@pytest.mark.parametrize("kind", ["delete", "close_account"])
def test_where_the_customer_controls_it_still_never_erases_vendor_only_data(
    home: Any, tmp_path: Path, kind: str
) -> None:
    w = _world(home, tmp_path)
    before = _held(w)
    key = w.actors["desk_key"]
    rid = w.t.requests.open(kind, subject_id=w.people["emp"], actor=key).id
    # The customer, as controller, attests the identity: recorded as its key, not staff.
    done = w.t.requests.verify_by_staff(rid, staff=key.label, reason="ID seen", actor=key)
    assert done.verified_at is not None
    events = [
        e
        for e in list_entries(w.t.ctx, limit=500)
        if e.entry.details.get("request") == rid or e.entry.action.startswith("request.")
    ]
    actors = {e.entry.actor for e in events}
    assert key.label in actors
    assert not any(a.startswith("staff:application") for a in actors)
    with pytest.raises(Refused) as exc:
        w.t.requests.execute(rid, actor=key)
    assert exc.value.reason == "vendor_only"
    assert "privacy@pulse.example" in exc.value.message
    (entry,) = _denied(w, "request.execute")
    assert entry.reason == "vendor_only" and entry.subject_id == w.people["emp"]
    assert _held(w) == before
    w.t.requests.execute(rid, actor=OFFICE)
    assert _held(w) < before


def test_an_access_request_stays_the_customers_to_run_where_it_controls(
    home: Any, tmp_path: Path
) -> None:
    w = _world(home, tmp_path)
    key = w.actors["desk_key"]
    rid = w.t.requests.open("access", subject_id=w.people["emp"], actor=key).id
    w.t.requests.verify_by_staff(rid, staff=key.label, reason="ID seen", actor=key)
    assert w.t.requests.execute(rid, actor=key).state.value == "completed"


def test_another_tenants_desk_and_staff_without_a_role_are_refused(
    home: Any, tmp_path: Path
) -> None:
    w = _world(home, tmp_path, ORG)
    rid = _open_delete(w)
    _, rec = w.t.access.keys.create_api_key("gym", ["admin"], tenant_id=w.tenants["iron"])
    gym = Actor(
        ActorKind.application, rec.id, tenant_id=w.tenants["iron"], scopes=frozenset({"admin"})
    )
    with pytest.raises(NotFound):
        w.t.requests.execute(rid, actor=gym)
    with pytest.raises(Refused) as exc:
        w.t.requests.execute(rid, actor=Actor(ActorKind.staff, "nobody"))
    assert exc.value.reason != "tenant_bound"
    assert w.t.requests.get(rid).state.value != "completed"


@pytest.mark.parametrize("who", ["boss", "coord", "helpdesk", "key_admin", "key_collect"])
def test_under_organisation_control_no_customer_ends_the_vendors_clocks(
    home: Any, tmp_path: Path, who: str
) -> None:
    w = _world(home, tmp_path, ORG)
    with pytest.raises(Refused) as exc:
        w.t.subjects.end_relationship(w.people["emp"], actor=w.actors[who], reason="left")
    assert exc.value.reason in ("vendor_only", "role_not_allowed", "scope_missing")
    if who in ("boss", "key_admin", "key_collect"):
        assert exc.value.reason == "vendor_only"
        assert "activity_tracking" in exc.value.message
    assert w.t.subjects.end_relationship(w.people["emp"], actor=SYSTEM, reason="left").changed


def test_where_the_customer_controls_it_ends_the_relationship_as_before(
    home: Any, tmp_path: Path
) -> None:
    w = _world(home, tmp_path)
    assert w.t.subjects.end_relationship(
        w.people["emp"], actor=w.actors["boss"], reason="left"
    ).changed
