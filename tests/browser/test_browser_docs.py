"""The API docs on a machine without internet: /docs (Swagger UI) and /redoc (ReDoc) load
with every request that leaves 127.0.0.1 blocked, and show the API's operations."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from ux import DESKTOP, PHONE, check_page

pytestmark = pytest.mark.browser


def _offline(page) -> list[str]:
    """Abort every request that would leave this machine; the list of those tried."""
    tried: list[str] = []

    def handle(route) -> None:
        host = urlsplit(route.request.url).hostname
        if route.request.url.startswith(("data:", "blob:")) or host in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            tried.append(route.request.url)
            route.abort()

    page.route("**/*", handle)
    return tried


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_swagger_ui_renders_offline(page, serve, lite, size) -> None:
    page.set_viewport_size(size)
    tried = _offline(page)
    base = serve(lite)
    page.goto(f"{base}/docs")
    page.locator(".opblock").first.wait_for()
    text = page.locator("#swagger-ui").inner_text()
    assert "/api/v1/collect/{point}" in text
    assert "/api/v1/search/subjects" in text
    assert page.locator(".opblock").count() > 20
    assert tried == [], f"the docs tried to reach {tried}"
    if size is DESKTOP:
        # Swagger UI nests its copy button inside the operation's summary button.
        check_page(page, "docs-swagger", upstream=frozenset({"nested-interactive"}))


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_redoc_renders_offline(page, serve, lite, size) -> None:
    page.set_viewport_size(size)
    tried = _offline(page)
    base = serve(lite)
    page.goto(f"{base}/redoc")
    page.get_by_text("/api/v1/search/subjects").first.wait_for(state="attached")
    assert "troth" in page.title()
    assert page.locator("[data-section-id^='operation/']").count() > 20
    assert tried == [], f"the docs tried to reach {tried}"
    if size is DESKTOP:
        # ReDoc's content-type pickers are <select>s without a label.
        check_page(page, "docs-redoc", upstream=frozenset({"select-name"}))
