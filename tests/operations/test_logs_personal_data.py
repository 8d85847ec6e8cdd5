"""No personal data in the server's logs: a real `troth serve` process (access log on,
log level info) is driven through a session of collections, look-ups by e-mail and phone,
a console search, a person's requests and downloads in the privacy centre, and a tenant
login by e-mail; its whole output (access log and application log) is then searched for
the e-mail addresses, phone numbers and card numbers used."""

from __future__ import annotations

import re
import signal
import subprocess
from pathlib import Path
from typing import Any

import httpx

from _http import PASSWORD, challenge_from, csrf_from
from outbox_helpers import outbox_mail
from served import Served, stop
from troth.clock import ManualClock
from troth.engine import Troth
from troth.home import open_context

ORDER = {
    "name": "Ann Lee",
    "email": "ann.lee@example.com",
    "phone": "+15551234567",
    "address": "1 Main St",
    "zip_code": "10001",
    "card_number": "4111111111111111",
    "card_expiry": "12/29",
    "order_items": "2 widgets",
}


def _code(home: Path, email: str) -> str:
    ctx = open_context(home)
    try:
        newest = outbox_mail(ctx, to=email, newest_first=True)
        body = (newest[0].body_text,) if newest else None
    finally:
        ctx.engine.dispose()
    assert body is not None, f"no mail to {email}"
    found = re.search(r"\b(\d{6})\b", body[0])
    assert found
    return found.group(1)


def test_a_served_session_logs_no_email_phone_or_card(
    home: Any, serve_troth: Served, tmp_path: Path
) -> None:
    home_dir = tmp_path / "home"
    ctx = home("itechno", clock=ManualClock(), context=True)
    t = Troth(ctx)
    key, _ = t.access.keys.create_api_key("shop", ["collect", "use", "requests:admin"])
    t.access.accounts.add_user(
        "pat@itechno.example", kind="staff", role="privacy_office", password=PASSWORD
    )
    t.close()
    ctx.engine.dispose()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc, port = serve_troth(
            home_dir, "--log-level", "info", ready="/privacy", stdout=out, stderr=subprocess.STDOUT
        )
        base = f"http://127.0.0.1:{port}"
        try:
            h = {"Authorization": f"Bearer {key}"}
            with httpx.Client(base_url=base, follow_redirects=True, timeout=30) as c:
                # An application collects an order and looks the person up.
                r = c.post("/api/v1/collect/order_form", json={"data": ORDER}, headers=h)
                assert r.status_code in (200, 201), r.text
                assert (
                    c.post(
                        "/api/v1/search/subjects", json={"email": ORDER["email"]}, headers=h
                    ).status_code
                    == 200
                )
                # itechno finds people by e-mail only: a phone is refused (422), unlogged.
                r = c.post("/api/v1/search/subjects", json={"phone": ORDER["phone"]}, headers=h)
                assert r.status_code in (200, 422)
                r = c.post(
                    "/api/v1/requests", json={"kind": "access", "email": ORDER["email"]}, headers=h
                )
                assert r.status_code in (200, 201), r.text
                # The privacy officer searches by e-mail in the console.
                page = c.get("/console/login").text
                r = c.post(
                    "/console/login",
                    data={
                        "email": "pat@itechno.example",
                        "password": PASSWORD,
                        "csrf_token": csrf_from(page),
                    },
                )
                assert r.url.path == "/console"
                form = c.get("/console/subjects").text
                r = c.post(
                    "/console/subjects",
                    data={"email": ORDER["email"], "csrf_token": csrf_from(form)},
                )
                assert r.status_code == 200
                c.cookies.clear()
                # The person signs in, looks, asks for a correction and downloads.
                page = c.get("/privacy/signin").text
                code_page = c.post(
                    "/privacy/signin", data={"email": ORDER["email"], "csrf_token": csrf_from(page)}
                )
                me = c.post(
                    "/privacy/code",
                    data={
                        "challenge": challenge_from(code_page.text),
                        "code": _code(home_dir, ORDER["email"]),
                        "csrf_token": csrf_from(code_page.text),
                    },
                )
                assert me.url.path == "/privacy/me"
                assert "•••• 1111" in me.text
                csrf = csrf_from(me.text)
                c.post(
                    "/privacy/me/requests",
                    data={
                        "kind": "correct",
                        "csrf_token": csrf,
                        "details": f"call me on {ORDER['phone']}",
                    },
                )
                assert c.post("/privacy/me/export", data={"csrf_token": csrf}).content[:2] == b"PK"
                c.cookies.clear()
                # A customer login by e-mail (wrong password: the address is in the form).
                page = c.get("/tenant/login").text
                c.post(
                    "/tenant/login",
                    data={
                        "email": ORDER["email"],
                        "password": "nope nope",
                        "csrf_token": csrf_from(page),
                    },
                )
        finally:
            stop(proc, signal.SIGINT)
    text = log.read_text(errors="replace")
    assert "POST /api/v1/search/subjects" in text and "POST /privacy/code" in text, (
        "the access log was not on: " + text[:500]
    )
    digits = re.sub(r"\D", "", text)
    for secret in (
        ORDER["email"],
        "ann.lee%40example.com",
        "pat@itechno.example",
        "pat%40itechno.example",
        ORDER["phone"],
        "%2B15551234567",
    ):
        assert secret not in text, f"{secret} is in the server's log"
    assert ORDER["card_number"] not in digits, "a card number is in the server's log"
    assert "5551234567" not in digits, "a phone number is in the server's log"
