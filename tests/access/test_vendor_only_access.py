"""The vendor's own purposes (``vendor_only``) over HTTP and on the tenant pages (trial #15
G1): a key bound to a customer, whatever its scopes, reads, collects, aggregates and
records consents for none of them (403 ``vendor_only``, audited, nothing stored), another
customer's person stays a 404, and the vendor's own keys act as before; the tenant pages'
``/tenant/export.json`` holds only what the signed-in admin may read (F1)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from _http import client_for, csrf_from
from pulse_samples import CARD, PASSWORD, PULSE, PulseWorld, pulse_world, without_vendor_only
from troth.audit.entries import list_entries
from troth.gate import Actor, ActorKind

API = "/api/v1"


def _headers(w: PulseWorld, scopes: list[str], tenant: str | None) -> dict[str, str]:
    key, _ = w.t.access.keys.create_api_key("k", scopes, tenant_id=tenant)
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def world(home: Any, tmp_path: Path) -> PulseWorld:
    return pulse_world(home, tmp_path)


def _categories(w: PulseWorld) -> dict[str, int]:
    """How many values troth stores of each category."""
    with w.t.ctx.engine.connect() as conn:
        rows = conn.exec_driver_sql("select category, count(*) from records group by category")
        return {str(category): int(n) for category, n in rows}


def _denials(w: PulseWorld, reason: str) -> list[Any]:
    return [e.entry for e in list_entries(w.t.ctx, limit=1000) if e.entry.reason == reason]


@pytest.mark.parametrize(
    "scopes", [["use"], ["admin"], ["use:PURPOSE"], ["use", "collect", "disclose"]]
)
@pytest.mark.parametrize("purpose", ["activity_tracking", "health_insights", "fraud_detection"])
def test_a_customers_key_reads_nothing_for_a_vendor_purpose(
    world: PulseWorld, scopes: list[str], purpose: str
) -> None:
    emp, gym = world.people["emp"], world.people["gym"]
    with client_for(world.t.ctx) as c:
        scopes = [s.replace("PURPOSE", purpose) for s in scopes]  # use:<the purpose asked>
        h = _headers(world, scopes, world.tenants["contoso"])
        r = c.get(f"{API}/subjects/{emp}", params={"purpose": purpose}, headers=h)
        assert r.status_code == 403, r.text
        body = r.json()
        assert body["reason"] == "vendor_only"
        assert "privacy@pulse.example" in body["detail"]
        assert "heart_rate" not in r.text and "cycle_day" not in r.text
        # Another customer's person is the 404 of an unknown one, as before.
        other = c.get(f"{API}/subjects/{gym}", params={"purpose": purpose}, headers=h)
        unknown = c.get(f"{API}/subjects/{'0' * 32}", params={"purpose": purpose}, headers=h)
        assert other.status_code == unknown.status_code == 404
    (denied,) = [e for e in _denials(world, "vendor_only") if e.action == "use"]
    assert denied.purpose == purpose and denied.subject_id == emp


def test_the_vendors_own_key_reads_for_its_purposes(world: PulseWorld) -> None:
    emp = world.people["emp"]
    with client_for(world.t.ctx) as c:
        h = _headers(world, ["use"], None)
        r = c.get(f"{API}/subjects/{emp}", params={"purpose": "activity_tracking"}, headers=h)
        assert r.status_code == 200, r.text
        assert {v["field"] for v in r.json()["values"]} == {"heart_rate", "cycle_day"}
        # And the customer's key still reads its own purposes.
        h = _headers(world, ["use"], world.tenants["contoso"])
        r = c.get(f"{API}/subjects/{emp}", params={"purpose": "account"}, headers=h)
        assert r.status_code == 200 and "erin@contoso.example" in r.text


@pytest.mark.parametrize("scopes", [["collect"], ["admin"]])
def test_a_gyms_key_stores_no_heart_rate(world: PulseWorld, scopes: list[str]) -> None:
    """G1's repro: a gym key (collect) stored heart rate into its own tenant (201)."""
    t = world.t
    before = _categories(world)
    with client_for(t.ctx) as c:
        h = _headers(world, scopes, world.tenants["iron"])
        body = {
            "data": {"email": "gm1@gymmail.example", "heart_rate": 150},
            "consents": ["activity_tracking"],
        }
        r = c.post(f"{API}/collect/band_sync", json=body, headers=h)
        assert r.status_code == 403, r.text
        assert r.json()["reason"] == "vendor_only"
        assert "heart_rate" in r.json()["detail"]
        # A purpose of its own at the same point: the e-mail alone, for the account.
        ok = c.post(
            f"{API}/collect/band_sync", json={"data": {"email": "gm1@gymmail.example"}}, headers=h
        )
        assert ok.status_code == 201, ok.text
        # A point only the vendor's purposes use: refused whole.
        fraud = {"data": {"email": "gm1@gymmail.example", "device_id": "d"}}
        r = c.post(f"{API}/collect/fraud_review", json=fraud, headers=h)
        assert r.status_code == 403 and r.json()["reason"] == "vendor_only"
    after = _categories(world)
    assert after["biometrics"] == before["biometrics"]  # no heart rate stored
    assert after["contact"] == before["contact"] + 1  # the e-mail, for the account
    assert sum(after.values()) == sum(before.values()) + 1
    assert [e.action for e in _denials(world, "vendor_only")] == ["collect", "collect"]
    # The vendor's own key collects heart rate for its purposes as before.
    with client_for(t.ctx) as c:
        h = _headers(world, ["collect"], None)
        body = {
            "data": {"email": "v@pulse.example", "heart_rate": 61},
            "consents": ["activity_tracking"],
        }
        assert c.post(f"{API}/collect/band_sync", json=body, headers=h).status_code == 201


def test_a_customers_key_records_no_consent_to_a_vendor_purpose(world: PulseWorld) -> None:
    emp = world.people["emp"]
    with client_for(world.t.ctx) as c:
        h = _headers(world, ["collect", "use"], world.tenants["contoso"])
        r = c.post(f"{API}/subjects/{emp}/consents/health_insights/grant", headers=h)
        assert r.status_code == 403 and r.json()["reason"] == "vendor_only", r.text
        # Relaying the person's withdrawal only narrows: allowed.
        r = c.post(f"{API}/subjects/{emp}/consents/health_insights/withdraw", headers=h)
        assert r.status_code == 200, r.text
        # That the person consents to the vendor's health purposes is not the customer's.
        state = c.get(f"{API}/subjects/{emp}/consents", headers=h)
        assert state.status_code == 200
        assert "health_insights" not in state.text
        assert "activity_tracking" not in state.text
        vendor = _headers(world, ["use"], None)
        assert "activity_tracking" in c.get(f"{API}/subjects/{emp}/consents", headers=vendor).text
    (denied,) = [e for e in _denials(world, "vendor_only") if e.action == "change_consents"]
    assert denied.details["purpose"] == "health_insights"


def test_a_customers_key_aggregates_only_its_own_purposes(world: PulseWorld) -> None:
    q = {"purpose": "club_statistics", "category": "attendance", "field": "club"}
    with client_for(world.t.ctx) as c:
        h = _headers(world, ["aggregate"], world.tenants["contoso"])
        r = c.get(f"{API}/aggregates", params=q, headers=h)
        assert r.status_code == 403 and r.json()["reason"] == "vendor_only", r.text
        own = {"purpose": "wellness_participation", "category": "participation"}
        r = c.get(f"{API}/aggregates", params={**own, "field": "challenge"}, headers=h)
        assert r.status_code == 200, r.text
        vendor = _headers(world, ["aggregate"], None)
        r = c.get(f"{API}/aggregates", params=q, headers=vendor)
        assert r.status_code == 200, r.text


def _export_json(w: PulseWorld, email: str) -> Any:
    with client_for(w.t.ctx) as c:
        page = c.get("/tenant/login").text
        form = {"email": email, "password": PASSWORD, "csrf_token": csrf_from(page)}
        assert c.post("/tenant/login", data=form).status_code == 200
        r = c.get("/tenant/export.json")
        assert r.status_code == 200, r.text
        return r.json()


def _values(doc: Any) -> list[dict[str, Any]]:
    return [v for s in doc["subjects"] for v in s["values"]]


def test_the_tenant_pages_export_holds_what_the_admin_may_read(world: PulseWorld) -> None:
    coord = _export_json(world, "coord@contoso.example")
    assert _values(coord) == [] and coord["complete"] is False
    assert coord["exported_by"]["role"] == "wellness_coordinator"
    assert {w["category"] for w in coord["left_out"]} >= {"biometrics", "reproductive_health"}
    boss = _export_json(world, "boss@contoso.example")
    cats = {v["category"] for v in _values(boss)}
    assert cats == {"identity", "contact", "participation"}
    assert not [v for v in _values(boss) if v["collection_point"] == "fraud_review"]
    desk = _export_json(world, "desk@ironworks.example")
    assert {v["field"]: v["value"] for v in _values(desk)} == {
        "name": "Gus Gym",
        "club": "Soho",
        "member_card": "•••• 9424",
    }
    assert CARD not in str(desk)
    audited = [e.entry for e in list_entries(world.t.ctx, action="tenant.export", limit=50)]
    assert [e.details["role"] for e in audited] == [
        "wellness_coordinator",
        None,
        "gym_front_desk",
    ]


def test_without_the_flag_an_admin_without_a_role_exports_as_before(
    home: Any, tmp_path: Path
) -> None:
    w = pulse_world(home, tmp_path, without_vendor_only(PULSE))
    boss = _export_json(w, "boss@contoso.example")
    assert boss["complete"] is True and boss["left_out"] == []
    fields = {v["field"]: v["value"] for v in _values(boss) if v["category"] != "contact"}
    assert fields["heart_rate"] == 99 and fields["cycle_day"] == 3
    # A role limits it all the same (F1).
    assert _values(_export_json(w, "coord@contoso.example")) == []


def test_a_customer_is_not_shown_what_the_vendor_disclosed_for_its_own(world: PulseWorld) -> None:
    """That the vendor sent an employee's heart rate to its insights lab tells the employer
    that the employee uses health insights: not the customer's to read."""
    t, emp = world.t, world.people["emp"]
    sender = Actor(ActorKind.application, "v", scopes=frozenset({"disclose"}))
    t.disclosures.disclose(emp, "lab", "health_insights", sender)
    t.disclosures.disclose(emp, "lab", "account", sender)
    with client_for(t.ctx) as c:
        mine = _headers(world, ["use"], world.tenants["contoso"])
        shown = c.get(f"{API}/subjects/{emp}/disclosures", headers=mine)
        assert shown.status_code == 200, shown.text
        assert [d["purpose"] for d in shown.json()] == ["account"]
        vendor = _headers(world, ["use"], None)
        every = c.get(f"{API}/subjects/{emp}/disclosures", headers=vendor).json()
        assert sorted(d["purpose"] for d in every) == ["account", "health_insights"]
