"""Logging in with a TOTP second factor in a real browser, on a phone (390 px) and at a
desk: the console and the customer login ask for the code, a missing code keeps the
address and asks again, the right code gets in. Each page passes the shared check."""

from __future__ import annotations

from typing import Any

import pytest
from ux import DESKTOP, PHONE, check_page

from troth.access import totp
from troth.clock import ManualClock
from troth.engine import Troth

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery staple"
SIZES = pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])


@pytest.fixture
def second_factors(home: Any) -> Any:
    """mindlink with an officer and a customer's admin, both with a second factor."""
    ctx = home("mindlink", clock=ManualClock(), context=True)
    t = Troth(ctx)
    officer = t.access.accounts.add_user(
        "officer@example.com", kind="staff", role="privacy_office", password=PASSWORD
    )
    acme = t.access.tenants.create_tenant("Acme Ltd", primary_email="dpo@acme.example")
    member = t.access.accounts.add_user(
        "dpo@acme.example",
        kind="tenant_member",
        tenant_id=acme,
        tenant_role="admin",
        password=PASSWORD,
    )
    secrets = {
        "console": t.access.accounts.enable_totp(officer.id)[0],
        "tenant": t.access.accounts.enable_totp(member.id)[0],
    }
    yield ctx, secrets
    ctx.engine.dispose()


@SIZES
@pytest.mark.parametrize(
    "where,email", [("console", "officer@example.com"), ("tenant", "dpo@acme.example")]
)
def test_log_in_with_the_authenticator_code(
    browser: Any, serve: Any, second_factors: Any, size: Any, where: str, email: str
) -> None:
    ctx, secrets = second_factors
    base = serve(ctx)
    tag = "phone" if size["width"] < 600 else "desktop"
    page = browser.new_context(viewport=size).new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{base}/{where}/login")
    page.click("#cookies-reject")
    check_page(page, f"{where}-login-totp-{tag}")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("#login")  # no code: asked for it, the address kept
    page.wait_for_selector("[role=alert]")
    assert "needs the code from its authenticator app" in page.inner_text("[role=alert]")
    assert page.input_value("#email") == email
    assert page.input_value("#password") == ""
    check_page(page, f"{where}-login-totp-asked-{tag}")
    page.fill("#password", PASSWORD)
    page.fill("#totp_code", totp(secrets[where], ctx.clock.now()))
    page.click("#login")
    page.wait_for_url(f"{base}/{where}")
    page.context.close()
