"""The customer pages: log in by e-mail (the customer found from the membership, chosen
after the password when an address belongs to several), a page for members who are not
admins, logout back to the customer login, grant durations in words."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from _http import PASSWORD, client_for, csrf_from
from troth.access import actor_for
from troth.audit.entries import list_entries
from troth.clock import ManualClock
from troth.engine import Troth
from troth.web.words import duration_words

OTHER_PASSWORD = "a different long passphrase"


@pytest.fixture
def world(home: Any) -> Any:
    ctx = home("phone-service", clock=ManualClock(), context=True)
    t = Troth(ctx)
    acme = t.access.tenants.create_tenant("Acme Telecom", "pat@shared.example")
    bolt = t.access.tenants.create_tenant("Bolt Networks", "pat@shared.example")
    solo = t.access.tenants.create_tenant("Solo Ltd", "sam@solo.example")
    for tid in (acme, bolt):
        t.access.accounts.add_user(
            "pat@shared.example",
            kind="tenant_member",
            tenant_id=tid,
            tenant_role="admin",
            password=PASSWORD,
        )
    t.access.accounts.add_user(
        "sam@solo.example",
        kind="tenant_member",
        tenant_id=solo,
        tenant_role="admin",
        password=PASSWORD,
        display_name="Sam Admin",
    )
    t.access.accounts.add_user(
        "max@solo.example",
        kind="tenant_member",
        tenant_id=solo,
        tenant_role="member",
        password=OTHER_PASSWORD,
    )
    yield ctx, t, {"acme": acme, "bolt": bolt, "solo": solo}
    ctx.engine.dispose()


def _login(c: Any, email: str, password: str, **extra: str) -> Any:
    page = c.get("/tenant/login").text
    return c.post(
        "/tenant/login",
        data={"email": email, "password": password, "csrf_token": csrf_from(page), **extra},
        headers={"Accept": "text/html"},
        follow_redirects=False,
    )


def test_login_by_email_alone_finds_the_customer(world: Any) -> None:
    ctx, _t, _ids = world
    with client_for(ctx) as c:
        form = c.get("/tenant/login").text
        assert "Customer ID" not in form and 'name="tenant_id"' not in form
        r = _login(c, "sam@solo.example", PASSWORD)
        assert r.status_code == 303 and r.headers["location"] == "/tenant"
        home = c.get("/tenant")
        assert home.status_code == 200 and "Solo Ltd" in home.text
        assert "Support access requests" in home.text


def test_an_address_of_two_customers_chooses_after_the_password(world: Any) -> None:
    ctx, t, ids = world
    with client_for(ctx) as c:
        r = _login(c, "pat@shared.example", PASSWORD)
        assert r.status_code == 200
        assert "Acme Telecom" in r.text and "Bolt Networks" in r.text
        assert "Solo Ltd" not in r.text
        ticket = r.text.split('name="ticket" value="')[1].split('"')[0]
        bolt_admin = t.access.accounts.find_user("pat@shared.example", tenant_id=ids["bolt"])
        acme_admin = t.access.accounts.find_user("pat@shared.example", tenant_id=ids["acme"])
        choose = {"ticket": ticket, "csrf_token": csrf_from(r.text)}
        # A membership the note does not name (another person's) is refused.
        sam = t.access.accounts.find_user("sam@solo.example", tenant_id=ids["solo"])
        bad = c.post(
            "/tenant/login/choose", data={**choose, "membership": sam.id}, follow_redirects=False
        )
        assert bad.status_code == 401 and "log in again" in bad.text
        # A tampered note (another id spliced in) is refused.
        forged = ticket.replace(acme_admin.id, sam.id)
        bad = c.post(
            "/tenant/login/choose",
            data={**choose, "ticket": forged, "membership": sam.id},
            follow_redirects=False,
        )
        assert bad.status_code == 401
        ok = c.post(
            "/tenant/login/choose",
            data={**choose, "membership": bolt_admin.id},
            follow_redirects=False,
        )
        assert ok.status_code == 303 and ok.headers["location"] == "/tenant"
        assert "Bolt Networks" in c.get("/tenant").text
        # The note expires.
        ctx.clock.advance(minutes=6)
        late = c.post(
            "/tenant/login/choose",
            data={**choose, "membership": acme_admin.id},
            follow_redirects=False,
        )
        assert late.status_code == 401


def test_a_wrong_password_for_an_address_of_two_customers_reveals_no_customer(
    world: Any,
) -> None:
    ctx, _t, ids = world
    with client_for(ctx) as c:
        wrong = _login(c, "pat@shared.example", "not the password at all")
        unknown = _login(c, "nobody@shared.example", "not the password at all")
    for r in (wrong, unknown):
        assert r.status_code == 401
        assert "wrong e-mail or password" in r.text
        for name in ("Acme Telecom", "Bolt Networks", "Solo Ltd"):
            assert name not in r.text
        assert ids["acme"] not in r.text and ids["bolt"] not in r.text
    denied = [e.entry for e in list_entries(ctx, limit=50) if e.entry.action.endswith("login")]
    assert any(e.outcome == "deny" for e in denied)


def test_a_failed_login_checks_as_many_passwords_whatever_the_address(
    world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unknown address, one of one customer and one of two cost the same argon2 checks
    when the password is wrong, so the time of a login tells nobody whether, or of how many
    customers, an address is a member (up to MEMBER_CHECKS customers)."""
    from argon2 import PasswordHasher

    from troth.access import passwords

    checks: list[int] = []

    class Counting(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> bool:
            checks.append(1)
            return super().verify(hash, password)

    monkeypatch.setattr(passwords, "_HASHER", Counting(time_cost=1, memory_cost=8 * 1024))
    ctx, _t, _ids = world
    cost: dict[str, int] = {}
    with client_for(ctx) as c:
        for email in ("nobody@shared.example", "max@solo.example", "pat@shared.example"):
            checks.clear()
            assert _login(c, email, "not the password at all").status_code == 401
            cost[email] = len(checks)
    assert len(set(cost.values())) == 1, cost
    assert cost["nobody@shared.example"] >= 3


def test_a_member_who_is_not_an_admin_gets_a_page_not_json(world: Any) -> None:
    ctx, _t, _ids = world
    with client_for(ctx) as c:
        assert _login(c, "max@solo.example", OTHER_PASSWORD).status_code == 303
        r = c.get("/tenant", headers={"Accept": "text/html"})
        assert r.status_code == 403 and r.headers["content-type"].startswith("text/html")
        assert "for its admins" in r.text and "What you may do" in r.text
        assert "Sam Admin" in r.text and "sam@solo.example" in r.text
        assert "approve-" not in r.text and "Invite a colleague" not in r.text
        # The admin pages' actions stay closed to a member.
        assert c.get("/tenant/export.json").status_code == 403
        # Log out lands on the customer login, and the session has ended.
        out = c.post(
            "/tenant/logout", data={"csrf_token": csrf_from(r.text)}, follow_redirects=False
        )
        assert out.status_code == 303 and out.headers["location"] == "/tenant/login"
        again = c.get("/tenant", follow_redirects=False)
        assert again.status_code == 303 and again.headers["location"] == "/tenant/login"


def test_logout_without_the_form_token_is_refused(world: Any) -> None:
    ctx, _t, _ids = world
    with client_for(ctx) as c:
        _login(c, "sam@solo.example", PASSWORD)
        r = c.post("/tenant/logout", data={"csrf_token": "forged"}, follow_redirects=False)
        assert r.status_code == 403
        assert c.get("/tenant").status_code == 200  # still signed in


def test_grant_durations_read_in_words(world: Any) -> None:
    ctx, t, ids = world
    vendor = actor_for(
        t.access.accounts.add_user("vendor@phone.example", kind="vendor_admin", password=PASSWORD)
    )
    t.access.grants.request_grant(
        ids["solo"], by=vendor, reason="ticket 9", duration=timedelta(days=3)
    )
    t.access.grants.request_grant(
        ids["solo"], by=vendor, reason="ticket 10", duration=timedelta(hours=2, minutes=30)
    )
    with client_for(ctx) as c:
        _login(c, "sam@solo.example", PASSWORD)
        page = c.get("/tenant").text
    assert "<td>3 days</td>" in page and "<td>2 hours 30 minutes</td>" in page
    assert "0:00:00" not in page and "day, " not in page


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (timedelta(days=3), "3 days"),
        (timedelta(hours=2, minutes=30), "2 hours 30 minutes"),
        (timedelta(days=1, hours=1, minutes=1), "1 day 1 hour 1 minute"),
        (timedelta(seconds=45), "45 seconds"),
        (timedelta(minutes=1, seconds=5), "1 minute"),
        (timedelta(0), "no time"),
        (timedelta(seconds=-5), "no time"),
        (None, "no time"),
        (7200, "2 hours"),
    ],
)
def test_duration_words(value: Any, words: str) -> None:
    assert duration_words(value) == words


def test_a_revoked_membership_is_no_choice(world: Any) -> None:
    """An address in two customers, one of which revoked it: straight into the other."""
    ctx, t, ids = world
    admin = actor_for(t.access.accounts.find_user("sam@solo.example", tenant_id=ids["solo"]))
    t.access.accounts.add_user(
        "pat@shared.example",
        kind="tenant_member",
        tenant_id=ids["solo"],
        tenant_role="member",
        password=PASSWORD,
    )
    acme = t.access.accounts.find_user("pat@shared.example", tenant_id=ids["acme"])
    solo = t.access.accounts.find_user("pat@shared.example", tenant_id=ids["solo"])
    t.access.tenants.revoke_member(ids["solo"], solo.id, by=admin)
    t.access.accounts.disable_user(acme.id)
    with client_for(ctx) as c:
        r = _login(c, "pat@shared.example", PASSWORD)
        assert r.status_code == 303, r.text
        assert "Bolt Networks" in c.get("/tenant").text
