"""A legal hold that names the purposes it serves (trial #17 F3; GDPR Art. 17(3)(e), 18(2)):
the person asks for deletion, the erasure waits for the hold, and every other ordinary
purpose is restricted with words that say the erasure is deferred under a legal hold (not
that the person limited it), while the purposes the hold serves stay usable, for the roles
the policy lets act for them, audited as under the hold, until that hold ends. A
restriction the person asked for stays. SQLite and PostgreSQL (itechno)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from _http import api_key, client_for, is_problem
from cli_runner import run
from troth.access import actor_for
from troth.audit.entries import list_entries
from troth.engine import Troth
from troth.errors import Refused, ValidationError
from troth.gate import Actor, ActorKind
from troth.retention.tables import legal_holds

ORDER = {
    "name": "Jean Roux",
    "email": "jean@example.fr",
    "address": "1 Rue Haute",
    "card_number": "4111111111111111",
    "card_expiry": "12/29",
    "order_items": "2 widgets",
}
SUPPORT = Actor(ActorKind.staff, "sara", role="support")  # order_fulfilment, licences
SHIPPING = Actor(ActorKind.staff, "sid", role="shipping_desk")  # order_fulfilment only
ACCOUNTS = Actor(ActorKind.staff, "al", role="accounts")  # billing only
DEFERRED = "deferred under a legal hold"


def _deferred_deletion(t: Troth, sid: str) -> str:
    q = t.requests.open("delete", email=ORDER["email"])
    t.requests.verify_by_staff(q.id, staff="olive", reason="passport seen")
    assert t.requests.execute(q.id).state.value == "awaiting_hold"
    return str(q.id)


def _refusal(t: Troth, sid: str, purpose: str, actor: Actor) -> Refused:
    with pytest.raises(Refused) as exc:
        t.use(sid, purpose=purpose, actor=actor)
    return exc.value


def _last_use(t: Troth, sid: str) -> Any:
    return [e for e in list_entries(t.ctx, subject_id=sid) if e.entry.action == "use"][-1].entry


def test_the_purpose_a_hold_serves_stays_usable_during_the_deferred_erasure(
    home: Any, db_url: str
) -> None:
    t = home("itechno", db_url)
    sid = t.collect("order_form", ORDER).subject_id
    hold = t.retention.place_hold(
        reason="complaint SAF-912 under investigation",
        subject_id=sid,
        purposes=["order_fulfilment"],
    )
    other = t.retention.place_hold(reason="Tribunal 4/2026", subject_id=sid)  # serves none
    rid = _deferred_deletion(t, sid)

    # The investigation goes on, for the roles the policy lets act for it; audited as
    # under the hold (never which hold: the person and their tenant read these entries).
    assert t.use(sid, purpose="order_fulfilment", actor=SUPPORT).get("name") == "Jean Roux"
    entry = _last_use(t, sid)
    assert entry.outcome == "allow" and entry.details.get("under_legal_hold") is True
    assert hold not in json.dumps(entry.details)
    assert t.use(sid, purpose="order_fulfilment", actor=SHIPPING).get("name") == "Jean Roux"
    # A role that may not act for the held purpose is still refused, by role.
    assert _refusal(t, sid, "order_fulfilment", ACCOUNTS).reason == "role_not_allowed"
    # The other purposes: restricted, in words that say why (the person asked for
    # deletion, not for a restriction).
    for purpose, actor in (("licence_management", SUPPORT), ("billing", ACCOUNTS)):
        refused = _refusal(t, sid, purpose, actor)
        assert refused.reason == "restricted" and DEFERRED in refused.message
        assert "the person limited" not in refused.message
        assert "under_legal_hold" not in _last_use(t, sid).details

    # The hold that serves it ends, the other still defers the erasure: restricted again.
    t.retention.lift_hold(hold)
    assert t.requests.get(rid).state.value == "awaiting_hold"
    refused = _refusal(t, sid, "order_fulfilment", SUPPORT)
    assert refused.reason == "restricted" and DEFERRED in refused.message
    # The last hold ends: the erasure is carried out, and nothing serves the purpose.
    t.retention.lift_hold(other)
    assert t.requests.get(rid).state.value == "completed"
    assert _refusal(t, sid, "order_fulfilment", SUPPORT).reason == "subject_erased"


def test_a_restriction_the_person_asked_for_stays_whatever_a_hold_serves(
    home: Any, db_url: str
) -> None:
    t = home("itechno", db_url)
    sid = t.collect("order_form", ORDER).subject_id
    q = t.requests.open(
        "restrict", email=ORDER["email"], details={"purposes": ["order_fulfilment"]}
    )
    t.requests.verify_by_staff(q.id, staff="olive", reason="passport seen")
    t.requests.execute(q.id)
    t.retention.place_hold(reason="SAF-913", subject_id=sid, purposes=["order_fulfilment"])
    _deferred_deletion(t, sid)
    refused = _refusal(t, sid, "order_fulfilment", SUPPORT)
    assert refused.reason == "restricted" and "the person limited" in refused.message


def test_a_hold_without_a_deferred_erasure_changes_nothing_and_lists_its_purposes(
    home: Any, db_url: str
) -> None:
    t = home("itechno", db_url)
    sid = t.collect("order_form", ORDER).subject_id
    hold = t.retention.place_hold(
        reason="SAF-914", subject_id=sid, purposes=["order_fulfilment", "billing", "billing"]
    )
    listed = t.retention.active_holds(subject_id=sid)
    assert [(h["id"], h["purposes"]) for h in listed] == [(hold, ["billing", "order_fulfilment"])]
    placed = [e for e in list_entries(t.ctx) if e.entry.action == "legal_hold.place"]
    assert placed[-1].entry.details["purposes"] == ["billing", "order_fulfilment"]
    view = t.use(sid, purpose="order_fulfilment", actor=SUPPORT)
    assert view.get("name") == "Jean Roux"
    assert "under_legal_hold" not in _last_use(t, sid).details  # nothing was restricted


@pytest.mark.parametrize(
    ("purposes", "says"),
    [
        (["nope"], "declares no purpose 'nope'"),
        (["order_fulfilment", ""], "declares no purpose ''"),
        ("order_fulfilment", "a list of the policy's purpose ids"),
        ([3], "a list of the policy's purpose ids"),
    ],
)
def test_a_malformed_hold_purpose_is_refused_and_nothing_is_placed(
    home: Any, purposes: Any, says: str
) -> None:
    t = home("itechno")
    sid = t.collect("order_form", ORDER).subject_id
    with pytest.raises(ValidationError) as exc:
        t.retention.place_hold(reason="x", subject_id=sid, purposes=purposes)
    assert says in exc.value.message
    if "declares" in says:
        assert "order_fulfilment" in exc.value.message  # names the declared ones
    with t.ctx.engine.connect() as conn:
        assert conn.execute(legal_holds.select()).first() is None


def test_hold_purposes_from_the_cli_and_the_api(home: Any, capsys: Any) -> None:
    ctx = home("itechno", context=True)
    t = Troth(ctx)
    sid = t.collect("order_form", ORDER).subject_id
    hold = ["--home", str(ctx.home), "retention", "hold", "--subject", sid, "--reason", "SAF-9"]
    code, _out, err = run(capsys, *hold, "--purpose", "nope", "-q")
    assert code != 0 and "declares no purpose 'nope'" in " ".join(err.split())
    code, out, err = run(capsys, *hold, "--purpose", "order_fulfilment", "-q")
    assert code == 0, err
    code, out, err = run(capsys, "--home", str(ctx.home), "retention", "holds", "--json")
    assert code == 0 and json.loads(out)[0]["purposes"] == ["order_fulfilment"], err
    with client_for(ctx) as c:
        office = api_key(c, ["admin"])
        body = {"reason": "SAF-10", "subject_id": sid}
        for bad in ({"purposes": ["nope"]}, {"purposes": [""]}, {"purposes": "billing"}):
            is_problem(c.post("/api/v1/retention/holds", json=body | bad, headers=office), 422)
        r = c.post("/api/v1/retention/holds", json=body | {"purposes": ["billing"]}, headers=office)
        assert r.status_code == 201 and r.json()["purposes"] == ["billing"], r.text
        listed = c.get("/api/v1/retention/holds", headers=office).json()["items"]
        assert sorted(p for h in listed for p in h["purposes"]) == ["billing", "order_fulfilment"]
    _deferred_deletion(t, sid)
    assert t.use(sid, purpose="order_fulfilment", actor=SUPPORT).get("name") == "Jean Roux"


def test_a_tenant_hold_serves_its_purposes_for_its_people_only(home: Any, db_url: str) -> None:
    t = home("itechno", db_url)
    acme = t.access.tenants.create_tenant("Acme", "office@acme.example")
    zeta = t.access.tenants.create_tenant("Zeta", "office@zeta.example")
    sid = t.collect("order_form", ORDER, tenant_id=acme).subject_id
    t.retention.place_hold(reason="Litigation hold", tenant_id=acme, purposes=["order_fulfilment"])
    # Another customer's hold serves nothing for Acme's person, nor Acme's for Zeta's.
    t.retention.place_hold(reason="Zeta matter", tenant_id=zeta, purposes=["billing"])
    q = t.requests.open("delete", email=ORDER["email"], tenant_id=acme)
    t.requests.verify_by_staff(q.id, staff="olive", reason="passport seen")
    assert t.requests.execute(q.id).state.value == "awaiting_hold"
    admin = actor_for(
        t.access.accounts.add_user(
            "admin@acme.example", kind="tenant_member", tenant_id=acme, tenant_role="admin",
            password="correct horse battery staple",
        )
    )  # fmt: skip
    assert t.use(sid, purpose="order_fulfilment", actor=admin).get("name") == "Jean Roux"
    refused = _refusal(t, sid, "billing", admin)
    assert refused.reason == "restricted" and DEFERRED in refused.message
