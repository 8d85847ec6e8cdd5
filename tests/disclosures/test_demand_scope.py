"""P20: a legal demand's scope narrows the disclosure made under it (new-user trial: a
demand for a rider's trips could be used to hand over their health and card data, and
nothing said so). A demand names the categories it asks for (and, if it states one, the
period the data was collected in); a disclosure of anything beyond them is refused
``beyond_demand`` and audited, nothing sent and nobody told; one that names no categories
sends what the demand asks for; values collected outside the period are held back and
listed as such. The scope troth honours is the one the audit log recorded."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from troth.audit.entries import list_entries
from troth.disclosures import disclosures, legal_demands
from troth.engine import Troth
from troth.errors import Refused, ValidationError
from troth.gate import Actor, ActorKind

RIDES = """\
troth: 1
id: swift
version: "1.0"
effective: 2026-01-01
organisation:
  name: Swift Rides Ltd
  contact: {name: Swift privacy office, email: privacy@swift.example}
  jurisdictions: [gdpr]
subjects:
  - {id: rider, description: People who ride with us.}
categories:
  - {id: trips, description: Where and when a rider was picked up.}
  - {id: health, description: A rider's accessibility needs., sensitive: true, special: true}
  - {id: payment_card, description: The rider's card., sensitive: true}
purposes:
  - id: rides
    description: Carry riders and take payment.
    legal_basis: contract
    categories: [identity, contact, trips, health, payment_card]
    retention: {keep_for: 2y}
  - id: legal_compliance
    description: Answer what the law compels.
    legal_basis: legal_obligation
    categories: [identity, contact, trips, health, payment_card]
    retention: {keep_for: 2y}
collection_points:
  - id: signup
    description: A rider signs up.
    subjects: [rider]
    fields:
      name: {category: identity, required: true}
      email: {category: contact, type: email, required: true, identifies: email}
      card_number: {category: payment_card, mask: last4}
      wheelchair: {category: health}
    purposes: [rides]
  - id: trip
    description: A ride taken.
    subjects: [rider]
    source: observed
    fields:
      email: {category: contact, type: email, required: true, identifies: email}
      pickup: {category: trips, required: true}
    purposes: [rides]
recipients:
  - id: police
    name: Metropolitan Police
    kind: authority
    location: EU
    receives:
      - {purpose: legal_compliance, categories: [identity, contact, trips, health, payment_card]}
locations: {allowed: [EU], default: EU}
roles:
  - id: privacy_office
    description: The office.
    categories: [identity, contact, trips, health, payment_card]
    purposes: [rides, legal_compliance]
    powers: [legal_demands, manage_requests, read_audit]
"""
OFFICE = Actor(ActorKind.staff, "po", role="privacy_office")
POLICE, LEGAL = "police", "legal_compliance"
EMAIL = "rae@example.com"


def _rides(home: Any, tmp_path: Path, db_url: str | None = None, **kw: Any) -> Any:
    policy = tmp_path / "rides.yaml"
    policy.write_text(RIDES)
    return home(None, db_url, policy=policy, **kw)


def _rider(t: Any) -> str:
    """Rae: signed up with a card and a wheelchair need, then took a ride (at the clock's
    time: 2026-03-02)."""
    signup = {"name": "Rae Moss", "email": EMAIL, "card_number": "4111111111111111"}
    sid: str = t.collect("signup", {**signup, "wheelchair": "yes"}).subject_id
    t.collect("trip", {"email": EMAIL, "pickup": "King's Cross"}, subject_id=sid)
    return sid


def _demand(t: Any, **kw: Any) -> Any:
    args = {
        "authority": "Westminster Magistrates",
        "instrument": "production_order",
        "reference": "PO-7",
        "scope": "the rider's trips",
        "recipient": POLICE,
        "categories": ["trips"],
    }
    return t.disclosures.record_demand(**{**args, **kw})


def _count(t: Any, table: Any) -> int:
    with t.ctx.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def _mail(t: Any) -> int:
    from troth.notices.outbox import outbox

    return _count(t, outbox)


def _denied(t: Any) -> list[Any]:
    return [e.entry for e in list_entries(t.ctx, action="disclose", outcome="deny", limit=100)]


def test_a_demand_for_trips_does_not_disclose_health_or_payment(home, db_url, tmp_path):
    t = _rides(home, tmp_path, db_url)
    sid = _rider(t)
    d = _demand(t)
    asks = (["health"], ["payment_card"], ["trips", "health"], ["identity", "trips"])
    for asked in asks:
        with pytest.raises(Refused) as exc:
            t.disclosures.disclose(
                sid, POLICE, LEGAL, OFFICE, categories=asked, legal_demand_id=d.id
            )
        assert exc.value.reason == "beyond_demand"
        beyond = [c for c in asked if c != "trips"]
        assert f"asks for trips only: {', '.join(beyond)}" in exc.value.message
        assert "nothing was disclosed" in exc.value.message
    # Each refusal audited once, naming the demand (so a gag hides it) and what was asked.
    denied = _denied(t)
    assert [e.reason for e in denied] == ["beyond_demand"] * len(asks)
    assert sorted(tuple(e.categories) for e in denied) == sorted(tuple(sorted(a)) for a in asks)
    assert all(e.details["legal_demand"] == d.id for e in denied)
    assert "Rae" not in json.dumps([e.details for e in denied])
    # Nothing sent, nobody told, the demand still to be answered.
    assert _count(t, disclosures) == 0 and _mail(t) == 0
    assert t.disclosures.demand(d.id).status == "received"
    # Asked for nothing in particular: what the demand asks for, not all the police may get.
    pkg = t.disclosures.disclose(sid, POLICE, LEGAL, OFFICE, legal_demand_id=d.id)
    assert pkg.categories == ("trips",)
    assert [(v.field, v.value) for v in pkg.values] == [("pickup", "King's Cross")]
    # Asked for exactly what it asks for: the same.
    pkg = t.disclosures.disclose(
        sid, POLICE, LEGAL, OFFICE, categories=["trips"], legal_demand_id=d.id
    )
    assert pkg.categories == ("trips",)
    # A demand that asks for health too sends it.
    wider = _demand(t, reference="PO-8", categories=["trips", "health"])
    pkg = t.disclosures.disclose(
        sid, POLICE, LEGAL, OFFICE, categories=["health"], legal_demand_id=wider.id
    )
    assert [(v.field, v.value) for v in pkg.values] == [("wheelchair", "yes")]


def test_a_demand_the_recipient_may_receive_none_of_is_refused(home, tmp_path):
    """The police receive no card for another purpose: a demand for what the recipient
    never receives for the purpose is refused, saying so."""

    def no_card(text: str) -> str:
        return text.replace(
            "categories: [identity, contact, trips, health, payment_card]}",
            "categories: [identity, contact, trips, health]}",
        )

    policy = tmp_path / "rides.yaml"
    policy.write_text(no_card(RIDES))
    t = home(None, policy=policy)
    sid = _rider(t)
    d = _demand(t, categories=["payment_card"])
    with pytest.raises(Refused) as exc:
        t.disclosures.disclose(sid, POLICE, LEGAL, OFFICE, legal_demand_id=d.id)
    assert exc.value.reason == "beyond_demand"
    assert "none of which may go to Metropolitan Police" in exc.value.message
    assert _count(t, disclosures) == 0 and _mail(t) == 0


@pytest.mark.parametrize(
    ("categories", "says"),
    [
        (None, "names the categories of data it asks for"),
        ([], "names the categories of data it asks for"),
        ("trips", "names the categories of data it asks for"),
        (["location"], "not 'location'"),
        ([""], "not ''"),
        ([5], "not '5'"),
        (["trips", "x" * 500], "the policy's categories, not 'xxx"),
    ],
)
def test_a_demand_names_the_categories_it_asks_for(home, tmp_path, categories, says):
    t = _rides(home, tmp_path)
    with pytest.raises(ValidationError) as exc:
        _demand(t, categories=categories)
    assert says in exc.value.message
    assert exc.value.details["field"] == "categories"
    assert "health, identity, payment_card, trips" in exc.value.message  # what to write
    assert _count(t, legal_demands) == 0


def test_a_demands_period_holds_back_what_was_collected_outside_it(home, db_url, tmp_path, clock):
    t = _rides(home, tmp_path, db_url)
    sid = _rider(t)  # a ride on 2 March
    clock.advance(timedelta(days=40))  # 11 April
    t.collect("trip", {"email": EMAIL, "pickup": "Euston"}, subject_id=sid)
    march = {
        "period_from": datetime(2026, 3, 1, tzinfo=UTC),
        "period_until": datetime(2026, 4, 1, tzinfo=UTC),
    }
    d = _demand(t, **march)
    assert (d.period_from, d.period_until) == (march["period_from"], march["period_until"])
    pkg = t.disclosures.disclose(sid, POLICE, LEGAL, OFFICE, legal_demand_id=d.id)
    assert [(v.field, v.value) for v in pkg.values] == [("pickup", "King's Cross")]
    assert [(w.field, w.reason) for w in pkg.withheld] == [("pickup", "outside_demand_period")]
    # A period in which nothing was collected: refused, saying so; nothing more sent.
    january = {
        "period_from": datetime(2026, 1, 1, tzinfo=UTC),
        "period_until": datetime(2026, 2, 1, tzinfo=UTC),
    }
    d2 = _demand(t, reference="PO-9", **january)
    with pytest.raises(Refused) as exc:
        t.disclosures.disclose(sid, POLICE, LEGAL, OFFICE, legal_demand_id=d2.id)
    assert exc.value.reason == "beyond_demand"
    assert "no value of trips was collected within legal demand" in exc.value.message
    assert _count(t, disclosures) == 1
    # A period that ends before it starts, or without a zone: refused when recorded.
    with pytest.raises(ValidationError, match="must end"):
        _demand(t, period_from=march["period_until"], period_until=march["period_from"])
    with pytest.raises(ValidationError, match="timezone-aware"):
        _demand(t, period_from=datetime(2026, 3, 1))
    assert _count(t, legal_demands) == 2


def test_a_demands_scope_widened_outside_troth_discloses_nothing(home, db_url, tmp_path):
    from troth.audit import verify_log

    t = _rides(home, tmp_path, db_url)
    sid = _rider(t)
    d = _demand(t)
    with t.ctx.engine.begin() as conn:  # a database writer without the key file
        conn.execute(
            sa.text("UPDATE legal_demands SET categories = :c WHERE id = :i"),
            {"c": json.dumps(["health", "payment_card", "trips"]), "i": d.id},
        )
    with pytest.raises(Refused) as exc:
        t.disclosures.disclose(
            sid, POLICE, LEGAL, OFFICE, categories=["health"], legal_demand_id=d.id
        )
    assert exc.value.reason == "record_tampered"
    assert "categories or period it asks for" in exc.value.message
    with pytest.raises(Refused) as exc:  # nor what it did ask for
        t.disclosures.disclose(sid, POLICE, LEGAL, OFFICE, legal_demand_id=d.id)
    assert exc.value.reason == "record_tampered"
    assert _count(t, disclosures) == 0 and _mail(t) == 0
    report = verify_log(t.ctx)
    assert not report.ok
    assert d.id in report.bad_disclosures and "categories" in str(report.problem)


def test_a_demand_recorded_before_troth_kept_its_scope_discloses_nothing(home, tmp_path):
    """A demand recorded before this change (its row and log entry without categories)
    sends nothing: the officer records it again with what it asks for."""
    from troth.audit.entry import AuditEntry, Outcome
    from troth.audit.log import append_entries, transaction

    t = _rides(home, tmp_path)
    sid = _rider(t)
    now = t.ctx.clock.now()
    row = {
        "id": "d" * 32,
        "authority": "Court",
        "recipient": POLICE,
        "instrument": "court_order",
        "reference": "OLD-1",
        "scope": "everything",
        "received_at": now,
        "status": "received",
        "recorded_by": "system:troth",
        "recorded_at": now,
    }
    details = {
        "demand": row["id"],
        "authority": "Court",
        "instrument": "court_order",
        "gag_until": None,
        "recipient": POLICE,
        "received_at": now.isoformat(),
    }
    with transaction(t.ctx) as conn:
        conn.execute(sa.insert(legal_demands).values(**row))
        entry = AuditEntry("legal_demand.record", "system:troth", Outcome.info, details=details)
        append_entries(conn, now, [entry])
    with pytest.raises(Refused) as exc:
        t.disclosures.disclose(sid, POLICE, LEGAL, OFFICE, legal_demand_id=row["id"])
    assert exc.value.reason == "demand_required"
    assert "record it again with the categories it names" in exc.value.message
    assert [e.reason for e in _denied(t)] == ["demand_required"]
    assert _count(t, disclosures) == 0 and _mail(t) == 0


def test_a_refusal_beyond_a_gagged_demand_stays_hidden_from_the_person(home, tmp_path, clock):
    t = _rides(home, tmp_path)
    sid = _rider(t)
    d = _demand(t, gag_until=clock.now() + timedelta(days=30))
    with pytest.raises(Refused):
        t.disclosures.disclose(
            sid, POLICE, LEGAL, OFFICE, categories=["health"], legal_demand_id=d.id
        )
    seen = [e.entry.action for e in t.disclosures.person_entries(sid)]
    assert "disclose" not in seen


# -- every entry point ------------------------------------------------------------------------
def _troth(home_dir: Path, capsys: Any, *args: str) -> tuple[int, str, str]:
    from troth.cli import main

    try:
        main(["--home", str(home_dir), "disclosures", *args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, " ".join(err.split())


def test_cli_demand_scope(home, tmp_path, capsys):
    ctx = _rides(home, tmp_path, context=True)
    t = Troth(ctx)
    sid = _rider(t)
    demand = ["demand", "--authority", "Court", "--instrument", "production_order"]
    demand += ["--reference", "PO-7", "--scope", "trips", "--recipient", POLICE]
    code, _, err = _troth(ctx.home, capsys, *demand)
    assert code == 1 and "--category" in err and "health, identity, payment_card, trips" in err
    code, _, err = _troth(ctx.home, capsys, *demand, "--category", "location")
    assert code == 1 and "not 'location'" in err
    assert _count(t, legal_demands) == 0
    period = ["--period-from", "2026-03-01", "--period-until", "2026-03-31"]
    code, out, err = _troth(ctx.home, capsys, *demand, "--category", "trips", *period)
    assert code == 0, err
    d = t.disclosures.demand(out.strip())
    assert d.categories == ("trips",)
    assert d.period_until is not None and d.period_until.date().isoformat() == "2026-04-01"
    send = ["send", sid, "--recipient", POLICE, "--purpose", LEGAL, "--demand", d.id]
    send += ["--actor", "staff:po@privacy_office"]
    code, _, err = _troth(ctx.home, capsys, *send, "--category", "health")
    assert code == 3 and "refused (beyond_demand)" in err and "asks for trips only" in err
    assert _count(t, disclosures) == 0 and _mail(t) == 0
    code, out, err = _troth(ctx.home, capsys, *send)
    assert code == 0, err
    assert json.loads(out)["categories"] == ["trips"]


def test_api_demand_scope(home, db_url, tmp_path):
    from _http import api_key, client_for, is_problem

    ctx = _rides(home, tmp_path, db_url, context=True)
    t = Troth(ctx)
    sid = _rider(t)
    with client_for(ctx) as c:
        key = api_key(c, ["admin"])
        demand = {
            "authority": "Court",
            "instrument": "production_order",
            "reference": "PO-7",
            "scope": "trips",
            "recipient": POLICE,
        }
        r = c.post("/api/v1/legal-demands", json=demand, headers=key)
        assert "health, identity, payment_card, trips" in is_problem(r, 422)["detail"]
        r = c.post("/api/v1/legal-demands", json={**demand, "categories": ["cookies"]}, headers=key)
        assert "not 'cookies'" in is_problem(r, 422)["detail"]
        assert _count(t, legal_demands) == 0
        scoped = {**demand, "categories": ["trips"], "period_from": "2026-03-01T00:00:00Z"}
        r = c.post("/api/v1/legal-demands", json=scoped, headers=key)
        assert r.status_code == 201, r.text
        assert r.json()["categories"] == ["trips"]
        assert r.json()["period_from"].startswith("2026-03-01T00:00")
        url = f"/api/v1/subjects/{sid}/disclosures"
        body = {"recipient": POLICE, "purpose": LEGAL, "legal_demand_id": r.json()["id"]}
        r2 = c.post(url, json={**body, "categories": ["health", "trips"]}, headers=key)
        problem = is_problem(r2, 403, "refused")
        assert problem["reason"] == "beyond_demand" and "health" in problem["detail"]
        assert _count(t, disclosures) == 0 and _mail(t) == 0
        r2 = c.post(url, json=body, headers=key)
        assert r2.status_code == 201, r2.text
        assert r2.json()["categories"] == ["trips"]


def test_console_demand_scope(home, tmp_path):
    from _http import PASSWORD, client_for, console_login

    ctx = _rides(home, tmp_path, context=True)
    t = Troth(ctx)
    t.access.accounts.add_user(
        "po@example.com", kind="staff", role="privacy_office", password=PASSWORD
    )
    with client_for(ctx) as c:
        token = console_login(c, "po@example.com")
        page = c.get("/console/demands").text
        assert 'name="categories" value="trips"' in page
        form = {
            "authority": "Court",
            "instrument": "production_order",
            "reference": "PO-7",
            "scope": "trips",
            "recipient": POLICE,
            "csrf_token": token,
        }
        r = c.post("/console/demands", data=form)
        assert r.status_code == 422 and "names the categories" in r.text
        assert _count(t, legal_demands) == 0
        r = c.post(
            "/console/demands",
            data={**form, "categories": ["trips", "health"], "period_until": "2026-03-31"},
        )
        assert r.status_code == 200 and "health, trips; collected before 2026-04-01" in r.text
    from troth.disclosures.demands import list_demands

    (d,) = list_demands(t.ctx)
    assert d.categories == ("health", "trips")
