"""No secret and no personal data in a URL (issue 20 item 1, issue 13 item 8): exports
bound to their person or tenant and downloaded once, codes POSTed, look-ups POSTed, the
old GET shapes refused, sign-in code limits, and an access log with nothing to steal.
On SQLite and PostgreSQL (the access-log scenario: a real uvicorn on SQLite)."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import select

from _http import (
    PASSWORD,
    api_key,
    challenge_from,
    client_for,
    csrf_from,
    is_problem,
    privacy_sign_in,
)
from outbox_helpers import latest_body
from served import free_port
from troth.app import create_app
from troth.audit.entries import list_entries
from troth.clock import ManualClock
from troth.engine import Troth
from troth.errors import NotFound
from troth.gate import SYSTEM, Actor, ActorKind
from troth.notices.outbox import outbox

SUPPORT = {"name": "Ada Lovelace", "email": "ada@example.com", "message": "Hello"}
BOB = {"name": "Bob Stone", "email": "bob@example.com", "message": "Hi"}
CARL = {"name": "Carl", "email": "carl@bolt.example"}


def last_mail(ctx: Any, to: str) -> str:
    return str(latest_body(ctx, to=to))


def access_code(t: Troth, email: str, **kw: Any) -> str:
    """Run an access request for ``email`` (staff-verified); the export's one-time code."""
    req = t.requests.open("access", email=email, **kw)
    t.requests.verify_by_staff(req.id, staff="officer", reason="passport seen")
    done = t.requests.execute(req.id)
    assert done.download_token
    return done.download_token


# -- the domain: who may download which export ------------------------------------------
@pytest.fixture
def tenants(home: Any, db_url: str) -> tuple[Troth, str, str, str]:
    """phone-service (multi-tenant): Acme's and Bolt's callers; returns (troth, acme, bolt,
    the code of an export of Bolt's caller)."""
    t = home("phone-service", db_url)
    acme = t.access.tenants.create_tenant("Acme", "office@acme.example")
    bolt = t.access.tenants.create_tenant("Bolt", "office@bolt.example")
    sid = t.collect("user_invitation", CARL, tenant_id=bolt).subject_id
    req = t.requests.open("access", subject_id=sid, tenant_id=bolt)
    t.requests.verify_by_staff(req.id, staff="officer", reason="ID seen")
    done = t.requests.execute(req.id)
    assert done.download_token
    return t, acme, bolt, done.download_token


def test_another_tenants_admin_never_gets_the_export(
    tenants: tuple[Troth, str, str, str],
) -> None:
    t, acme, bolt, code = tenants
    strangers = [
        Actor(ActorKind.tenant_admin, "u1", tenant_id=acme),
        Actor(ActorKind.application, "k1", tenant_id=acme, scopes=frozenset({"admin"})),
        Actor(ActorKind.application, "k2", tenant_id=acme, scopes=frozenset({"requests:admin"})),
        Actor(ActorKind.tenant_member, "u2", tenant_id=bolt),  # the right tenant, no admin
        Actor(ActorKind.subject, "someone-else"),
    ]
    for actor in strangers:
        with pytest.raises(NotFound) as info:
            t.requests.download(code, actor=actor)
        # The same answer as an unknown code: nothing says the export exists.
        assert info.value.code == "no_export", actor
    refusals = [
        e.entry
        for e in list_entries(t.ctx, newest_first=True, limit=50)
        if e.entry.action == "request.download"
    ]
    assert [e.reason for e in refusals] == [
        "not_the_owner",
        "role_not_allowed",
        "not_a_member",
        "not_a_member",
        "not_a_member",
    ]
    assert all(e.outcome == "deny" and e.tenant_id == bolt for e in refusals)
    # Still there for its owner's tenant admin, once.
    owner = Actor(ActorKind.tenant_admin, "u3", tenant_id=bolt)
    assert t.requests.download(code, actor=owner)[:2] == b"PK"
    with pytest.raises(NotFound) as again:
        t.requests.download(code, actor=owner)
    assert again.value.code == "export_used"


def test_tenant_export_goes_to_its_tenant_only(tenants: tuple[Troth, str, str, str]) -> None:
    t, acme, bolt, _ = tenants
    link = t.requests.export_tenant(bolt)
    with pytest.raises(NotFound):
        t.requests.download(link.token, actor=Actor(ActorKind.tenant_admin, "a", tenant_id=acme))
    with pytest.raises(NotFound):
        t.requests.download(link.token, actor=Actor(ActorKind.subject, "x"))
    # Made by troth itself (the operator): bound to it, not to whoever says they are one of
    # the tenant's admins (tests/requests/test_tenant_export_codes.py: bound to its maker).
    with pytest.raises(NotFound):
        t.requests.download(link.token, actor=Actor(ActorKind.tenant_admin, "b", tenant_id=bolt))
    assert t.requests.download(link.token, actor=SYSTEM)[:2] == b"PK"


def test_racing_downloads_hand_the_file_over_once(home: Any, db_url: str) -> None:
    t = home("mindlink", db_url)
    t.collect("support_request", SUPPORT)
    code = access_code(t, "ada@example.com")
    got: list[bytes] = []
    refused: list[str] = []
    barrier = threading.Barrier(4)

    def fetch() -> None:
        barrier.wait()
        try:
            got.append(t.requests.download(code, actor=SYSTEM))
        except NotFound as exc:
            refused.append(exc.code)

    threads = [threading.Thread(target=fetch) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(got) == 1 and got[0][:2] == b"PK"
    assert refused == ["export_used"] * 3


# -- HTTP: codes and addresses only in bodies --------------------------------------------
def test_api_export_is_bound_to_the_keys_tenant(home: Any, db_url: str) -> None:
    """Issue 13 item 8: A's admin / requests:admin key does not download B's export."""
    t = home("phone-service", db_url)
    acme = t.access.tenants.create_tenant("Acme", "office@acme.example")
    bolt = t.access.tenants.create_tenant("Bolt", "office@bolt.example")
    t.collect("user_invitation", CARL, tenant_id=bolt)
    with client_for(t.ctx) as c:
        bolt_key = api_key(c, ["requests:admin"], tenant_id=bolt)
        rid = c.post(
            "/api/v1/requests",
            json={"kind": "access", "email": "carl@bolt.example"},
            headers=bolt_key,
        ).json()["id"]
        c.post(f"/api/v1/requests/{rid}/verify-by-staff", json={"reason": "ID"}, headers=bolt_key)
        done = c.post(f"/api/v1/requests/{rid}/execute", headers=bolt_key).json()
        code = done["download_code"]
        assert code and "download_url" not in done
        for scopes in (["admin"], ["requests:admin"]):
            acme_key = api_key(c, scopes, tenant_id=acme)
            r = c.post("/api/v1/exports", json={"code": code}, headers=acme_key)
            is_problem(r, 404, "no_export")
        is_problem(c.post("/api/v1/exports", json={"code": code}, headers=api_key(c, ["use"])), 403)
        is_problem(c.post("/api/v1/exports", json={"code": ""}, headers=bolt_key), 422)
        is_problem(c.post("/api/v1/exports", json={"code": code, "x": 1}, headers=bolt_key), 422)
        r = c.post("/api/v1/exports", json={"code": code}, headers=bolt_key)
        assert r.status_code == 200 and r.content[:2] == b"PK"


def test_privacy_download_needs_the_persons_session(mindlink: Any) -> None:
    t = Troth(mindlink)
    t.collect("support_request", SUPPORT)
    t.collect("support_request", BOB)
    code = access_code(t, "ada@example.com")
    mail = last_mail(mindlink, "ada@example.com")
    assert f"/privacy/download#{code}" in mail and f"/privacy/download/{code}" not in mail
    with client_for(mindlink) as c:
        page = c.get("/privacy/download")
        assert page.status_code == 200 and "sign in" in page.text.lower()
        # Without a session: refused, whatever the code.
        r = c.post(
            "/privacy/download",
            data={"code": code, "csrf_token": csrf_from(page.text)},
            headers={"Accept": "text/html"},
        )
        assert r.status_code == 401 and "PK" not in r.text[:2]
        # Bob, signed in, with Ada's code: as if the code were unknown.
        bob = privacy_sign_in(c, mindlink, "bob@example.com")
        r = c.post(
            "/privacy/download",
            data={"code": code, "csrf_token": bob},
            headers={"Accept": "text/html"},
        )
        assert r.status_code == 404 and "Ada" not in r.text
        # Ada, signed in: the form is there (the script fills it from the #), CSRF is checked.
        ada = privacy_sign_in(c, mindlink, "ada@example.com")
        form = c.get("/privacy/download").text
        assert 'action="/privacy/download"' in form and "data-from-fragment" in form
        assert code not in form
        r = c.post("/privacy/download", data={"code": code}, headers={"Accept": "text/html"})
        assert r.status_code == 403
        r = c.post("/privacy/download", data={"code": code, "csrf_token": ada})
        assert r.status_code == 200 and r.content[:2] == b"PK"
        r = c.post(
            "/privacy/download",
            data={"code": code, "csrf_token": ada},
            headers={"Accept": "text/html"},
        )
        assert r.status_code == 404 and "already used" in r.text
        # The old link shape is refused with a clear message, never served.
        r = c.get(f"/privacy/download/{code}", headers={"Accept": "text/html"})
        assert r.status_code == 422 and "no longer accepted in the address" in r.text


def test_invitation_code_is_posted_never_in_the_address(home: Any, db_url: str) -> None:
    t = home("phone-service", db_url)
    acme = t.access.tenants.create_tenant("Acme", "office@acme.example")
    token, _ = t.access.tenants.invite(acme, "boss@acme.example", role="admin")
    mail = last_mail(t.ctx, "boss@acme.example")
    assert f"/invitations#{token}" in mail and f"/invitations/{token}" not in mail
    with client_for(t.ctx) as c:
        page = c.get("/invitations")
        assert page.status_code == 200 and "data-from-fragment" in page.text
        assert token not in page.text
        csrf = csrf_from(page.text)
        # The old shapes: refused, and nobody became a member through them.
        for r in (
            c.get(f"/invitations/{token}", headers={"Accept": "text/html"}),
            c.post(
                f"/invitations/{token}",
                data={"password": PASSWORD, "csrf_token": csrf},
                headers={"Accept": "text/html"},
            ),
        ):
            assert r.status_code == 422 and "no longer accepted in the address" in r.text
        assert t.access.accounts.list_users(tenant_id=acme) == []
        r = c.post(
            "/invitations",
            data={"code": "not-it", "password": PASSWORD, "csrf_token": csrf},
            headers={"Accept": "text/html"},
        )
        assert r.status_code == 401
        r = c.post(
            "/invitations",
            data={"code": token, "password": PASSWORD, "name": "Boss", "csrf_token": csrf},
            follow_redirects=False,
        )
        assert r.status_code == 303 and r.headers["location"] == f"/tenant/login?t={acme}"
        (boss,) = t.access.accounts.list_users(tenant_id=acme)
        assert boss.email == "boss@acme.example"
        # Once.
        r = c.post(
            "/invitations",
            data={"code": token, "password": PASSWORD, "csrf_token": csrf},
            headers={"Accept": "text/html"},
        )
        assert r.status_code in (401, 409)


# -- sign-in code limits -----------------------------------------------------------------
def _ask_code(c: Any, email: str, client: str = "testclient") -> Any:
    page = c.get("/privacy/signin").text
    return c.post(
        "/privacy/signin",
        data={"email": email, "csrf_token": csrf_from(page)},
        headers={"Accept": "text/html"},
    )


def test_signin_codes_limited_per_address_known_or_not(mindlink: Any) -> None:
    Troth(mindlink).collect("support_request", SUPPORT)
    limit = mindlink.settings.signin_codes_per_address
    with client_for(mindlink) as c:
        for email in ("ada@example.com", "nobody@example.com"):
            for _ in range(limit):
                assert _ask_code(c, email).status_code == 200
                mindlink.clock.advance(seconds=mindlink.settings.signin_code_interval_seconds + 1)
            r = _ask_code(c, email)
            # Known and unknown addresses answer alike: the limit reveals nothing.
            assert r.status_code == 429 and "too many sign-in codes" in r.text, r.text
            assert "this address" in r.text
        with mindlink.engine.connect() as conn:
            sent = conn.execute(
                select(outbox.c.id).where(outbox.c.to_addr == "ada@example.com")
            ).all()
        assert len(sent) == limit
        # Another time zone, another case: the same address is the same address.
        assert _ask_code(c, "ADA@Example.com").status_code == 429
        mindlink.clock.advance(hours=1, seconds=1)
        assert _ask_code(c, "ada@example.com").status_code == 200
    denied = [
        e.entry
        for e in list_entries(mindlink, newest_first=True, limit=100)
        if e.entry.action == "privacy.signin_code"
    ]
    assert denied and all(e.reason == "too_many_codes" for e in denied)
    assert all("ada@example.com" not in str(e.details) for e in denied)


def test_a_second_code_too_soon_says_how_long_to_wait(mindlink: Any) -> None:
    """Eight clicks within a second send one code; the page says when to ask again."""
    Troth(mindlink).collect("support_request", SUPPORT)
    wait = mindlink.settings.signin_code_interval_seconds
    with client_for(mindlink) as c:
        answers = [_ask_code(c, "ada@example.com") for _ in range(8)]
        assert answers[0].status_code == 200
        for r in answers[1:]:
            assert r.status_code == 429 and int(r.headers["retry-after"]) == wait
            assert f"wait {wait} seconds" in r.text and "a moment ago" in r.text
            assert 'value="ada@example.com"' in r.text  # the form keeps the address
        mindlink.clock.advance(seconds=wait - 10)
        r = _ask_code(c, "ada@example.com")
        assert r.status_code == 429 and "wait 10 seconds" in r.text
        # An unknown address answers exactly alike (nothing is revealed).
        assert _ask_code(c, "nobody@example.com").status_code == 200
        unknown = _ask_code(c, "nobody@example.com")
        assert unknown.status_code == 429 and f"wait {wait} seconds" in unknown.text
        mindlink.clock.advance(seconds=11)
        assert _ask_code(c, "ada@example.com").status_code == 200
    with mindlink.engine.connect() as conn:
        sent = conn.execute(select(outbox.c.id).where(outbox.c.to_addr == "ada@example.com")).all()
    assert len(sent) == 2


def test_signin_codes_limited_per_client(home: Any) -> None:
    ctx = home("mindlink", clock=ManualClock(), context=True)
    limit = ctx.settings.signin_codes_per_client
    with client_for(ctx) as c:
        answers = [_ask_code(c, f"p{i}@example.com").status_code for i in range(limit + 2)]
    assert answers[:limit] == [200] * limit
    assert answers[limit:] == [429, 429]
    ctx.engine.dispose()


def test_old_code_page_address_carries_nothing(mindlink: Any) -> None:
    with client_for(mindlink) as c:
        r = c.get("/privacy/code?c=abc", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/privacy/signin"


# -- the access log of a real server -----------------------------------------------------
class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def served(home: Any) -> Iterator[tuple[Any, str, _Lines]]:
    """The app under a real uvicorn with its access log on; yields (ctx, base URL, log)."""
    ctx = home("mindlink", clock=ManualClock(), context=True)
    port = free_port()
    lines = _Lines()
    access = logging.getLogger("uvicorn.access")
    config = uvicorn.Config(
        create_app(ctx), host="127.0.0.1", port=port, access_log=True, log_level="info"
    )
    server = uvicorn.Server(config)
    th = threading.Thread(target=server.run, daemon=True)
    th.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    access.addHandler(lines)  # after uvicorn configured its loggers
    try:
        yield ctx, f"http://127.0.0.1:{port}", lines
    finally:
        server.should_exit = True
        th.join(timeout=30)
        access.removeHandler(lines)
        ctx.engine.dispose()


def test_access_log_carries_no_code_token_email_or_phone(
    served: tuple[Any, str, _Lines],
) -> None:
    ctx, base, log = served
    t = Troth(ctx)
    t.collect("support_request", SUPPORT)
    key, _ = t.access.keys.create_api_key("shop", ["collect", "use", "requests:admin"])
    h = {"Authorization": f"Bearer {key}"}
    secrets: list[str] = [key, "ada@example.com", "ada%40example.com", "+441234567890"]
    # a served troth hashes passwords at full cost: 5 s (httpx's default) is short on a busy CI
    with httpx.Client(base_url=base, follow_redirects=True, timeout=30) as c:
        # Look-ups by address and phone, through the API.
        r = c.post("/api/v1/search/subjects", json={"email": "ada@example.com"}, headers=h)
        assert r.status_code == 200
        c.post("/api/v1/search/subjects", json={"phone": "+441234567890"}, headers=h)
        # A request over the API, its export downloaded with its code.
        rid = c.post(
            "/api/v1/requests", json={"kind": "access", "email": "ada@example.com"}, headers=h
        ).json()["id"]
        c.post(f"/api/v1/requests/{rid}/verify-by-staff", json={"reason": "ID"}, headers=h)
        code = c.post(f"/api/v1/requests/{rid}/execute", headers=h).json()["download_code"]
        secrets.append(code)
        assert c.post("/api/v1/exports", json={"code": code}, headers=h).content[:2] == b"PK"
        # The person signs in (e-mail, challenge, code) and downloads another export.
        page = c.get("/privacy/signin").text
        code_page = c.post(
            "/privacy/signin", data={"email": "ada@example.com", "csrf_token": csrf_from(page)}
        ).text
        challenge = challenge_from(code_page)
        signin_code = re.search(r"\b(\d{6})\b", last_mail(ctx, "ada@example.com"))
        assert signin_code
        secrets += [challenge, signin_code.group(1)]
        me = c.post(
            "/privacy/code",
            data={
                "challenge": challenge,
                "code": signin_code.group(1),
                "csrf_token": csrf_from(code_page),
            },
        )
        assert me.url.path == "/privacy/me"
        secrets.append(c.cookies["troth_privacy"])
        second = access_code(t, "ada@example.com")
        secrets.append(second)
        form = c.get("/privacy/download").text
        r = c.post("/privacy/download", data={"code": second, "csrf_token": csrf_from(form)})
        assert r.content[:2] == b"PK"
    time.sleep(0.2)  # the last access lines
    text = "\n".join(log.lines)
    assert "POST /privacy/download" in text and "POST /api/v1/exports" in text
    assert "POST /api/v1/search/subjects" in text and "POST /privacy/code" in text
    for secret in secrets:
        assert secret not in text, f"{secret[:6]}... is in the access log"


def test_old_signin_codes_are_forgotten_but_not_before_the_limit_window(mindlink: Any) -> None:
    from troth.access.signin import purge_codes, signin_codes

    Troth(mindlink).collect("support_request", SUPPORT)
    with client_for(mindlink) as c:
        assert _ask_code(c, "ada@example.com").status_code == 200
        assert _ask_code(c, "nobody@example.com").status_code == 200
    mindlink.clock.advance(minutes=59)
    assert purge_codes(mindlink) == 0  # still counted towards the hour's limits
    mindlink.clock.advance(minutes=2)
    assert purge_codes(mindlink) == 2
    with mindlink.engine.connect() as conn:
        assert conn.execute(select(signin_codes)).all() == []
