"""The console and customer logins with a TOTP second factor (P16): the form has a field
for the authenticator's code, the access service decides (missing, wrong, old and replayed
codes refused, each audited; failures counted to the lockout), and a wrong code reads
exactly like a wrong password, so only someone with the right password learns that the
account wants a code. Accounts without a second factor log in as before."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from _http import PASSWORD, client_for, csrf_from
from troth.access import totp
from troth.audit.entries import list_entries
from troth.clock import ManualClock
from troth.engine import Troth

OFFICER = "officer@example.com"
PLAIN = "plain@example.com"
MEMBER = "pat@acme.example"


@pytest.fixture
def world(home: Any, db_url: str) -> Any:
    ctx = home("phone-service", db_url, clock=ManualClock(), context=True)
    t = Troth(ctx)
    officer = t.access.accounts.add_user(OFFICER, role="privacy_office", password=PASSWORD)
    t.access.accounts.add_user(PLAIN, role="privacy_office", password=PASSWORD)
    secret, _uri = t.access.accounts.enable_totp(officer.id)
    acme = t.access.tenants.create_tenant("Acme Telecom", MEMBER)
    member = t.access.accounts.add_user(
        MEMBER, kind="tenant_member", tenant_id=acme, tenant_role="admin", password=PASSWORD
    )
    member_secret, _ = t.access.accounts.enable_totp(member.id)
    yield ctx, t, {"officer": secret, "member": member_secret, "acme": acme}
    ctx.engine.dispose()


def _post(c: Any, where: str, email: str, password: str, **extra: str) -> Any:
    c.cookies.clear()
    page = c.get(f"/{where}/login").text
    return c.post(
        f"/{where}/login",
        data={"email": email, "password": password, "csrf_token": csrf_from(page), **extra},
        headers={"Accept": "text/html"},
        follow_redirects=False,
    )


def _alert(html: str) -> str:
    found = re.search(r'role="alert"[^>]*>(.*?)</p>', html, re.S)
    return found.group(1).strip() if found else ""


def _logins(ctx: Any) -> list[Any]:
    return [e.entry for e in list_entries(ctx, limit=200) if e.entry.action == "login"]


def _now(ctx: Any) -> Any:
    return ctx.clock.now()


@pytest.mark.parametrize("where", ["console", "tenant"])
def test_the_login_forms_ask_for_the_code(world: Any, where: str) -> None:
    ctx, _t, _s = world
    with client_for(ctx) as c:
        page = c.get(f"/{where}/login").text
    assert 'name="totp_code"' in page and 'autocomplete="one-time-code"' in page
    assert "Code from your authenticator app" in page
    assert re.search(r'<input[^>]*name="totp_code"[^>]*>', page).group(0).count("required") == 0


def test_console_login_with_the_current_code(world: Any) -> None:
    ctx, _t, secrets = world
    with client_for(ctx) as c:
        code = totp(secrets["officer"], _now(ctx))
        r = _post(c, "console", OFFICER, PASSWORD, totp_code=f"{code[:3]} {code[3:]}")
        assert r.status_code == 303 and r.headers["location"] == "/console"
        assert c.get("/console").status_code == 200
    assert _logins(ctx)[-1].outcome.value == "allow"


def test_console_login_without_the_code_asks_for_it(world: Any) -> None:
    ctx, t, _s = world
    with client_for(ctx) as c:
        r = _post(c, "console", OFFICER, PASSWORD)
        assert r.status_code == 401
        assert _alert(r.text) == "this account needs the code from its authenticator app"
        assert f'value="{OFFICER}"' in r.text  # the address is kept, the password is not
        assert PASSWORD not in r.text
        field = re.search(r'<input[^>]*name="totp_code"[^>]*>', r.text).group(0)
        assert "required" in field
        assert c.get("/console", follow_redirects=False).status_code != 200
    assert _logins(ctx)[-1].reason == "second_factor_missing"
    assert t.access.accounts.find_user(OFFICER).failed_logins == 1


def test_a_wrong_code_reads_like_a_wrong_password(world: Any) -> None:
    ctx, _t, secrets = world
    code = totp(secrets["officer"], _now(ctx))
    wrong = "000000" if code != "000000" else "111111"
    with client_for(ctx) as c:
        bad_code = _post(c, "console", OFFICER, PASSWORD, totp_code=wrong)
        bad_password = _post(c, "console", OFFICER, "not the password", totp_code=code)
        unknown = _post(c, "console", "nobody@example.com", PASSWORD, totp_code=code)
    answers = {(r.status_code, _alert(r.text)) for r in (bad_code, bad_password, unknown)}
    assert answers == {(401, "wrong e-mail, password or code")}
    reasons = [e.reason for e in _logins(ctx)]
    assert reasons == ["second_factor_wrong", "wrong_password", "unknown_account"]


def test_an_old_or_replayed_code_is_refused(world: Any) -> None:
    ctx, _t, secrets = world
    old = totp(secrets["officer"], _now(ctx) - timedelta(seconds=90))
    with client_for(ctx) as c:
        r = _post(c, "console", OFFICER, PASSWORD, totp_code=old)
        assert r.status_code == 401
        code = totp(secrets["officer"], _now(ctx))
        assert _post(c, "console", OFFICER, PASSWORD, totp_code=code).status_code == 303
        ctx.clock.advance(seconds=20)  # still inside the code's window
        again = _post(c, "console", OFFICER, PASSWORD, totp_code=code)
        assert again.status_code == 401
        assert _alert(again.text) == "wrong e-mail, password or code"
    assert [e.reason for e in _logins(ctx)] == [
        "second_factor_wrong",
        None,
        "second_factor_wrong",
    ]


def test_wrong_codes_lock_the_account(world: Any) -> None:
    ctx, t, secrets = world
    limit = ctx.settings.login_max_failures
    with client_for(ctx) as c:
        for _ in range(limit):
            code = totp(secrets["officer"], _now(ctx))
            wrong = f"{(int(code) + 1) % 1_000_000:06d}"
            _post(c, "console", OFFICER, PASSWORD, totp_code=wrong)
            ctx.clock.advance(seconds=31)
        r = _post(c, "console", OFFICER, PASSWORD, totp_code=totp(secrets["officer"], _now(ctx)))
        assert r.status_code == 429 and "locked until" in _alert(r.text)
        assert c.get("/console", follow_redirects=False).status_code != 200
    assert t.access.accounts.find_user(OFFICER).locked_until is not None
    assert _logins(ctx)[-1].reason == "locked_out"


def test_an_account_without_totp_needs_no_code(world: Any) -> None:
    ctx, _t, _s = world
    with client_for(ctx) as c:
        assert _post(c, "console", PLAIN, PASSWORD).status_code == 303
        assert _post(c, "console", PLAIN, PASSWORD, totp_code="123456").status_code == 303
        wrong = _post(c, "console", PLAIN, "not the password")
        assert _alert(wrong.text) == "wrong e-mail or password"


def test_a_forged_login_uses_no_code(world: Any) -> None:
    """Without the form's CSRF token nothing is checked: no session, the code stays unused."""
    ctx, _t, secrets = world
    with client_for(ctx) as c:
        for where, email in (("console", OFFICER), ("tenant", MEMBER)):
            code = totp(secrets["officer" if where == "console" else "member"], _now(ctx))
            forged = c.post(
                f"/{where}/login",
                data={"email": email, "password": PASSWORD, "totp_code": code},
                headers={"Accept": "text/html"},
                follow_redirects=False,
            )
            assert forged.status_code == 403
            assert "troth_session" not in forged.headers.get("set-cookie", "")
            assert _post(c, where, email, PASSWORD, totp_code=code).status_code == 303
    assert [e.outcome.value for e in _logins(ctx)] == ["allow", "allow"]


@pytest.mark.parametrize("by_link", [False, True], ids=["by-email", "invitation-link"])
def test_customer_login_with_totp(world: Any, by_link: bool) -> None:
    ctx, _t, secrets = world
    extra = {"tenant_id": secrets["acme"]} if by_link else {}
    with client_for(ctx) as c:
        missing = _post(c, "tenant", MEMBER, PASSWORD, **extra)
        assert missing.status_code == 401
        assert _alert(missing.text) == "this account needs the code from its authenticator app"
        assert f'value="{MEMBER}"' in missing.text
        code = totp(secrets["member"], _now(ctx))
        wrong = f"{(int(code) + 1) % 1_000_000:06d}"
        bad = _post(c, "tenant", MEMBER, PASSWORD, totp_code=wrong, **extra)
        assert (bad.status_code, _alert(bad.text)) == (401, "wrong e-mail, password or code")
        r = _post(c, "tenant", MEMBER, PASSWORD, totp_code=code, **extra)
        assert r.status_code == 303 and r.headers["location"] == "/tenant"
        assert "Acme Telecom" in c.get("/tenant").text
        replay = _post(c, "tenant", MEMBER, PASSWORD, totp_code=code, **extra)
        assert replay.status_code == 401
    reasons = [e.reason for e in _logins(ctx)]
    assert reasons == ["second_factor_missing", "second_factor_wrong", None, "second_factor_wrong"]
