"""The privacy centre, the customer pages and the sign-in pages in a real browser, at
1280 px and at 390 px (a phone): what each page says and does, and every page checked by
``check_page`` (screenshot, axe-core, no sideways scrolling). Bad paths: a flood of
sign-in codes, a wrong password for an address of two customers, a member who is not an
admin, an erased person signing in, a gagged legal demand."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from ux import DESKTOP, PHONE, check_page

from outbox_helpers import latest_body
from troth.access import actor_for
from troth.audit.log import transaction
from troth.clock import ManualClock
from troth.consent.unsubscribe import issue_token
from troth.engine import Troth
from troth.gate import Actor, ActorKind
from troth.notices.outbox import outbox

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery staple"
ADA = {"name": "Ada Lovelace", "email": "ada@example.com", "message": "Please help"}
ANN = {"name": "Ann Lee", "email": "ann@example.com", "address": "1 Main St", "product": "x"}
SIZES = pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["1280", "390"])
OFFICE = Actor(ActorKind.staff, "pat", role="privacy_office")


def last_code(ctx, email: str) -> str:
    body = latest_body(ctx, to=email)
    return re.search(r"\b(\d{6})\b", body).group(1)


def codes_sent(ctx, email: str) -> int:
    with ctx.engine.connect() as conn:
        return conn.execute(
            select(func.count()).select_from(outbox).where(outbox.c.to_addr == email)
        ).scalar_one()


def sign_in(page, base: str, ctx, email: str, tag: str) -> None:
    page.goto(f"{base}/privacy/signin")
    if page.locator("#cookies-reject").count():
        page.click("#cookies-reject")
    check_page(page, f"signin-{tag}")
    page.fill("#email", email)
    page.click("#send-code")
    page.locator("#code").wait_for()
    check_page(page, f"code-{tag}")
    page.fill("#code", last_code(ctx, email))
    page.click("#check-code")
    page.wait_for_url(f"{base}/privacy/me")


@SIZES
def test_person_reads_the_centre_in_plain_words(page, serve, lite, size) -> None:
    tag = f"{size['width']}"
    page.set_viewport_size(size)
    t = Troth(lite)
    sid = t.collect("support_request", ADA).subject_id
    support = t.access.accounts.add_user(
        "sue@example.com", kind="staff", role="support", password=PASSWORD
    )
    t.use(sid, purpose="support", actor=actor_for(support))
    base = serve(lite)
    page.goto(f"{base}/privacy")
    check_page(page, f"privacy-public-{tag}")
    page.click("#cookies-reject")
    sign_in(page, base, lite, "ada@example.com", tag)
    held = page.locator("#held article")
    assert held.count() == 1
    record = held.first.inner_text()
    assert "Please help" in record and "Ada Lovelace" in record and "ada@example.com" in record
    accesses = page.locator("#accesses").inner_text()
    assert "Our support team read your contact, identity and support details" in accesses
    assert "staff:" not in accesses and "mail.queued" not in accesses and sid not in accesses
    check_page(page, f"privacy-me-{tag}")

    # Consent: given, confirmed, shown.
    page.locator("#consent-newsletter button").click()
    page.wait_for_url(re.compile(r"done=consent-given"))
    assert "your consent is recorded" in page.locator("#done").inner_text()
    assert "You agreed." in page.locator("#consent-newsletter").inner_text()
    check_page(page, f"privacy-consent-given-{tag}")
    # A request: made, confirmed, listed with its date.
    page.select_option("#kind", "correct")
    page.fill("#details", "My name is Ada King")
    page.click("#make-request")
    page.wait_for_url(re.compile(r"done=request"))
    assert "Your request is sent" in page.locator("#done").inner_text()
    assert "correct" in page.locator("#my-requests").inner_text()
    check_page(page, f"privacy-request-made-{tag}")
    # The download: the file arrives and the page says so.
    with page.expect_download() as got:
        page.click("#download-my-data")
    assert Path(got.value.path()).read_bytes()[:2] == b"PK"
    assert page.locator("#download-status").is_visible()
    assert "Your download has started" in page.locator("#download-status").inner_text()
    check_page(page, f"privacy-downloaded-{tag}")


@SIZES
def test_code_flooding_is_stopped_with_a_clear_message(page, serve, lite, size) -> None:
    page.set_viewport_size(size)
    Troth(lite).collect("support_request", ADA)
    base = serve(lite)
    page.goto(f"{base}/privacy/signin")
    page.click("#cookies-reject")
    page.fill("#email", "ada@example.com")
    page.click("#send-code")
    page.locator("#code").wait_for()
    for _ in range(3):  # the person clicks again and again
        page.goto(f"{base}/privacy/signin")
        page.fill("#email", "ada@example.com")
        page.click("#send-code")
        problem = page.locator("#signin-problem")
        problem.wait_for()
        assert "we already sent a code to this address a moment ago" in problem.inner_text()
        assert re.search(r"wait \d+ seconds", problem.inner_text())
        assert page.input_value("#email") == "ada@example.com"
    assert codes_sent(lite, "ada@example.com") == 1
    check_page(page, f"signin-too-soon-{size['width']}")
    # One client asking for many addresses hits its own limit.
    limit = lite.settings.signin_codes_per_client
    answers = []
    for i in range(limit):
        page.goto(f"{base}/privacy/signin")
        page.fill("#email", f"p{i}@example.com")
        page.click("#send-code")
        page.wait_for_load_state()
        answers.append(page.locator("#signin-problem").count())
    assert answers[-1] == 1
    assert "your connection" in page.locator("#signin-problem").inner_text()


def test_an_erased_person_cannot_sign_in(page, serve, lite) -> None:
    t = Troth(lite)
    sid = t.collect("support_request", ADA).subject_id
    me = Actor(ActorKind.subject, sid)
    req = t.requests.open("delete", subject_id=sid, channel="self_service", actor=me)
    t.requests.verify_by_signin(req.id, sid)
    t.requests.execute(req.id)
    before = codes_sent(lite, "ada@example.com")
    base = serve(lite)
    page.set_viewport_size(PHONE)
    page.goto(f"{base}/privacy/signin")
    page.click("#cookies-reject")
    page.fill("#email", "ada@example.com")
    page.click("#send-code")
    page.locator("#code").wait_for()  # the same answer as for anyone: nothing revealed
    assert codes_sent(lite, "ada@example.com") == before  # no code went out
    page.fill("#code", "123456")
    page.click("#check-code")
    page.wait_for_load_state()
    assert "not right or has expired" in page.inner_text("main")
    check_page(page, "error-wrong-code-390")


def test_a_gagged_disclosure_never_shows(page, serve, home) -> None:
    ctx = home("mindlink", name="gag", clock=ManualClock(), context=True)
    t = Troth(ctx)
    sid = t.collect("purchase", ANN).subject_id
    demand = t.disclosures.record_demand(
        authority="Crown Court",
        instrument="production_order",
        reference="PO-77",
        scope="account records",
        categories=[
            "identity",
            "contact",
            "billing",
            "purchases",
            "account_history",
            "communications",
        ],
        recipient="law_enforcement",
        gag_until=ctx.clock.now() + timedelta(days=30),
    ).id
    t.disclosures.disclose(
        sid, "law_enforcement", "legal_compliance", OFFICE, legal_demand_id=demand
    )
    base = serve(ctx)
    page.set_viewport_size(PHONE)
    page.goto(f"{base}/privacy")
    page.click("#cookies-reject")
    sign_in(page, base, ctx, "ann@example.com", "gag-390")
    main = page.inner_text("main")
    assert "PO-77" not in main and "Crown Court" not in main
    assert "passed your" not in page.locator("#accesses").inner_text()
    assert "We have passed your data to no one." in main
    check_page(page, "privacy-me-gagged-390")
    ctx.engine.dispose()


@SIZES
def test_unsubscribe_page(page, serve, lite, size) -> None:
    page.set_viewport_size(size)
    t = Troth(lite)
    sid = t.collect("support_request", ADA).subject_id
    t.consent.grant(sid, "newsletter")
    with transaction(lite) as conn:
        token = issue_token(conn, lite, sid, "newsletter")
    base = serve(lite)
    page.goto(f"{base}/u/{token}")
    check_page(page, f"unsubscribe-{size['width']}")
    page.click("#unsubscribe")
    page.locator("#unsubscribed").wait_for()
    check_page(page, f"unsubscribed-{size['width']}")
    assert not t.consent.state(sid)["newsletter"].granted


# -- the customer pages ----------------------------------------------------------------------
@pytest.fixture
def phone_service(home: Any):
    ctx = home("phone-service", name="phone", clock=ManualClock(), context=True)
    t = Troth(ctx)
    acme = t.access.tenants.create_tenant("Acme Telecom", "pat@shared.example")
    bolt = t.access.tenants.create_tenant("Bolt Networks", "pat@shared.example")
    for tid in (acme, bolt):
        t.access.accounts.add_user(
            "pat@shared.example",
            kind="tenant_member",
            tenant_id=tid,
            tenant_role="admin",
            password=PASSWORD,
        )
    t.access.accounts.add_user(
        "max@acme.example",
        kind="tenant_member",
        tenant_id=acme,
        tenant_role="member",
        password=PASSWORD,
    )
    vendor = actor_for(
        t.access.accounts.add_user("vendor@phone.example", kind="vendor_admin", password=PASSWORD)
    )
    t.access.grants.request_grant(acme, by=vendor, reason="ticket 42", duration=timedelta(days=3))
    t.access.grants.request_grant(
        bolt, by=vendor, reason="ticket 43", duration=timedelta(hours=2, minutes=30)
    )
    yield ctx, {"acme": acme, "bolt": bolt}
    ctx.engine.dispose()


def tenant_login(page, base: str, email: str, password: str) -> None:
    page.goto(f"{base}/tenant/login")
    if page.locator("#cookies-reject").count():
        page.click("#cookies-reject")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("#login")
    page.wait_for_load_state()


@SIZES
def test_admin_of_two_customers_chooses_after_the_password(
    page, serve, phone_service, size
) -> None:
    tag = size["width"]
    page.set_viewport_size(size)
    ctx, _ids = phone_service
    base = serve(ctx)
    page.goto(f"{base}/tenant/login")
    if page.locator("#cookies-reject").count():
        page.click("#cookies-reject")
    assert page.locator("#tenant_id").count() == 0  # no Customer ID to type
    check_page(page, f"tenant-login-{tag}")
    # A wrong password: the same answer as an unknown address; no customer named.
    tenant_login(page, base, "pat@shared.example", "a wrong long password")
    main = page.inner_text("main")
    assert "wrong e-mail or password" in main
    assert "Acme" not in main and "Bolt" not in main
    check_page(page, f"tenant-login-wrong-{tag}")
    tenant_login(page, base, "pat@shared.example", PASSWORD)
    choices = page.locator("#choose").inner_text()
    assert "Acme Telecom" in choices and "Bolt Networks" in choices
    check_page(page, f"tenant-choose-{tag}")
    page.get_by_label("Bolt Networks").check()
    page.click("#choose-tenant")
    page.wait_for_url(f"{base}/tenant")
    assert page.locator("h1").inner_text() == "Bolt Networks"
    grants = page.locator("#grants").inner_text()
    assert "2 hours 30 minutes" in grants and "0:00:00" not in grants
    check_page(page, f"tenant-home-{tag}")
    page.click("#logout")
    page.wait_for_url(f"{base}/tenant/login")
    check_page(page, f"tenant-logged-out-{tag}")


@SIZES
def test_a_member_who_is_not_an_admin_sees_a_page(page, serve, phone_service, size) -> None:
    page.set_viewport_size(size)
    ctx, _ids = phone_service
    base = serve(ctx)
    tenant_login(page, base, "max@acme.example", PASSWORD)
    page.wait_for_url(f"{base}/tenant")
    main = page.inner_text("main")
    assert "Acme Telecom" in main and "for its admins" in main
    assert "pat@shared.example" in page.locator("#admins").inner_text()
    assert page.locator("#grants").count() == 0
    check_page(page, f"tenant-member-{size['width']}")
    page.click("#logout")
    page.wait_for_url(f"{base}/tenant/login")


@SIZES
@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("/console/login", "Password"),
        ("/privacy/cookies", "Cookie"),
        ("/privacy/download", "sign in"),
        ("/invitations", "Join your colleagues"),
        ("/privacy/me", "sign in to the privacy centre first"),
        ("/tenant/nosuch", "Not Found"),
    ],
)
def test_other_public_pages_and_errors(page, serve, lite, size, path, says) -> None:
    page.set_viewport_size(size)
    base = serve(lite)
    page.goto(f"{base}{path}")
    if page.locator("#cookies-reject").count():
        page.click("#cookies-reject")
        page.goto(f"{base}{path}")
    assert says.lower() in page.inner_text("main").lower()
    name = path.strip("/").replace("/", "-")
    check_page(page, f"page-{name}-{size['width']}")
