"""P11 (CCPA 11 CCR 7025): a Global Privacy Control signal (``Sec-GPC: 1``) on a request
from a person troth knows (signed in to the privacy centre; the cookie banner they answer;
any page they open signed in) is their opt-out of every ``sale_or_sharing`` purpose: recorded
through the ledger's GPC path (the same event, audited), once per person and purpose however
many pages they open, and shown to them. A disclosure for such a purpose is refused after.
No header, another value, an anonymous visitor, an erased person: nothing. ixanet's
``partner_offers`` is sold/shared (to ``affiliates_and_suppliers``). SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from _http import client_for, csrf_from, privacy_sign_in
from requests_helpers import verified
from troth.audit.entries import list_entries
from troth.consent.tables import consent_events
from troth.engine import Troth
from troth.errors import Refused
from troth.gate import SYSTEM

GPC = {"Sec-GPC": "1"}


@pytest.fixture
def anna(home: Any, db_url: str) -> tuple[Troth, str, str]:
    """(troth, Anna who agreed to partner offers, Ben her neighbour who did too)."""
    t = home("ixanet", db_url)
    ids = []
    for addr in ("anna@kunde.example", "ben@kunde.example"):
        ids.append(
            str(
                t.collect(
                    "marketing_optin",
                    {"name": "A", "email": addr},
                    consents=["marketing", "partner_offers"],
                    jurisdiction="ccpa",
                ).subject_id
            )
        )
    assert t.consent.state(ids[0])["partner_offers"].granted
    return t, ids[0], ids[1]


def gpc_events(t: Troth, sid: str) -> list[tuple[str, str]]:
    e = consent_events.c
    with t.ctx.engine.connect() as conn:
        rows = conn.execute(
            sa.select(e.purpose, e.method)
            .where(e.subject_id == sid, e.kind == "gpc_opt_out")
            .order_by(e.id)
        ).all()
    return [(str(r[0]), str(r[1])) for r in rows]


def audited_gpc(t: Troth, sid: str) -> list[Any]:
    return [
        x.entry
        for x in list_entries(t.ctx, subject_id=sid, limit=10_000)
        if "gpc" in str(x.entry.details or "")
    ]


def test_signed_in_centre_records_the_signal_once_and_says_so(anna: Any) -> None:
    t, sid, ben = anna
    with client_for(t.ctx) as c:
        privacy_sign_in(c, t.ctx, "anna@kunde.example")
        assert gpc_events(t, sid) == []  # signing in without the header: nothing
        first = c.get("/privacy/me", headers=GPC)
        second = c.get("/privacy/me", headers=GPC)
        c.get("/privacy", headers=GPC)
    assert first.status_code == second.status_code == 200
    assert gpc_events(t, sid) == [("partner_offers", "gpc")]  # two views, one event
    assert not t.consent.state(sid)["partner_offers"].granted
    assert t.consent.state(sid)["marketing"].granted  # not sale or sharing: untouched
    assert t.consent.state(ben)["partner_offers"].granted  # another person: untouched
    for page in (first.text, second.text):
        assert 'id="gpc-honoured"' in page and "Global Privacy Control" in page
        assert "Let affiliate organisations and preferred suppliers offer" in page
    assert audited_gpc(t, sid), "the opt-out is audited"
    with pytest.raises(Refused) as refused:
        t.disclosures.disclose(sid, "affiliates_and_suppliers", "partner_offers", SYSTEM)
    assert refused.value.reason == "no_consent", refused.value.reason
    t.disclosures.disclose(ben, "affiliates_and_suppliers", "partner_offers", SYSTEM)


def test_cookie_banner_of_a_signed_in_person_records_it(anna: Any) -> None:
    """The trial's steps: the banner's "Accept all" with the header records the opt-out
    too, beside the cookie choices."""
    t, sid, _ = anna
    with client_for(t.ctx) as c:
        privacy_sign_in(c, t.ctx, "anna@kunde.example")
        page = c.get("/privacy/cookies").text  # no header yet: nothing
        assert gpc_events(t, sid) == [] and 'id="gpc-honoured"' not in page
        r = c.post(
            "/cookies",
            data={"csrf_token": csrf_from(page), "action": "accept", "next": "/privacy/me"},
            headers=GPC,
            follow_redirects=False,
        )
    assert r.status_code == 303
    assert gpc_events(t, sid) == [("partner_offers", "gpc")]
    with pytest.raises(Refused):
        t.disclosures.disclose(sid, "affiliates_and_suppliers", "partner_offers", SYSTEM)


@pytest.mark.parametrize("header", [{}, {"Sec-GPC": "0"}, {"Sec-GPC": "true"}])
def test_without_the_signal_nothing_is_recorded(anna: Any, header: dict[str, str]) -> None:
    t, sid, _ = anna
    with client_for(t.ctx) as c:
        privacy_sign_in(c, t.ctx, "anna@kunde.example")
        page = c.get("/privacy/me", headers=header).text
        c.get("/privacy/cookies", headers=header)
    assert gpc_events(t, sid) == [] and 'id="gpc-honoured"' not in page
    assert t.consent.state(sid)["partner_offers"].granted


def test_an_anonymous_visitor_records_nothing(anna: Any) -> None:
    t, sid, ben = anna
    with client_for(t.ctx) as c:
        page = c.get("/privacy", headers=GPC).text
    assert 'id="gpc-honoured"' not in page
    assert gpc_events(t, sid) == gpc_events(t, ben) == []


def test_own_opt_in_after_the_signal_stands(anna: Any) -> None:
    """CCPA 7025(c)(3): the person's own (two-step) opt-in after the signal is not undone
    by their next page view with the same browser."""
    t, sid, _ = anna
    with client_for(t.ctx) as c:
        privacy_sign_in(c, t.ctx, "anna@kunde.example")
        c.get("/privacy/me", headers=GPC)
        t.consent.grant(sid, "partner_offers", two_step=True, method="web_form")
        page = c.get("/privacy/me", headers=GPC).text
    assert gpc_events(t, sid) == [("partner_offers", "gpc")]
    assert t.consent.state(sid)["partner_offers"].granted
    assert 'id="gpc-honoured"' not in page  # nothing stopped is claimed


def test_an_erased_person_gets_nothing_recorded_or_refused(anna: Any) -> None:
    t, sid, _ = anna
    t.requests.execute(verified(t, "delete", "anna@kunde.example"))
    with t.ctx.engine.connect() as conn:
        before = conn.execute(
            sa.select(sa.func.count())
            .select_from(consent_events)
            .where(consent_events.c.subject_id == sid)
        ).scalar_one()
    refusals = [e for e in list_entries(t.ctx, subject_id=sid, limit=10_000)]
    assert t.consent.honour_gpc(sid, signal="1") == []
    assert t.consent.honour_gpc("f" * 32, signal="1") == []  # unknown: nothing either
    with t.ctx.engine.connect() as conn:
        after = conn.execute(
            sa.select(sa.func.count())
            .select_from(consent_events)
            .where(consent_events.c.subject_id == sid)
        ).scalar_one()
    assert after == before
    assert len(list_entries(t.ctx, subject_id=sid, limit=10_000)) == len(refusals)


def test_the_signal_is_recorded_for_every_record_of_the_signed_in_address(home: Any) -> None:
    """Trial 7: one address on file with two customers; the signal sent to the record shown
    was recorded for that record only, and the other customer (a CCPA business) kept selling.
    The sign-in proved the address for both: the opt-out is recorded for both, once."""
    t = home("ixanet")
    leeds = t.access.tenants.create_tenant("Leeds Care", "office@leeds.example")
    austin = t.access.tenants.create_tenant("Austin Diner", "office@austin.example")
    pat = {"name": "Pat", "email": "pat@mail.example"}
    both = [
        str(
            t.collect(
                "marketing_optin",
                pat,
                consents=["marketing", "partner_offers"],
                jurisdiction="ccpa",
                tenant_id=tenant,
            ).subject_id
        )
        for tenant in (leeds, austin)
    ]
    other = str(
        t.collect(
            "marketing_optin",
            {"name": "Ben", "email": "ben@kunde.example"},
            consents=["partner_offers"],
            jurisdiction="ccpa",
            tenant_id=austin,
        ).subject_id
    )
    with client_for(t.ctx) as c:
        privacy_sign_in(c, t.ctx, pat["email"])
        for _ in range(2):
            assert c.get("/privacy/me", headers=GPC).status_code == 200
    for sid in both:
        assert gpc_events(t, sid) == [("partner_offers", "gpc")], sid
        assert not t.consent.state(sid)["partner_offers"].granted
    assert gpc_events(t, other) == []  # another address: untouched
