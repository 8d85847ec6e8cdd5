"""End-to-end in a real browser: a person asks for deletion in the privacy centre, the
privacy officer executes it from the console, and the person sees it completed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from shots import shot

from outbox_helpers import latest_body
from troth.engine import Troth

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery staple"
ADA = {"name": "Ada Lovelace", "email": "ada@example.com", "message": "Please help"}
BOB = {"name": "Bob Babbage", "email": "bob@example.com", "message": "Hello"}


def sign_in(page, base: str, ctx, email: str) -> None:
    page.goto(f"{base}/privacy/signin")
    page.fill("#email", email)
    page.click("#send-code")
    body = latest_body(ctx, to=email)
    page.fill("#code", re.search(r"\b(\d{6})\b", body).group(1))
    page.click("#check-code")
    page.wait_for_url(f"{base}/privacy/me")


def test_person_asks_deletion_officer_executes_person_sees_it_completed(
    browser, serve, lite
) -> None:
    t = Troth(lite)
    t.access.accounts.add_user(
        "officer@example.com", kind="staff", role="privacy_office", password=PASSWORD
    )
    t.collect("support_request", ADA)
    t.collect("support_request", BOB)
    base = serve(lite)

    # The person (Bob) asks, in their own browser, and keeps the page open.
    person = browser.new_context().new_page()
    person.set_default_timeout(60_000)
    person.goto(f"{base}/privacy")
    person.click("#cookies-reject")
    sign_in(person, base, lite, "bob@example.com")
    person.select_option("#kind", "delete")
    person.fill("#details", "Please delete everything about me.")
    person.click("#make-request")
    person.wait_for_url(re.compile(r"/privacy/me"))
    [req] = t.requests.list()
    row = person.locator(f"#my-request-{req.id}")
    assert "verified" in row.inner_text()  # signed in: no second code asked
    assert str(req.due_at) in row.inner_text()
    shot(person, "request-person-asked")

    # The officer, in another browser, finds it by due date and executes it.
    officer = browser.new_context().new_page()
    officer.set_default_timeout(60_000)
    officer.goto(f"{base}/console/login")
    officer.click("#cookies-reject")
    officer.fill("#email", "officer@example.com")
    officer.fill("#password", PASSWORD)
    officer.click("#login")
    officer.wait_for_url(f"{base}/console")
    officer.click("text=Requests")
    officer.wait_for_url(f"{base}/console/requests")
    shot(officer, "request-officer-list")
    officer.click(f"#req-{req.id}")
    officer.wait_for_url(f"{base}/console/requests/{req.id}")
    assert "privacy_centre_signin" in officer.locator("#history").inner_text()
    officer.click("#execute")
    officer.locator("#report").wait_for()
    assert "completed" in officer.locator("#state").inner_text()
    report = officer.locator("#report").inner_text()
    assert "troth" in report and "deleted" in report
    shot(officer, "request-officer-report")
    assert t.requests.get(req.id).state == "completed"

    # The person reloads: the request is completed (their session outlives their data).
    person.reload()
    done = person.locator(f"#my-request-{req.id}").inner_text()
    assert "completed" in done
    assert "Bob Babbage" not in person.locator("main").inner_text()
    shot(person, "request-person-completed")
    person.context.close()
    officer.context.close()


def test_download_link_code_after_hash_is_posted_once(browser, serve, lite) -> None:
    """The e-mailed link carries the code after "#": the page fills its form from it (and
    keeps it while the person signs in), wipes it from the address bar, and the download
    works once."""
    t = Troth(lite)
    t.collect("support_request", ADA)
    req = t.requests.open("access", email="ada@example.com")
    t.requests.verify_by_staff(req.id, staff="officer", reason="ID seen")
    base = serve(lite)
    done = t.requests.execute(req.id)
    assert done.download_token
    body = latest_body(lite, to="ada@example.com")
    link = re.search(r"(http\S+/privacy/download#\S+)", body)
    assert link and link.group(1).endswith(f"#{done.download_token}")

    page = browser.new_context(accept_downloads=True).new_page()
    page.set_default_timeout(60_000)
    # Not signed in yet: the page says so; the code is kept for this tab only.
    page.goto(link.group(1))
    assert "#" not in page.url and "sign in" in page.inner_text("main").lower()
    sign_in(page, base, lite, "ada@example.com")
    page.goto(f"{base}/privacy/download")
    assert page.input_value("#code") == done.download_token
    with page.expect_download() as got:
        page.click("#download")
    path = got.value.path()
    assert path and Path(path).read_bytes()[:2] == b"PK"
    # Once: the link again gives a clear refusal.
    page.goto(link.group(1))
    assert page.input_value("#code") == done.download_token
    page.click("#download")
    assert "already used" in page.inner_text("main")
