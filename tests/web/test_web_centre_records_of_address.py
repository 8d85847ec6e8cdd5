"""One e-mail address on file with several customers (tenants) of a multi-tenant service,
and with the organisation itself: signing in to the privacy centre shows one record (the
organisation's own first, else the oldest) and lists the others, and the person may move
to each, to see, download or delete it. Only live records of the same address are
reachable; anything else is the unknown record's 404, audited; the old session ends."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from _http import client_for, csrf_from, privacy_sign_in, section
from troth.audit.tables import audit_entries
from troth.clock import ManualClock
from troth.engine import Troth

MIA = "mia@example.com"


@pytest.fixture
def phone(home: Any, db_url: str) -> Any:
    ctx = home("phone-service", db_url, clock=ManualClock(), context=True)
    yield ctx
    ctx.engine.dispose()


def _mia(t: Troth, tenant: str | None, company: str, email: str = MIA) -> str:
    data = {"company_name": company, "name": "Mia", "email": email}
    return t.collect("customer_signup", data, tenant_id=tenant).subject_id


def _switch(c: Any, csrf: str, record: str) -> Any:
    return c.post("/privacy/me/record", data={"record": record, "csrf_token": csrf})


def _entries(ctx: Any, action: str) -> list[tuple[str, str | None, str | None]]:
    a = audit_entries.c
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            select(a.outcome, a.subject_id, a.reason).where(a.action == action).order_by(a.seq)
        )
        return [tuple(r) for r in rows]


def test_the_centre_lists_each_record_of_the_address_and_moves_between_them(phone: Any) -> None:
    t = Troth(phone)
    a = t.access.tenants.create_tenant("Gym A", "office@gyma.example")
    b = t.access.tenants.create_tenant("Gym B", "office@gymb.example")
    in_a = _mia(t, a, "Alpha Fitness Ltd")
    in_b = _mia(t, b, "Bravo Sports Ltd")
    own = _mia(t, None, "Own Holdings Ltd")
    with client_for(phone) as c:
        csrf = privacy_sign_in(c, phone, MIA)
        page = c.get("/privacy/me").text
        # The organisation's own record is shown first; the two customers' are offered.
        assert "Own Holdings Ltd" in section(page, "held-h")
        assert "Alpha Fitness Ltd" not in page and "Bravo Sports Ltd" not in page
        where = section(page, "where-h")
        assert "Show the record held for Gym A" in where and "Gym B" in where
        assert in_a in where and in_b in where  # the choices (in a form body, never a URL)
        old_cookie = c.cookies.get("troth_privacy")
        moved = _switch(c, csrf, in_b)
        assert moved.url.path == "/privacy/me", moved.text
        assert "Bravo Sports Ltd" in section(moved.text, "held-h")
        assert "Own Holdings Ltd" not in section(moved.text, "held-h")
        assert c.cookies.get("troth_privacy") != old_cookie  # a new session for a new person
        # B's record's download holds B's data only.
        export = c.get("/privacy/me/export.json").json()
        assert export["subject_id"] == in_b
        assert {v["value"] for v in export["values"]} >= {"Bravo Sports Ltd"}
        assert "Own Holdings Ltd" not in str(export)
        # Deleting from here erases B's record only.
        csrf = csrf_from(moved.text)
        c.post("/privacy/me/requests", data={"kind": "delete", "csrf_token": csrf})
    (asked,) = t.requests.of_subject(in_b)  # verified by the sign-in
    assert asked.kind == "delete" and asked.tenant_id == b
    t.requests.execute(asked.id)
    assert t.find(email=MIA) == own and t.find(email=MIA, tenant_id=a) == in_a
    # The move is a sign-in to B's record, in B's trail; it names no other record.
    signins = _entries(phone, "privacy.signin")
    assert ("allow", in_b, None) in signins
    with phone.engine.connect() as conn:
        details = conn.execute(
            select(audit_entries.c.details).where(
                audit_entries.c.action == "privacy.signin", audit_entries.c.subject_id == in_b
            )
        ).scalar_one()
    assert own not in str(details) and in_a not in str(details)


def test_only_a_live_record_of_the_same_address_can_be_reached(phone: Any) -> None:
    t = Troth(phone)
    a = t.access.tenants.create_tenant("Gym A", "office@gyma.example")
    b = t.access.tenants.create_tenant("Gym B", "office@gymb.example")
    in_a = _mia(t, a, "Alpha Fitness Ltd")
    in_b = _mia(t, b, "Bravo Sports Ltd")
    stranger = _mia(t, b, "Stranger Ltd", email="sam@example.com")
    with client_for(phone) as c:
        csrf = privacy_sign_in(c, phone, MIA)
        assert "Alpha Fitness Ltd" in c.get("/privacy/me").text  # the oldest: no own record
        # Another person's record, a malformed id, an empty one: the unknown record's 404.
        for record in (stranger, "not-an-id", "", in_a + "x" * 500):
            r = _switch(c, csrf, record)
            assert r.status_code == 404, (record, r.status_code)
            assert "Stranger Ltd" not in r.text
        # The session still shows the same record, and each refusal is audited under it.
        assert "Alpha Fitness Ltd" in c.get("/privacy/me").text
        denied = _entries(phone, "privacy.switch")
        assert denied == [("deny", in_a, "not_found")] * 4
        # Without the form's CSRF token, nothing moves.
        r = c.post("/privacy/me/record", data={"record": in_b})
        assert r.status_code == 403
        assert "Alpha Fitness Ltd" in c.get("/privacy/me").text
        # An erased record is neither listed nor reachable.
        req = t.requests.open("delete", subject_id=in_b, tenant_id=b)  # Gym B's request
        t.requests.verify_by_staff(req.id, staff="ada", reason="id seen")
        t.requests.execute(req.id)
        page = c.get("/privacy/me").text
        assert 'id="where-h"' not in page  # one live record left: nothing to choose
        assert _switch(c, csrf, in_b).status_code == 404
    # Signed out, the form is refused as for anyone signed out.
    with client_for(phone) as c:
        r = c.post("/privacy/me/record", data={"record": in_a, "csrf_token": csrf})
        assert r.status_code in (401, 403)


def test_only_the_address_signed_in_with_reaches_other_records(phone: Any) -> None:
    """A person can give several addresses; signing in proves one. The records offered are
    that address's: another address they once typed into a form (someone else's, say)
    reaches no record held for it."""
    t = Troth(phone)
    a = t.access.tenants.create_tenant("Gym A", "office@gyma.example")
    b = t.access.tenants.create_tenant("Gym B", "office@gymb.example")
    in_a = _mia(t, a, "Alpha Fitness Ltd")
    victim = _mia(t, b, "Bravo Sports Ltd", email="vic@example.com")
    # Mia's record at A now also holds vic's address (a typo, or on purpose).
    data = {"company_name": "Alpha Fitness Ltd", "name": "Mia", "email": "vic@example.com"}
    t.collect("customer_signup", data, tenant_id=a, subject_id=in_a)
    assert t.find(email=MIA, tenant_id=a) == in_a == t.find(email="vic@example.com", tenant_id=a)
    with client_for(phone) as c:
        csrf = privacy_sign_in(c, phone, MIA)
        page = c.get("/privacy/me").text
        assert "Alpha Fitness Ltd" in section(page, "held-h")
        assert 'id="where-h"' not in page and victim not in page  # nothing to choose
        r = _switch(c, csrf, victim)
        assert r.status_code == 404 and "Bravo Sports Ltd" not in r.text
    assert _entries(phone, "privacy.switch") == [("deny", in_a, "not_found")]
    # Signed in with vic's address (proving it), both of its records are offered.
    with client_for(phone) as c:
        privacy_sign_in(c, phone, "vic@example.com")
        where = section(c.get("/privacy/me").text, "where-h")
        assert victim in where and "Show the record held for Gym B" in where
