"""End-to-end in a real browser: the cookie banner, one-click unsubscribe, a tenant admin
approving support access, and a person signing in to the privacy centre."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from shots import shot

from outbox_helpers import bodies
from troth.access import actor_for
from troth.audit.log import transaction
from troth.clock import ManualClock
from troth.consent.unsubscribe import issue_token
from troth.engine import Troth

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery staple"
SUPPORT = {"name": "Ada Lovelace", "email": "ada@example.com", "message": "Please help"}


def _wait_until(page, expression: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        page.wait_for_timeout(50)


def test_banner_blocks_script_until_accepted(page, serve, lite) -> None:
    base = serve(lite)
    page.goto(f"{base}/privacy")
    assert page.locator(".banner").is_visible()
    assert page.locator('script[type="text/plain"][data-category="analytics"]').count() == 1
    assert page.evaluate("window.trothLoaded === undefined")
    assert "_ga" not in {c["name"] for c in page.context.cookies()}
    shot(page, "banner-before")
    page.click("#cookies-accept")
    # Polled with evaluate(): wait_for_function compiles its predicate with eval, which
    # the page's CSP (no 'unsafe-eval') rightly blocks in current Chromium.
    _wait_until(page, "window.trothLoaded && window.trothLoaded.analytics === true")
    assert "_ga" in {c["name"] for c in page.context.cookies()}
    assert page.locator(".banner").count() == 0
    shot(page, "banner-accepted")
    page.goto(f"{base}/privacy/cookies")
    with page.expect_navigation():
        page.click("#cookies-reject")
    names = {c["name"] for c in page.context.cookies()}
    assert "_ga" not in names and "_fbp" not in names
    assert page.evaluate("window.trothLoaded === undefined")


def test_unsubscribe_from_link(page, serve, lite) -> None:
    t = Troth(lite)
    sid = t.collect("support_request", SUPPORT).subject_id
    t.consent.grant(sid, "newsletter")
    with transaction(lite) as conn:
        token = issue_token(conn, lite, sid, "newsletter")
    base = serve(lite)
    page.goto(f"{base}/u/{token}")
    assert page.locator("#unsubscribe").is_visible()
    assert t.consent.state(sid)["newsletter"].granted  # the GET changed nothing
    shot(page, "unsubscribe-confirm")
    page.click("#unsubscribe")
    page.locator("#unsubscribed").wait_for()
    assert not t.consent.state(sid)["newsletter"].granted
    shot(page, "unsubscribe-done")


def test_tenant_admin_approves_support_access_then_sees_vendor_accesses(page, serve, home) -> None:
    ctx = home("phone-service", name="phone", clock=ManualClock(), context=True)
    t = Troth(ctx)
    acme = t.access.tenants.create_tenant("Acme Telecom", "admin@acme.example")
    t.access.accounts.add_user(
        "admin@acme.example",
        kind="tenant_member",
        tenant_id=acme,
        tenant_role="admin",
        password=PASSWORD,
    )
    vendor = actor_for(
        t.access.accounts.add_user("vendor@phone.example", kind="vendor_admin", password=PASSWORD)
    )
    sid = t.collect(
        "call_record_import", {"extension": "201", "duration_seconds": 60}, tenant_id=acme
    ).subject_id
    grant = t.access.grants.request_grant(
        acme,
        by=vendor,
        reason="ticket 42: missing calls",
        duration=timedelta(hours=4),
        ticket="T-42",
    )
    base = serve(ctx)
    page.goto(f"{base}/tenant/login?t={acme}")
    page.fill("#email", "admin@acme.example")
    page.fill("#password", PASSWORD)
    page.click("#login")
    page.wait_for_url(f"{base}/tenant")
    shot(page, "tenant-request")
    page.click(f"#approve-{grant.id}")
    page.wait_for_url(f"{base}/tenant")
    assert t.access.grants.get_grant(grant.id).status == "approved"
    t.use(sid, purpose="support", actor=vendor)
    page.reload()
    rows = page.locator("#vendor-accesses tbody tr")
    assert vendor.label in rows.first.inner_text()
    shot(page, "tenant-vendor-accesses")
    ctx.engine.dispose()


def test_person_signs_in_and_sees_who_accessed(page, serve, lite) -> None:
    t = Troth(lite)
    t.collect("support_request", SUPPORT)
    base = serve(lite)
    page.goto(f"{base}/privacy")
    page.click("#cookies-reject")
    page.click("#signin-link")
    page.fill("#email", "ada@example.com")
    page.click("#send-code")
    (body,) = bodies(lite, to="ada@example.com")
    page.fill("#code", re.search(r"\b(\d{6})\b", body).group(1))
    page.click("#check-code")
    page.wait_for_url(f"{base}/privacy/me")
    assert "Please help" in page.locator("#held").inner_text()
    assert "We recorded your" in page.locator("#accesses").inner_text()
    shot(page, "privacy-me")
