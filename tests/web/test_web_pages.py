"""The web pages through the ASGI client: security headers, session-only cookies, CSRF on
every form, one-click unsubscribe, gpc.json, the cookie banner, privacy-centre sign-in by
e-mail code, the console and the tenant admin pages."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from _http import PASSWORD, challenge_from, client_for, csrf_from
from outbox_helpers import bodies
from troth.audit.log import transaction
from troth.clock import ManualClock
from troth.consent.tables import consent_events
from troth.consent.unsubscribe import issue_token
from troth.engine import Troth
from troth.store.ids import short_id

SUPPORT = {"name": "Ada Lovelace", "email": "ada@example.com", "message": "Hello"}


def events(ctx) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(consent_events)).scalar_one())


def newsletter_reader(ctx) -> tuple[str, str]:
    t = Troth(ctx)
    sid = t.collect("support_request", SUPPORT).subject_id
    t.consent.grant(sid, "newsletter")
    with transaction(ctx) as conn:
        token = issue_token(conn, ctx, sid, "newsletter")
    return sid, token


def test_security_headers_and_gpc_json(lite) -> None:
    with client_for(lite) as c:
        for path in ("/", "/privacy", "/console/login", "/.well-known/gpc.json", "/nowhere"):
            r = c.get(path, headers={"Accept": "text/html"})
            csp = r.headers["content-security-policy"]
            assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["referrer-policy"]
        gpc = c.get("/.well-known/gpc.json").json()
        assert gpc["gpc"] is True and re.fullmatch(r"\d{4}-\d{2}-\d{2}", gpc["lastUpdate"])
        page = c.get("/nowhere", headers={"Accept": "text/html"})
        assert page.status_code == 404 and "Traceback" not in page.text


def test_unsubscribe_get_never_unsubscribes_post_does(lite) -> None:
    sid, token = newsletter_reader(lite)
    with client_for(lite) as c:
        before = events(lite)
        page = c.get(f"/u/{token}")
        assert page.status_code == 200 and "Unsubscribe" in page.text
        c.get(f"/u/{token}")
        assert events(lite) == before
        c.cookies.clear()
        r = c.post(f"/u/{token}")  # no cookie, no CSRF token: the token is the credential
        assert r.status_code == 200 and 'id="unsubscribed"' in r.text
        assert events(lite) == before + 1
        assert Troth(lite).consent.state(sid)["newsletter"].granted is False
        again = c.post(f"/u/{token}")
        assert "already" in again.text and events(lite) == before + 1
        bad = c.post("/u/not-a-token", headers={"Accept": "text/html"})
        assert bad.status_code == 404 and "Traceback" not in bad.text


def test_cookie_banner_blocks_until_accepted_and_removes_refused(lite) -> None:
    with client_for(lite) as c:
        page = c.get("/privacy").text
        assert 'class="banner"' in page
        assert re.search(r'<script type="text/plain" data-category="analytics"', page)
        r = c.post(
            "/cookies",
            data={"action": "accept", "next": "/privacy"},
            headers={"Accept": "text/html"},
        )
        assert r.status_code == 403  # no CSRF token
        token = csrf_from(page)
        r = c.post(
            "/cookies",
            data={"action": "accept", "next": "/privacy", "csrf_token": token},
            follow_redirects=False,
        )
        assert r.status_code == 303
        consent = r.headers["set-cookie"]
        assert "troth_consent=" in consent and "analytics" in consent
        assert "max-age" not in consent.lower().split("troth_consent")[1].split(",")[0]
        assert 'class="banner"' not in c.get("/privacy").text
        r = c.post(
            "/cookies", data={"action": "reject", "csrf_token": token}, follow_redirects=False
        )
        removed = r.headers.get_list("set-cookie")
        assert any(h.startswith("_ga=") and "Max-Age=0" in h for h in removed), removed


def test_gpc_keeps_marketing_off(lite) -> None:
    with client_for(lite) as c:
        page = c.get("/privacy", headers={"Sec-GPC": "1"}).text
        assert "Global Privacy Control" in page
        token = csrf_from(page)
        r = c.post(
            "/cookies",
            data={"action": "accept", "csrf_token": token},
            headers={"Sec-GPC": "1"},
            follow_redirects=False,
        )
        assert (
            "marketing%3D0" in r.headers["set-cookie"] or "marketing=0" in r.headers["set-cookie"]
        )


def _code_for(ctx, email: str) -> str:
    (body,) = bodies(ctx, to=email)
    return re.search(r"\b(\d{6})\b", body).group(1)


def test_privacy_centre_signin_view_consent(lite) -> None:
    sid = Troth(lite).collect("support_request", SUPPORT).subject_id
    with client_for(lite) as c:
        page = c.get("/privacy/signin").text
        r = c.post(
            "/privacy/signin", data={"email": "ada@example.com"}, headers={"Accept": "text/html"}
        )
        assert r.status_code == 403  # CSRF
        r = c.post(
            "/privacy/signin",
            data={"email": "ada@example.com", "csrf_token": csrf_from(page)},
            follow_redirects=False,
        )
        assert r.status_code == 200 and "?c=" not in str(r.url)
        code_page = r.text
        challenge = challenge_from(code_page)
        wrong = c.post(
            "/privacy/code",
            data={"challenge": challenge, "code": "000000", "csrf_token": csrf_from(code_page)},
            headers={"Accept": "text/html"},
        )
        assert wrong.status_code == 401
        r = c.post(
            "/privacy/code",
            data={
                "challenge": challenge,
                "code": _code_for(lite, "ada@example.com"),
                "csrf_token": csrf_from(code_page),
            },
            follow_redirects=False,
        )
        assert r.status_code == 303
        cookie = r.headers["set-cookie"]
        assert "troth_privacy=" in cookie and "httponly" in cookie.lower()
        assert "max-age" not in cookie.lower() and "expires" not in cookie.lower()
        me = c.get("/privacy/me")
        assert me.status_code == 200 and "Hello" in me.text and 'id="accesses"' in me.text
        before = events(lite)
        r = c.post(
            "/privacy/me/consents",
            data={"purpose": "newsletter", "action": "grant"},
            headers={"Accept": "text/html"},
        )
        assert r.status_code == 403 and events(lite) == before
        r = c.post(
            "/privacy/me/consents",
            data={"purpose": "newsletter", "action": "grant", "csrf_token": csrf_from(me.text)},
        )
        assert r.status_code == 200 and events(lite) == before + 1
        assert Troth(lite).consent.state(sid)["newsletter"].granted
        export = c.get("/privacy/me/export.json")
        assert export.json()["subject_id"] == sid


def test_console_login_dashboard_search_audit(lite) -> None:
    t = Troth(lite)
    t.access.accounts.add_user(
        "officer@example.com", kind="staff", role="privacy_office", password=PASSWORD
    )
    sid = t.collect("support_request", SUPPORT).subject_id
    with client_for(lite) as c:
        assert c.get("/console", follow_redirects=False).headers["location"] == "/console/login"
        page = c.get("/console/login").text
        r = c.post(
            "/console/login",
            data={"email": "officer@example.com", "password": PASSWORD},
            headers={"Accept": "text/html"},
        )
        assert r.status_code == 403
        r = c.post(
            "/console/login",
            data={
                "email": "officer@example.com",
                "password": "nope",
                "csrf_token": csrf_from(page),
            },
        )
        assert r.status_code == 401 and "Log in" in r.text
        r = c.post(
            "/console/login",
            data={
                "email": "officer@example.com",
                "password": PASSWORD,
                "csrf_token": csrf_from(page),
            },
            follow_redirects=False,
        )
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie
        assert "max-age" not in cookie and "expires" not in cookie
        dash = c.get("/console")
        assert dash.status_code == 200 and "Consent rates" in dash.text
        search = c.get("/console/subjects")
        assert 'method="post" action="/console/subjects"' in search.text
        found = c.post(
            "/console/subjects",
            data={
                "email": "ada@example.com",
                "purpose": "support",
                "csrf_token": csrf_from(search.text),
            },
        )
        assert sid in found.text and "Hello" in found.text
        # The old GET form is refused, not silently served: the address stays out of logs.
        old = c.get(
            "/console/subjects",
            params={"email": "ada@example.com", "purpose": "support"},
            headers={"Accept": "text/html"},
        )
        assert old.status_code == 422 and sid not in old.text
        assert "search form" in old.text
        no_csrf = c.post(
            "/console/subjects",
            data={"email": "ada@example.com"},
            headers={"Accept": "text/html"},
        )
        assert no_csrf.status_code == 403 and sid not in no_csrf.text
        audit = c.get("/console/audit")
        assert audit.status_code == 200
        r = c.post("/console/audit/verify", headers={"Accept": "text/html"})
        assert r.status_code == 403
        r = c.post("/console/audit/verify", data={"csrf_token": csrf_from(audit.text)})
        assert 'id="verify-result"' in r.text and "The log verifies" in r.text
        # The console's session also works for the API, with the CSRF header on POSTs.
        assert c.get(f"/api/v1/subjects/{sid}", params={"purpose": "support"}).status_code == 200
        r = c.post("/api/v1/audit/verify")
        assert r.status_code == 403 and r.json()["code"] == "csrf_failed"


@pytest.fixture
def phone_lite(home: Any):
    return home("phone-service", clock=ManualClock(), context=True)


def tenant_setup(ctx):
    t = Troth(ctx)
    acme = t.access.tenants.create_tenant("Acme", "admin@acme.example")
    other = t.access.tenants.create_tenant("Other", "admin@other.example")
    t.access.accounts.add_user(
        "admin@acme.example",
        kind="tenant_member",
        tenant_id=acme,
        tenant_role="admin",
        password=PASSWORD,
    )
    vendor = t.access.accounts.add_user(
        "vendor@phone.example", kind="vendor_admin", password=PASSWORD
    )
    sid = t.collect(
        "call_record_import", {"extension": "201", "duration_seconds": 60}, tenant_id=acme
    ).subject_id
    from troth.access import actor_for

    va = actor_for(vendor)
    g = t.access.grants.request_grant(
        acme, by=va, reason="ticket 42: calls missing", duration=timedelta(hours=4), ticket="T-42"
    )
    g_other = t.access.grants.request_grant(
        other, by=va, reason="other", duration=timedelta(hours=1)
    )
    return t, acme, sid, va, g, g_other


def test_tenant_admin_approves_and_sees_vendor_accesses(phone_lite) -> None:
    t, acme, sid, va, g, g_other = tenant_setup(phone_lite)
    with client_for(phone_lite) as c:
        page = c.get("/tenant/login").text
        r = c.post(
            "/tenant/login",
            data={
                "tenant_id": acme,
                "email": "admin@acme.example",
                "password": PASSWORD,
                "csrf_token": csrf_from(page),
            },
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        home_page = c.get("/tenant")
        assert "ticket 42" in home_page.text and "other" not in home_page.text.split("Members")[0]
        token = csrf_from(home_page.text)
        r = c.post(f"/tenant/grants/{g.id}/approve", headers={"Accept": "text/html"})
        assert r.status_code == 403  # CSRF
        assert t.access.grants.get_grant(g.id).status == "requested"
        # another tenant's grant: refused, unchanged
        r = c.post(
            f"/tenant/grants/{g_other.id}/approve",
            data={"csrf_token": token},
            headers={"Accept": "text/html"},
        )
        assert r.status_code == 404  # as an unknown id (a 403 said it exists)
        assert t.access.grants.get_grant(g_other.id).status == "requested"
        r = c.post(f"/tenant/grants/{g.id}/approve", data={"csrf_token": token})
        assert r.status_code == 200
        t.use(sid, purpose="support", actor=va)
        listed = c.get("/tenant").text
        table = listed.split('id="vendor-accesses"')[1].split("</table>")[0]
        assert va.label in table and short_id(sid) in table
        export = c.get("/tenant/export.json").json()
        assert [s["subject_id"] for s in export["subjects"]] == [sid]


def test_person_asks_for_deletion_and_officer_sees_it(lite) -> None:
    t = Troth(lite)
    t.access.accounts.add_user(
        "officer@example.com", kind="staff", role="privacy_office", password=PASSWORD
    )
    t.collect("support_request", SUPPORT)
    with client_for(lite) as c:
        page = c.get("/privacy/signin").text
        code_page = c.post(
            "/privacy/signin",
            data={"email": "ada@example.com", "csrf_token": csrf_from(page)},
        ).text
        c.post(
            "/privacy/code",
            data={
                "challenge": challenge_from(code_page),
                "code": _code_for(lite, "ada@example.com"),
                "csrf_token": csrf_from(code_page),
            },
        )
        me = c.get("/privacy/me").text
        r = c.post("/privacy/me/requests", data={"kind": "delete", "csrf_token": csrf_from(me)})
        assert r.status_code == 200
        assert 'id="my-requests"' in r.text and "delete" in r.text
        c.cookies.clear()
        login = c.get("/console/login").text
        c.post(
            "/console/login",
            data={
                "email": "officer@example.com",
                "password": PASSWORD,
                "csrf_token": csrf_from(login),
            },
        )
        dash = c.get("/console").text
        assert 'id="requests"' in dash and "delete" in dash.split('id="requests"')[1]
