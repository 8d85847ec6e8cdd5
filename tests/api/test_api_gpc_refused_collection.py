"""`Sec-GPC: 1` on a collection that is refused (trial #19 F2). The signal is the
person's, not the payload's: `POST /api/v1/collect/{point}` refused by troth (an
undeclared field, a consent missing, a bad value) or by the body's schema still opts the
person it names, or finds by their e-mail, out of sale/sharing, and a disclosure for it
is then refused. The answer is the collection's own refusal, the same with or without
the header. An unknown id, an erased person, another tenant's person, a caller without
the collect scope, or no signal: nothing is recorded. SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from _http import api_key, client_for, is_problem
from requests_helpers import verified
from troth.audit.entries import list_entries
from troth.consent.tables import consent_events
from troth.engine import Troth
from troth.errors import Refused
from troth.gate import SYSTEM

SALE = "personalisation"  # mindlink's sale/sharing purpose (cookie:marketing serves it)
GPC = {"Sec-GPC": "1"}
ANN = {"name": "Ann", "email": "ann@example.org"}


def gpc_events(ctx: Any, sid: str) -> list[str]:
    e = consent_events.c
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            sa.select(e.purpose).where(e.subject_id == sid, e.kind == "gpc_opt_out").order_by(e.id)
        )
        return [str(r[0]) for r in rows]


def all_events(ctx: Any) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(consent_events)).scalar())


def person(t: Troth, email: str = ANN["email"]) -> str:
    """Someone who signed up and gave the sale/sharing purpose's consent."""
    sid = t.collect("newsletter_signup", {**ANN, "email": email}, consents=["newsletter"])
    t.consent.grant(sid.subject_id, SALE)
    return str(sid.subject_id)


# Collections troth refuses, naming the person by id: (point, status, reason, data).
REFUSED_BY_TROTH = [
    ("website_tracking", 403, "field_not_declared", {"cookie_id": "c-1", "shoe_size": "42"}),
    ("contest_survey", 403, "no_consent", {**ANN, "answers": "yes"}),  # consent not given
    ("website_tracking", 422, None, ["not", "an", "object"]),
    ("newsletter_signup", 422, None, {**ANN, "email": "not an address"}),
]


@pytest.mark.parametrize(("point", "status", "reason", "data"), REFUSED_BY_TROTH)
def test_a_refused_collection_naming_the_person_still_records_the_signal(
    mindlink: Any, point: str, status: int, reason: str | None, data: Any
) -> None:
    t = Troth(mindlink)
    sid, other = person(t), person(t, "bo@example.org")
    url = f"/api/v1/collect/{point}"
    with client_for(mindlink) as c:
        h = api_key(c, ["collect", "use"])
        asked = {"data": data, "subject_id": sid}
        plain = c.post(url, json=asked, headers=h)
        assert gpc_events(mindlink, sid) == []  # no header: no signal
        r = c.post(url, json=asked, headers=h | GPC)
        problem = is_problem(r, status)
        if reason:
            assert problem["reason"] == reason
        # The same answer as without the header: the signal changes no refusal.
        assert r.status_code == plain.status_code and problem["code"] == plain.json()["code"]
        assert gpc_events(mindlink, sid) == [SALE, "cookie:marketing"]
        state = c.get(f"/api/v1/subjects/{sid}/consents", headers=h).json()["purposes"]
        assert {p["purpose"]: p["granted"] for p in state}[SALE] is False
        # Again: already opted out, nothing more.
        c.post(url, json=asked, headers=h | GPC)
        assert gpc_events(mindlink, sid) == [SALE, "cookie:marketing"]
    assert t.consent.state(sid)[SALE].granted is False
    assert t.consent.state(other)[SALE].granted  # another person: untouched
    assert gpc_events(mindlink, other) == []


@pytest.mark.parametrize(
    "body",
    [
        {"consents": "personalisation"},  # not a list: the schema's 422
        {"jurisdiction": "atlantis"},  # no such regime: the schema's 422
        {"location": "x" * 65},
    ],
)
def test_a_body_the_schema_refuses_still_records_the_signal(
    mindlink: Any, body: dict[str, Any]
) -> None:
    t = Troth(mindlink)
    sid = person(t)
    with client_for(mindlink) as c:
        h = api_key(c, ["collect"])
        asked = {"data": {"cookie_id": "c-1"}, "subject_id": sid, **body}
        r = c.post("/api/v1/collect/website_tracking", json=asked, headers=h | GPC)
        assert is_problem(r, 422)["code"] == "invalid_input"
    assert gpc_events(mindlink, sid) == [SALE, "cookie:marketing"]


def test_the_person_found_by_their_email_on_a_refused_sign_up(mindlink: Any) -> None:
    """No subject id: the person the form's e-mail finds (as the collection would have
    found them), even when the form is refused; a new address finds nobody."""
    t = Troth(mindlink)
    sid = person(t)
    with client_for(mindlink) as c:
        h = api_key(c, ["collect"])
        bad = {**ANN, "email": "ANN@example.org", "favourite_colour": "red"}
        r = c.post("/api/v1/collect/newsletter_signup", json={"data": bad}, headers=h | GPC)
        is_problem(r, 403)
        assert gpc_events(mindlink, sid) == [SALE, "cookie:marketing"]
        before = all_events(mindlink)
        new = {**bad, "email": "nobody@example.org"}
        r = c.post("/api/v1/collect/newsletter_signup", json={"data": new}, headers=h | GPC)
        is_problem(r, 403)
        assert all_events(mindlink) == before  # nobody found: nothing stored


@pytest.mark.parametrize("header", [{}, {"Sec-GPC": "0"}, {"Sec-GPC": "true"}])
def test_no_signal_on_a_refused_collection_records_nothing(
    mindlink: Any, header: dict[str, str]
) -> None:
    t = Troth(mindlink)
    sid = person(t)
    before = all_events(mindlink)
    with client_for(mindlink) as c:
        h = api_key(c, ["collect"])
        body = {"data": {"cookie_id": "c-1", "shoe_size": "42"}, "subject_id": sid}
        is_problem(c.post("/api/v1/collect/website_tracking", json=body, headers=h | header), 403)
    assert all_events(mindlink) == before


def test_unknown_id_and_a_caller_who_may_not_collect_record_nothing(mindlink: Any) -> None:
    t = Troth(mindlink)
    sid = person(t)
    before = all_events(mindlink)
    with client_for(mindlink) as c:
        h = api_key(c, ["collect"])
        body = {"data": {"cookie_id": "c-1"}, "subject_id": "f" * 32}
        with_header = c.post("/api/v1/collect/website_tracking", json=body, headers=h | GPC)
        without = c.post("/api/v1/collect/website_tracking", json=body, headers=h)
        assert is_problem(with_header, 404)["detail"] == is_problem(without, 404)["detail"]
        # A key that may read but not collect: refused, and its header records nothing.
        reader = api_key(c, ["use"])
        body = {"data": {"cookie_id": "c-1", "shoe_size": "42"}, "subject_id": sid}
        is_problem(c.post("/api/v1/collect/website_tracking", json=body, headers=reader | GPC), 403)
        # A key limited to another purpose may not collect through this point either.
        other = api_key(c, ["collect:enquiries"])
        r = c.post("/api/v1/collect/website_tracking", json=body, headers=other | GPC)
        is_problem(r, 403)
        # No credentials at all.
        is_problem(c.post("/api/v1/collect/website_tracking", json=body, headers=GPC), 401)
    assert all_events(mindlink) == before


def test_an_erased_person_records_nothing_and_no_second_refusal(home: Any, db_url: str) -> None:
    t = home("mindlink", db_url)
    sid = person(t)
    t.requests.execute(verified(t, "delete", ANN["email"]))
    before = all_events(t.ctx)

    def consent_refusals() -> int:
        entries = list_entries(t.ctx, subject_id=sid, limit=10_000)
        return sum(1 for e in entries if e.entry.action == "consent.refused")

    refusals = consent_refusals()
    with client_for(t.ctx) as c:
        h = api_key(c, ["collect"])
        body = {"data": {"cookie_id": "c-1", "shoe_size": "42"}, "subject_id": sid}
        r = c.post("/api/v1/collect/website_tracking", json=body, headers=h | GPC)
        assert r.status_code in (403, 404, 422), r.text
        r = c.post(
            "/api/v1/collect/newsletter_signup",
            json={"data": {**ANN, "favourite_colour": "red"}},
            headers=h | GPC,
        )
        is_problem(r, 403)
    assert all_events(t.ctx) == before
    assert consent_refusals() == refusals


def _sold_improvement(policy: dict[str, Any]) -> None:
    """The phone service's service improvement marked sale/sharing (a GPC signal opts
    out of it)."""
    for p in policy["purposes"]:
        if p["id"] == "service_improvement":
            p["sale_or_sharing"] = True


def test_another_tenants_person_is_never_reached(home: Any, db_url: str) -> None:
    """A key bound to one customer names another customer's person (by id or by e-mail)
    with the header: the answer is the unknown id's 404 (or the refusal), with or
    without it, and nothing is recorded for that person."""
    phone = home("phone-service", db_url, edit=_sold_improvement, context=True)
    t = Troth(phone)
    acme = t.access.tenants.create_tenant("Acme", "office@acme.example")
    bolt = t.access.tenants.create_tenant("Bolt", "office@bolt.example")
    signup = {"company_name": "Acme Ltd", "name": "Ann", "email": "ann@acme.example"}
    with client_for(phone) as c:
        mine = api_key(c, ["collect"], tenant_id=acme)
        r = c.post("/api/v1/collect/customer_signup", json={"data": signup}, headers=mine)
        assert r.status_code == 201, r.text
        sid = r.json()["subject_id"]
        before = all_events(phone)
        theirs = api_key(c, ["collect"], tenant_id=bolt)
        body = {"data": {**signup, "shoe_size": "42"}, "subject_id": sid}
        a = c.post("/api/v1/collect/customer_signup", json=body, headers=theirs | GPC)
        b = c.post("/api/v1/collect/customer_signup", json=body, headers=theirs)
        assert is_problem(a, 404)["detail"] == is_problem(b, 404)["detail"]
        # By e-mail, in the other customer's tenant: the collection's refusal, nobody found.
        found = {"data": {**signup, "shoe_size": "42"}}
        is_problem(c.post("/api/v1/collect/customer_signup", json=found, headers=theirs | GPC), 403)
        # Naming the other tenant in the body changes nothing for a bound key.
        named = {**found, "tenant_id": acme}
        r = c.post("/api/v1/collect/customer_signup", json=named, headers=theirs | GPC)
        assert r.status_code in (403, 404, 422), r.text
        # A key bound to no tenant, naming the wrong tenant for her: nothing either.
        vendor = api_key(c, ["collect"])
        wrong = {**body, "tenant_id": bolt}
        r = c.post("/api/v1/collect/customer_signup", json=wrong, headers=vendor | GPC)
        assert r.status_code in (403, 404, 422), r.text
        assert all_events(phone) == before
        # Her own customer's key: her signal is recorded, refusal or not.
        r = c.post("/api/v1/collect/customer_signup", json=body, headers=mine | GPC)
        is_problem(r, 403)
    assert gpc_events(phone, sid) == ["service_improvement"]


def test_the_trials_steps_the_ad_partner_gets_nothing_after_a_refused_collection(
    home: Any, db_url: str
) -> None:
    """Trial #19 F2 with ixanet's partner offers (sold to affiliates and suppliers): a
    Californian's form refused with the header, then a disclosure for the sale purpose:
    refused ``no_consent`` (before the fix: disclosed)."""
    t = home("ixanet", db_url)
    optin = {"name": "Cora", "email": "cora@example.com"}
    sid = t.collect(
        "marketing_optin", optin, consents=["marketing", "partner_offers"], jurisdiction="ccpa"
    ).subject_id
    with client_for(t.ctx) as c:
        h = api_key(c, ["collect"])
        body = {"data": {**optin, "push": "apns:cora"}, "subject_id": sid}
        r = c.post("/api/v1/collect/marketing_optin", json=body, headers=h | GPC)
        assert is_problem(r, 403)["reason"] == "field_not_declared"
    assert not t.consent.state(sid)["partner_offers"].granted
    with pytest.raises(Refused) as refused:
        t.disclosures.disclose(sid, "affiliates_and_suppliers", "partner_offers", SYSTEM)
    assert refused.value.reason == "no_consent"
