"""The discovery page in a real browser: the privacy officer scans from the console and
reads the drift report (masked evidence, the YAML to add); the page is accessible and fits
a phone's width."""

from __future__ import annotations

import pytest
from ux import DESKTOP, PHONE, check_page

from troth.engine import Troth

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery staple"
CARD = "4111 1111 1111 1111"


def test_officer_scans_and_reads_the_drift_report(browser, serve, lite) -> None:
    t = Troth(lite)
    t.access.accounts.add_user(
        "officer@example.com", kind="staff", role="privacy_office", password=PASSWORD
    )
    t.collect(
        "support_request",
        {"name": "Ada", "email": "ada@example.com", "message": f"Refund card {CARD} please"},
    )
    base = serve(lite)
    page = browser.new_context(viewport=DESKTOP).new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{base}/console/login")
    page.click("#cookies-reject")
    page.fill("#email", "officer@example.com")
    page.fill("#password", PASSWORD)
    page.click("#login")
    page.wait_for_url(f"{base}/console")
    page.click("text=Discovery")
    page.wait_for_url(f"{base}/console/discovery")
    page.fill("#budget", "20")
    page.click("#scan")
    page.locator("#findings").wait_for()
    report = page.locator("#findings").inner_text()
    assert "pasted_in_free_text" in report and "9999 9999 9999 9999" in report
    assert CARD not in page.content() and "Refund" not in page.content()
    check_page(page, "discovery-desktop")
    page.set_viewport_size(PHONE)
    check_page(page, "discovery-phone")
    page.context.close()
