"""One e-mail address on file with two customers (tenants) and the organisation, in a real
browser at 1280 px and 390 px: the privacy centre lists each record of the address, the
page passes ``check_page`` (axe-core, no sideways scrolling), and the person moves to a
customer's record with its button (no JavaScript needed) and sees that record only."""

from __future__ import annotations

from typing import Any

import pytest
from test_browser_centre import SIZES, sign_in
from ux import check_page

from troth.clock import ManualClock
from troth.engine import Troth

pytestmark = pytest.mark.browser
MIA = "mia@example.com"


@pytest.fixture
def phone_ctx(home: Any) -> Any:
    ctx = home("phone-service", clock=ManualClock(), context=True)
    yield ctx
    ctx.engine.dispose()


@SIZES
def test_the_person_moves_between_the_records_of_their_address(
    page: Any, serve: Any, phone_ctx: Any, size: Any
) -> None:
    tag = f"records-{size['width']}"
    page.set_viewport_size(size)
    t = Troth(phone_ctx)
    for tenant, company in (("Gym A", "Alpha Fitness Ltd"), ("Gym B", "Bravo Sports Ltd")):
        tid = t.access.tenants.create_tenant(tenant, f"office@{tenant[-1].lower()}.example")
        data = {"company_name": company, "name": "Mia", "email": MIA}
        t.collect("customer_signup", data, tenant_id=tid)
    t.collect("customer_signup", {"company_name": "Own Ltd", "name": "Mia", "email": MIA})
    base = serve(phone_ctx)
    sign_in(page, base, phone_ctx, MIA, tag)
    where = page.locator("#where")
    assert "Your address is on file more than once" in where.inner_text()
    assert "Own Ltd" in page.locator("#held").inner_text()
    with page.expect_navigation():
        page.get_by_role("button", name="Show the record held for Gym B").click()
    assert page.url == f"{base}/privacy/me"
    held = page.locator("#held").inner_text()
    assert "Bravo Sports Ltd" in held and "Own Ltd" not in held and "Alpha" not in held
    assert "Gym B" in page.locator("#where strong").inner_text()
    page.locator("#where").scroll_into_view_if_needed()
    check_page(page, f"privacy-{tag}")
