"""P20 on SQLite and PostgreSQL: a disclosure to an authority goes through a recorded legal
demand (refused and audited without one, nothing
sent, nobody told); a demand names only an authority as its recipient."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from troth.audit.entries import list_entries
from troth.disclosures import disclosures, legal_demands
from troth.engine import Troth
from troth.errors import Refused, ValidationError
from troth.gate import Actor, ActorKind

ORDER = {
    "name": "Ann Lee",
    "email": "ann@example.com",
    "address": "1 Main St",
    "card_number": "4111111111111111",
    "card_expiry": "12/29",
    "order_items": "2 widgets",
}
NEWS = {"name": "Annie", "email": "annie@news.example"}
OFFICE = Actor(ActorKind.staff, "po", role="privacy_office")
SHOP = Actor(ActorKind.application, "shop", scopes=frozenset({"admin"}))
COURTS = "courts_and_law_enforcement"


def _count(t: Any, table: Any) -> int:
    with t.ctx.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def _mail(t: Any) -> int:
    from troth.notices.outbox import outbox

    return _count(t, outbox)


def _ann(t: Any) -> str:
    """Ann: an order, and a newsletter sign-up with another name and address."""
    sid: str = t.collect("order_form", ORDER).subject_id
    t.collect("newsletter_signup", NEWS, subject_id=sid, consents=["product_news"])
    return sid


def _demand(t: Any, **kw: Any) -> Any:
    args = {
        "authority": "District Court",
        "instrument": "court_order",
        "reference": "CV-1",
        "scope": "contact details of Ann Lee",
        "categories": ["identity", "contact", "shipping_address", "purchases", "billing"],
        "recipient": COURTS,
    }
    return t.disclosures.record_demand(**{**args, **kw})


def test_legal_disclosure_without_a_demand_is_refused(home, db_url):
    t = home("itechno", db_url)
    sid = _ann(t)
    # The courts (an authority) under the legal-obligation purpose, or under another
    # purpose: neither goes without a recorded demand.
    for recipient, purpose in ((COURTS, "legal_disclosure"), (COURTS, "order_fulfilment")):
        with pytest.raises(Refused) as exc:
            t.disclosures.disclose(sid, recipient, purpose, OFFICE)
        assert exc.value.reason == "demand_required"
        assert "troth disclosures demand" in exc.value.message
        assert "--demand" in exc.value.message
    # Another recipient under the legal-obligation purpose needs no demand: the gate
    # decides as for any disclosure (here the office may not send this purpose's data to
    # the shipping company), never the unbound data a demand would compel.
    with pytest.raises(Refused) as exc:
        t.disclosures.disclose(sid, "shipping_company", "legal_disclosure", OFFICE)
    assert exc.value.reason == "role_not_allowed"
    assert _count(t, disclosures) == 0 and _mail(t) == 0
    denied = [
        e for e in list_entries(t.ctx, subject_id=sid, limit=100) if e.entry.action == "disclose"
    ]
    assert [e.entry.outcome for e in denied] == ["deny"] * 3
    assert [e.entry.reason for e in denied].count("demand_required") == 2
    assert "Ann" not in str([e.to_dict() for e in denied])
    # Ordinary disclosures need no demand.
    assert t.disclosures.disclose(sid, "shipping_company", "order_fulfilment", SHOP)


def test_legal_disclosure_with_a_demand_sends_what_the_order_asks(home, db_url):
    t = home("itechno", db_url)
    sid = _ann(t)
    d = _demand(t)
    pkg = t.disclosures.disclose(sid, COURTS, "legal_disclosure", OFFICE, legal_demand_id=d.id)
    # A court order may demand any data: not bound to the collection purposes.
    sent = sorted((v.field, v.value) for v in pkg.values)
    assert sent == [
        ("address", "1 Main St"),
        ("email", "ann@example.com"),
        ("email", "annie@news.example"),
        ("name", "Ann Lee"),
        ("name", "Annie"),
        ("order_items", "2 widgets"),
    ]
    assert pkg.withheld == () and pkg.legal_demand_id == d.id
    assert _mail(t) == 1 and t.disclosures.demand(d.id).status == "notified"


def test_a_demand_comes_from_an_authority(home, db_url):
    t = home("itechno", db_url)
    sid = _ann(t)
    # A third party, or a recipient the policy does not list: the error names the authorities.
    for other, kind in (("shipping_company", "third_party"), ("nobody", "lists no recipient")):
        with pytest.raises(ValidationError) as exc:
            _demand(t, recipient=other)
        assert exc.value.details["field"] == "recipient" and kind in exc.value.message
        assert COURTS in exc.value.message and "authority" in exc.value.message
    assert _count(t, legal_demands) == 0
    # A demand that names no recipient still sends the data only to an authority.
    d = _demand(t, recipient=None)
    with pytest.raises(ValidationError, match=COURTS):
        t.disclosures.disclose(
            sid, "shipping_company", "legal_disclosure", OFFICE, legal_demand_id=d.id
        )
    assert _count(t, disclosures) == 0 and _mail(t) == 0
    pkg = t.disclosures.disclose(sid, COURTS, "legal_disclosure", OFFICE, legal_demand_id=d.id)
    assert pkg.recipient == COURTS


# -- every entry point ------------------------------------------------------------------------
def test_api_legal_disclosure_needs_a_demand(home, db_url):
    from _http import api_key, client_for, is_problem

    ctx = home("itechno", db_url, context=True)
    t = Troth(ctx)
    sid = _ann(t)
    with client_for(ctx) as c:
        key = api_key(c, ["admin"])
        url = f"/api/v1/subjects/{sid}/disclosures"
        body = {"recipient": COURTS, "purpose": "legal_disclosure"}
        problem = is_problem(c.post(url, json=body, headers=key), 403, "refused")
        assert problem["reason"] == "demand_required"
        assert "troth disclosures demand" in problem["detail"]
        assert "legal_demand_id" in problem["detail"]
        assert _count(t, disclosures) == 0 and _mail(t) == 0
        # A demand naming a recipient that is not an authority: 422 naming the authorities.
        demand = {
            "authority": "District Court",
            "instrument": "court_order",
            "reference": "CV-1",
            "scope": "Ann Lee",
            "categories": ["identity", "contact"],
        }
        r = c.post(
            "/api/v1/legal-demands", json={**demand, "recipient": "shipping_company"}, headers=key
        )
        assert COURTS in is_problem(r, 422)["detail"]
        assert _count(t, legal_demands) == 0
        r = c.post("/api/v1/legal-demands", json={**demand, "recipient": COURTS}, headers=key)
        assert r.status_code == 201, r.text
        r = c.post(url, json={**body, "legal_demand_id": r.json()["id"]}, headers=key)
        assert r.status_code == 201, r.text
        names = sorted(v["value"] for v in r.json()["values"] if v["field"] == "name")
        assert names == ["Ann Lee", "Annie"] and r.json()["withheld"] == []
    assert _count(t, disclosures) == 1 and _mail(t) == 1


def _troth(home_dir: Path, capsys: Any, *args: str) -> tuple[int, str, str]:
    """`troth --home HOME disclosures ARGS...` through the console script's entry point."""
    from troth.cli import main

    try:
        main(["--home", str(home_dir), "disclosures", *args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, " ".join(err.split())


def test_cli_legal_disclosure_needs_a_demand(home, capsys):
    ctx = home("itechno", context=True)
    t = Troth(ctx)
    sid = _ann(t)
    send = ["send", sid, "--recipient", COURTS, "--purpose", "legal_disclosure"]
    send += ["--actor", "staff:po@privacy_office"]
    code, _, err = _troth(ctx.home, capsys, *send)
    assert code == 3 and "refused (demand_required)" in err
    assert "troth disclosures demand" in err and "--demand" in err
    assert _count(t, disclosures) == 0 and _mail(t) == 0
    demand = ["demand", "--authority", "Court", "--instrument", "court_order"]
    demand += ["--reference", "CV-1", "--scope", "Ann", "--category", "identity"]
    code, _, err = _troth(ctx.home, capsys, *demand, "--recipient", "shipping_company")
    assert code == 1 and COURTS in err and "authority" in err
    assert _count(t, legal_demands) == 0
    code, out, _ = _troth(ctx.home, capsys, *demand, "--recipient", COURTS)
    assert code == 0
    code, out, err = _troth(ctx.home, capsys, *send, "--demand", out.strip())
    assert code == 0, err
    values = json.loads(out)["values"]
    assert sorted(v["value"] for v in values if v["field"] == "name") == ["Ann Lee", "Annie"]
    assert _count(t, disclosures) == 1 and _mail(t) == 1


def test_console_offers_only_authorities_for_a_demand(home):
    from _http import PASSWORD, client_for, console_login

    ctx = home("itechno", context=True)
    t = Troth(ctx)
    t.access.accounts.add_user(
        "po@example.com", kind="staff", role="privacy_office", password=PASSWORD
    )
    with client_for(ctx) as c:
        token = console_login(c, "po@example.com")
        page = c.get("/console/demands").text
        choices = page.split('id="recipient"')[1].split("</select>")[0]
        assert f'value="{COURTS}"' in choices and "shipping_company" not in choices
        form = {
            "authority": "District Court",
            "instrument": "court_order",
            "reference": "CV-1",
            "scope": "Ann Lee",
            "categories": "identity",
            "csrf_token": token,
        }
        r = c.post("/console/demands", data={**form, "recipient": "shipping_company"})
        assert r.status_code == 422 and COURTS in r.text
        assert _count(t, legal_demands) == 0
        r = c.post("/console/demands", data={**form, "recipient": COURTS})
        assert r.status_code == 200 and "CV-1" in r.text
    assert _count(t, legal_demands) == 1


def test_a_disclosure_under_a_demand_it_may_not_go_under_is_refused_and_audited(home, db_url):
    from troth.errors import NotFound

    t = home("itechno", db_url)
    sid = _ann(t)
    d = _demand(t)
    tries = [
        # (recipient, purpose, demand id, the error, what its message says)
        (COURTS, "order_fulfilment", d.id, ValidationError, "legal-obligation purpose"),
        ("shipping_company", "legal_disclosure", d.id, ValidationError, COURTS),
        (COURTS, "legal_disclosure", "0" * 32, NotFound, "no legal demand"),
    ]
    for recipient, purpose, demand_id, error, says in tries:
        with pytest.raises(error, match=says):
            t.disclosures.disclose(sid, recipient, purpose, OFFICE, legal_demand_id=demand_id)
    denied = [e.entry for e in list_entries(t.ctx, action="disclose", outcome="deny", limit=100)]
    assert [(e.reason, e.subject_id, e.purpose) for e in denied] == [
        ("demand_required", sid, purpose) for _r, purpose, *_ in tries
    ]
    assert [e.details for e in denied] == [
        {"recipient": r, "legal_demand": demand_id} for r, _p, demand_id, *_ in tries
    ]
    assert _count(t, disclosures) == 0 and _mail(t) == 0
    assert t.disclosures.demand(d.id).status == "received"  # still to be answered


def test_a_demands_free_text_reference_is_not_kept_in_the_audit_log(home, db_url):
    """An officer may write a name into a demand's reference ("warrant re Ann Lee"); the
    audit log keeps its entries beyond any erasure, so it holds the reference's digest,
    never its text (before, the text was in the entry for good)."""
    import hashlib

    t = home("itechno", db_url)
    reference = "Warrant 17/2026 re Ann Lee, 1 Main St"
    demand = _demand(t, reference=reference)
    (entry,) = [
        e.entry for e in list_entries(t.ctx, limit=100) if e.entry.action == "legal_demand.record"
    ]
    assert entry.details["demand"] == demand.id
    assert entry.details["reference_sha256"] == hashlib.sha256(reference.encode()).hexdigest()
    assert "Ann Lee" not in json.dumps(entry.details) and "reference" not in entry.details
    assert t.disclosures.demand(demand.id).reference == reference  # the row keeps it


def test_a_court_order_reaches_what_the_law_keeps_after_erasure(home, db_url):
    """Trial #13: a person erased, their invoice kept for the tax law (restricted to
    billing). A recorded production order reaches what is still lawfully held, whatever it
    is kept for (GDPR Art. 17(3)(e), 18(2)): before, the gate refused it `subject_erased`
    (the demand's purpose keeps nothing itself) and the officer had to go around troth."""
    from requests_helpers import verified

    t = home("itechno", db_url)
    sid = t.collect("order_form", ORDER).subject_id
    t.requests.execute(verified(t, "close_account", ORDER["email"]))
    # Without a demand: still refused, for the demand's purpose and for billing's too.
    with pytest.raises(Refused) as exc:
        t.disclosures.disclose(sid, COURTS, "legal_disclosure", OFFICE)
    assert exc.value.reason == "demand_required"
    d = _demand(t)
    pkg = t.disclosures.disclose(sid, COURTS, "legal_disclosure", OFFICE, legal_demand_id=d.id)
    sent = {v.field: v.value for v in pkg.values}
    # What the tax law keeps (name, address, items), nothing erased (e-mail, card).
    assert sent == {"name": "Ann Lee", "address": "1 Main St", "order_items": "2 widgets"}
    assert pkg.legal_demand_id == d.id
    # A use (not a disclosure under the demand) of the kept invoice for the demand's
    # purpose is still refused: only the demand unbinds it.
    with pytest.raises(Refused) as used:
        t.use(sid, purpose="legal_disclosure", actor=OFFICE, categories=["identity"])
    assert used.value.reason == "subject_erased"
    # The demand still goes only to its own authority.
    with pytest.raises(ValidationError, match="disclose to that recipient"):
        t.disclosures.disclose(
            sid, "shipping_company", "legal_disclosure", OFFICE, legal_demand_id=d.id
        )
