"""Helpers for the HTTP and web tests: the app, API keys and logins (the home comes from the
``home`` fixture, or ``mindlink`` / ``lite`` / ``phone``, in tests/conftest.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient

from troth.app import create_app
from troth.context import Context

PASSWORD = "correct horse battery staple"


@contextmanager
def client_for(ctx: Context, **kwargs: Any) -> Iterator[TestClient]:
    app = create_app(ctx, **kwargs)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def section(html: str, ident: str) -> str:
    """The part of a page from the element with id ``ident`` to the end of its section."""
    return html.split(f'id="{ident}"', 1)[1].split("</section>", 1)[0]


def privacy_sign_in(c: TestClient, ctx: Context, email: str) -> str:
    """Sign in to the privacy centre as the person at ``email`` with the code e-mailed to
    them (read from the outbox); returns the signed-in page's CSRF token."""
    from outbox_helpers import latest_body

    c.cookies.clear()
    page = c.get("/privacy/signin").text
    code_page = c.post("/privacy/signin", data={"email": email, "csrf_token": csrf_from(page)})
    assert code_page.status_code == 200 and "c=" not in str(code_page.url)
    body = latest_body(ctx, to=email)
    code = re.search(r"\b(\d{6})\b", body or "")
    assert code, "no sign-in code in the mail"
    me = c.post(
        "/privacy/code",
        data={
            "challenge": challenge_from(code_page.text),
            "code": code.group(1),
            "csrf_token": csrf_from(code_page.text),
        },
    )
    assert me.url.path == "/privacy/me", me.text
    return csrf_from(me.text)


def api_key(client: TestClient, scopes: list[str], tenant_id: str | None = None) -> dict[str, str]:
    t = client.app.state.troth  # type: ignore[attr-defined]
    key, _ = t.access.keys.create_api_key("test", scopes, tenant_id=tenant_id)
    return {"Authorization": f"Bearer {key}"}


def challenge_from(html: str) -> str:
    """The sign-in challenge the code page carries in its form."""
    m = re.search(r'name="challenge" value="([^"]+)"', html)
    assert m, "no challenge on the page"
    return m.group(1)


def csrf_from(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF token on the page"
    return m.group(1)


def is_problem(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body: dict[str, Any] = response.json()
    for member in ("type", "title", "status", "detail", "code"):
        assert member in body, body
    assert body["status"] == status
    assert "Traceback" not in response.text
    if code is not None:
        assert body["code"] == code, body
    return body


def console_login(c: TestClient, email: str, *, follow: bool = True) -> str:
    """Sign ``email`` in to the console with :data:`PASSWORD`, on a fresh cookie jar.
    Followed (the default): the landing page must answer 200, and its CSRF token is
    returned; not followed: the sign-in must answer 303, and "" is returned."""
    c.cookies.clear()
    page = c.get("/console/login").text
    r = c.post(
        "/console/login",
        data={"email": email, "password": PASSWORD, "csrf_token": csrf_from(page)},
        follow_redirects=follow,
    )
    assert r.status_code == (200 if follow else 303), r.text
    return csrf_from(r.text) if follow else ""
