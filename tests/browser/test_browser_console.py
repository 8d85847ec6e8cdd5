"""The privacy officer's console in a real browser, at a desk (1280 px) and on a phone
(390 px): find a person and read their page, filter and page the audit log, publish a
policy through its preview and confirmation, record a breach and tell the people, the
dashboard's charts and the request list. Every page passes the shared check (screenshot,
no serious or critical axe-core violation, no sideways scrolling)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from ux import DESKTOP, PHONE, check_page

from troth.clock import ManualClock
from troth.engine import Troth
from troth.notices.outbox import outbox

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery staple"
OFFICER = "officer@example.com"
SIZES = pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])


@pytest.fixture
def seeded(home: Any) -> Any:
    """mindlink with an officer, a tenant, three people, a consent and a deletion request."""
    ctx = home("mindlink", clock=ManualClock(), context=True)
    t = Troth(ctx)
    t.access.accounts.add_user(
        OFFICER, kind="staff", role="privacy_office", password=PASSWORD, display_name="Olive"
    )
    t.access.tenants.create_tenant("Acme Ltd", primary_email="dpo@acme.example")
    for who in ("ada", "bob", "cy"):
        t.collect(
            "support_request",
            {"name": f"{who.title()} Example", "email": f"{who}@example.com", "message": "Hi"},
        )
    sid = t.find(email="ada@example.com")
    t.consent.grant(sid, "newsletter")
    t.requests.open("delete", email="ada@example.com")
    yield ctx
    ctx.engine.dispose()


def officer(browser: Any, base: str, size: dict[str, int]) -> Any:
    page = browser.new_context(viewport=size).new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{base}/console/login")
    page.click("#cookies-reject")
    page.fill("#email", OFFICER)
    page.fill("#password", PASSWORD)
    page.click("#login")
    page.wait_for_url(f"{base}/console")
    return page


def tag(size: dict[str, int]) -> str:
    return "phone" if size["width"] < 600 else "desktop"


@SIZES
def test_find_a_person_and_read_their_page(
    browser: Any, serve: Any, seeded: Any, size: Any
) -> None:
    base = serve(seeded)
    page = officer(browser, base, size)
    page.click("nav >> text=People")
    page.wait_for_url(f"{base}/console/people")
    check_page(page, f"console-people-search-{tag(size)}")
    page.fill("#q", "ada@example.com")
    page.click("#find")
    page.wait_for_url(re.compile(r"/console/people/[0-9a-f]{32}$"))
    assert "ada@example.com" not in page.url  # the address never reaches the URL
    page.select_option("#purpose", "support")
    page.click("#look")
    page.wait_for_url(re.compile(r"purpose=support"))
    assert page.locator("#person-name").inner_text() == "Ada Example"
    assert "newsletter" in page.locator("#consents").inner_text()
    trail = page.locator("#trail").inner_text()
    assert "Olive read their data for support" in trail
    check_page(page, f"console-person-{tag(size)}")
    page.click("text=All of them in the audit log")
    page.wait_for_url(re.compile(r"/console/audit\?subject_id="))
    assert "Olive" in page.locator("#audit").inner_text()


@SIZES
def test_audit_filters_and_pages(browser: Any, serve: Any, seeded: Any, size: Any) -> None:
    t = Troth(seeded)
    for i in range(60):
        t.collect(
            "support_request", {"name": f"P{i}", "email": f"p{i}@example.com", "message": "m"}
        )
    base = serve(seeded)
    page = officer(browser, base, size)
    page.goto(f"{base}/console/audit")
    assert re.match(r"Showing 1-50 of \d+", page.locator("#showing").inner_text())
    # A date stays on one line.
    when = page.locator("#audit tbody tr td.when").first
    assert when.evaluate("e => getComputedStyle(e).whiteSpace") == "nowrap"
    check_page(page, f"console-audit-{tag(size)}")
    page.click("#next")
    assert "Showing 51-" in page.locator("#showing").inner_text()
    page.fill("#action", "collect")
    page.click("form.filters >> text=Filter")
    page.wait_for_url(re.compile(r"action=collect"))
    assert "of 63" in page.locator("#showing").inner_text()
    with page.expect_download() as dl:
        page.click("#csv")
    text = Path(dl.value.path()).read_text()
    assert len(text.strip().splitlines()) == 64
    check_page(page, f"console-audit-filtered-{tag(size)}")


@SIZES
def test_publish_with_preview_and_confirmation(
    browser: Any, serve: Any, seeded: Any, size: Any
) -> None:
    text = seeded.settings.resolved_policy_file.read_text()
    draft = (
        text.replace('version: "1.0"', 'version: "1.1"', 1)
        .replace("email_customers: false", "email_customers: true", 1)
        .replace(
            "categories: [identity, contact, purchases, account_history]\n",
            "categories: [identity, contact, purchases, account_history, support]\n",
            1,
        )
    )
    base = serve(seeded)
    page = officer(browser, base, size)
    page.goto(f"{base}/console/policy/publish")
    page.fill("#yaml", draft)
    page.fill("#effective", "2026-03-01")
    page.click("#show-diff")
    page.wait_for_selector("#preview")
    assert "purpose 'account_management'" in page.locator("#diff").inner_text()
    assert "4 e-mails: 3 people and 1 customer" in page.locator("#preview-count").inner_text()
    assert "effective 2026-03-01" in page.locator("#notice").inner_text()
    check_page(page, f"console-publish-preview-{tag(size)}")
    with seeded.engine.connect() as conn:
        before = conn.execute(select(func.count()).select_from(outbox)).scalar_one()
    page.check("#confirm")
    page.click("#publish")
    page.wait_for_selector("#published, #error, #issues")
    assert page.locator("#published").count(), page.locator("main").inner_text()[:1500]
    assert "4 notice e-mail(s) queued" in page.locator("#published").inner_text()
    with seeded.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(outbox)).scalar_one() == before + 4
    check_page(page, f"console-publish-done-{tag(size)}")


@SIZES
def test_record_a_breach_and_tell_the_people(
    browser: Any, serve: Any, seeded: Any, size: Any
) -> None:
    seeded.clock.advance(timedelta(days=2))
    now = seeded.clock.now()
    base = serve(seeded)
    page = officer(browser, base, size)
    page.goto(f"{base}/console/breaches")
    check_page(page, f"console-breaches-{tag(size)}")
    page.fill("#title", "Support inbox exposed")
    page.fill("#description", "A share exposed the support inbox.")
    page.fill("#occurred_from", (now - timedelta(days=5)).strftime("%Y-%m-%dT%H:%M"))
    page.fill("#occurred_until", (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"))
    page.check("#cat-support")
    page.click("#record-breach")
    page.wait_for_url(re.compile(r"/console/breaches/[0-9a-z]+$"))
    assert page.locator("#affected-count").inner_text().startswith("3")
    assert (
        "72" in page.locator("#breach-clocks").inner_text()
        or page.locator("#breach-clocks").count()
    )
    check_page(page, f"console-breach-{tag(size)}")
    page.click("#mark-regulator")
    page.wait_for_selector("#regulator-told")
    page.click("#preview-notice")
    page.wait_for_selector("#notice-preview")
    assert "Support inbox exposed" in page.locator("#notice-body").inner_text()
    check_page(page, f"console-breach-notice-{tag(size)}")
    page.check("#confirm-notify")
    page.click("#send-notice")
    page.wait_for_selector("#queued")
    assert "3 notice e-mails queued" in page.locator("#queued").inner_text()


@SIZES
def test_dashboard_and_request_list(browser: Any, serve: Any, seeded: Any, size: Any) -> None:
    base = serve(seeded)
    page = officer(browser, base, size)
    for chart in ("requests", "due", "refusals", "consents", "audit"):
        assert page.locator(f"#chart-{chart}").count() == 1
    check_page(page, f"console-dashboard-{tag(size)}")
    page.goto(f"{base}/console/requests")
    assert "Showing 1-1 of 1" in page.locator("#showing").inner_text()
    check_page(page, f"console-requests-{tag(size)}")


@SIZES
def test_the_office_s_lists(browser: Any, serve: Any, seeded: Any, size: Any) -> None:
    base = serve(seeded)
    page = officer(browser, base, size)
    page.goto(f"{base}/console/people")
    assert "Showing 1-3 of 3" in page.locator("#showing").inner_text()
    check_page(page, f"console-people-list-{tag(size)}")
    page.goto(f"{base}/console/consents")
    assert "Showing 1-1 of 1" in page.locator("#showing").inner_text()
    check_page(page, f"console-consents-{tag(size)}")
    page.click("#consents a[href^='/console/people/']")
    page.wait_for_url(re.compile(r"/console/people/[0-9a-f]{32}$"))
    page.goto(f"{base}/console/disclosures")
    assert "Nothing matches" in page.locator("#showing").inner_text()
    check_page(page, f"console-disclosures-{tag(size)}")


def test_every_other_console_page_fits_a_phone(browser: Any, serve: Any, seeded: Any) -> None:
    """The console pages the flows above do not reach, at 390 px: each passes the shared
    check (no sideways scrolling, no serious axe-core violation), the audit list in words
    with the raw action beside it, a range that ends before it starts said in words, and
    the person page headed by their name without a purpose chosen."""
    t = Troth(seeded)
    sid = t.find(email="ada@example.com")
    rid = t.requests.list(limit=1)[0].id
    base = serve(seeded)
    page = officer(browser, base, PHONE)
    page.goto(f"{base}/console/people/{sid}")
    assert page.locator("#person-name").inner_text() == "Ada Example"
    check_page(page, "console-person-named-phone")
    page.goto(f"{base}/console/audit?subject_id={sid}")
    table = page.locator("#audit").inner_text()
    assert "collected data from the person" in table and "collect" in table
    check_page(page, "console-audit-words-phone")
    page.goto(f"{base}/console/audit?since=2026-03-05&until=2026-03-04")
    assert "before it starts" in page.locator("body").inner_text()
    check_page(page, "console-audit-bad-range-phone")
    page.goto(f"{base}/console/audit")
    page.click("#verify")
    page.wait_for_selector("#verify-result")
    check_page(page, "console-audit-verified-phone")
    for path, name in (
        (f"/console/requests/{rid}", "request"),
        ("/console/policy", "policy"),
        ("/console/recipients", "recipients"),
        ("/console/support", "support"),
        ("/console/demands", "demands"),
        ("/console/subjects", "subjects"),
        ("/console/discovery", "discovery"),
        ("/console/people?page=999", "people-past-the-end"),
    ):
        page.goto(base + path)
        check_page(page, f"console-{name}-phone")
    page.context.clear_cookies()
    page.goto(f"{base}/console/login")
    check_page(page, "console-login-phone")
