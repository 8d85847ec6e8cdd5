"""Accounts, logins, sessions, API keys and TOTP (troth.access), on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from troth.access import UserKind, actor_for, session_cookie_attributes, totp
from troth.access.passwords import hotp, verify_totp
from troth.access.tables import api_keys, sessions, users
from troth.audit.entries import list_entries
from troth.clock import ManualClock
from troth.engine import Troth
from troth.errors import (
    AuthenticationError,
    Conflict,
    NotFound,
    RateLimited,
    ValidationError,
)
from troth.gate import ActorKind

PW = "correct horse battery staple"


@pytest.fixture
def t(home: Any, db_url: str) -> Iterator[Troth]:
    ctx = home("phone-service", db_url, clock=ManualClock(), context=True)
    tr = Troth(ctx)
    yield tr
    tr.close()


def clock(t: Troth) -> ManualClock:
    c = t.ctx.clock
    assert isinstance(c, ManualClock)
    return c


def last_entry(t: Troth) -> Any:
    return list_entries(t.ctx, newest_first=True, limit=1)[0].entry


def rows(t: Troth, table: Any) -> list[Any]:
    with t.ctx.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(table).order_by(*table.primary_key))]


def test_add_staff_and_authenticate(t: Troth) -> None:
    u = t.access.accounts.add_user(
        "Ann@Example.com", role="accounts", password=PW, display_name="Ann"
    )
    assert u.email == "ann@example.com" and u.kind is UserKind.staff
    got = t.access.accounts.authenticate("ann@example.com", PW)
    assert got.id == u.id
    actor = actor_for(got)
    assert actor.kind is ActorKind.staff and actor.role == "accounts"
    e = last_entry(t)
    assert e.action == "login" and e.outcome == "allow"


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"role": "nobody"}, ValidationError, "role of the policy"),
        ({"role": None}, ValidationError, "role of the policy"),
        ({"kind": "tenant_member"}, ValidationError, "needs a tenant"),
        ({"kind": "tenant_member", "tenant_id": "nope"}, NotFound, "no tenant"),
        ({"kind": "vendor_admin", "tenant_id": "x"}, ValidationError, "no tenant"),
        ({"kind": "robot"}, ValidationError, "unknown account kind"),
        ({"role": "accounts", "password": "short"}, ValidationError, "at least 10"),
    ],
)
def test_add_user_bad_input(t: Troth, kwargs: dict[str, Any], error: type, words: str) -> None:
    before = rows(t, users)
    with pytest.raises(error, match=words):
        t.access.accounts.add_user("x@example.com", **kwargs)
    assert rows(t, users) == before


def test_bad_email_and_duplicate(t: Troth) -> None:
    with pytest.raises(ValidationError, match="not an e-mail"):
        t.access.accounts.add_user("not-an-email", role="accounts")
    t.access.accounts.add_user("a@example.com", role="accounts")
    with pytest.raises(Conflict, match="already"):
        t.access.accounts.add_user("A@example.com ", role="support")
    # The same address may be a vendor admin too (unique per kind and tenant).
    t.access.accounts.add_user("a@example.com", kind="vendor_admin")


def test_password_hash_is_argon2id_never_plaintext(t: Troth) -> None:
    u = t.access.accounts.add_user("h@example.com", role="accounts", password=PW)
    with t.ctx.engine.connect() as conn:
        stored = conn.execute(select(users.c.password_hash).where(users.c.id == u.id)).scalar()
    assert stored.startswith("$argon2id$") and PW not in stored


def test_troth_itself_hashes_with_the_rfc_9106_low_memory_profile() -> None:
    """The tests hash at the lowest cost (tests/conftest.py); troth, in a process of its
    own, keeps argon2-cffi's RFC 9106 low-memory profile of argon2id (t=3, 64 MiB, p=4)."""
    probe = (
        "from argon2 import extract_parameters\n"
        "from argon2.profiles import RFC_9106_LOW_MEMORY\n"
        "from troth.access.passwords import hash_password\n"
        "used = extract_parameters(hash_password('correct horse battery staple'))\n"
        "print(used == RFC_9106_LOW_MEMORY, used)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.stdout.startswith("True "), done.stdout + done.stderr


def test_wrong_password_unknown_user_same_error_and_audited(t: Troth) -> None:
    t.access.accounts.add_user("b@example.com", role="accounts", password=PW)
    with pytest.raises(AuthenticationError) as wrong:
        t.access.accounts.authenticate("b@example.com", "wrong password!!")
    assert last_entry(t).reason == "wrong_password"
    with pytest.raises(AuthenticationError) as unknown:
        t.access.accounts.authenticate("nobody@example.com", PW)
    assert wrong.value.message == unknown.value.message
    e = last_entry(t)
    assert e.reason == "unknown_account" and "nobody" not in str(e.details)


def test_lockout_after_max_failures_then_expires(t: Troth) -> None:
    max_f = t.ctx.settings.login_max_failures
    t.access.accounts.add_user("c@example.com", role="accounts", password=PW)
    for _ in range(max_f):
        with pytest.raises(AuthenticationError):
            t.access.accounts.authenticate("c@example.com", "wrong password!!")
    # Locked: even the right password is refused, with when to come back.
    with pytest.raises(RateLimited, match="locked until"):
        t.access.accounts.authenticate("c@example.com", PW)
    assert last_entry(t).reason == "locked_out"
    clock(t).advance(minutes=t.ctx.settings.login_lockout_minutes + 1)
    assert t.access.accounts.authenticate("c@example.com", PW).failed_logins == 0


def test_disabled_user_cannot_log_in_and_loses_sessions_and_keys(t: Troth) -> None:
    u = t.access.accounts.add_user("d@example.com", role="support", password=PW)
    token, _ = t.access.sessions.start_session(u)
    key, _ = t.access.keys.create_api_key("d's key", ["collect"], user_id=u.id)
    t.access.accounts.disable_user(u.id)
    with pytest.raises(AuthenticationError, match="disabled"):
        t.access.accounts.authenticate("d@example.com", PW)
    with pytest.raises(AuthenticationError):
        t.access.sessions.resolve_session(token)
    with pytest.raises(AuthenticationError, match="revoked"):
        t.access.keys.resolve_api_key(key)


def test_sessions_idle_and_absolute_timeouts(t: Troth) -> None:
    s = t.ctx.settings
    u = t.access.accounts.add_user("e@example.com", role="support", password=PW)
    token, session = t.access.sessions.start_session(u)
    with t.ctx.engine.connect() as conn:
        stored = conn.execute(select(sessions.c.id)).scalars().all()
    assert token not in stored and session.id in stored  # only the hash is kept
    # Activity inside the idle window keeps it alive...
    for _ in range(3):
        clock(t).advance(minutes=s.session_idle_minutes - 1)
        assert t.access.sessions.resolve_session(token)[0].id == u.id
    # ...an idle gap ends it.
    clock(t).advance(minutes=s.session_idle_minutes)
    with pytest.raises(AuthenticationError, match="inactivity"):
        t.access.sessions.resolve_session(token)
    token2, _ = t.access.sessions.start_session(u)
    steps = int(s.session_absolute_hours * 60 / (s.session_idle_minutes - 1)) + 1
    with pytest.raises(AuthenticationError, match="expired"):
        for _ in range(steps):
            clock(t).advance(minutes=s.session_idle_minutes - 1)
            t.access.sessions.resolve_session(token2)


def test_forged_and_ended_session(t: Troth) -> None:
    u = t.access.accounts.add_user("f@example.com", role="support", password=PW)
    token, _ = t.access.sessions.start_session(u)
    with pytest.raises(AuthenticationError, match="not known"):
        t.access.sessions.resolve_session(token[:-2] + "xx")
    assert last_entry(t).reason == "unknown_session"
    t.access.sessions.end_session(token)
    with pytest.raises(AuthenticationError, match="ended"):
        t.access.sessions.resolve_session(token)
    assert last_entry(t).outcome == "deny"


def test_cookie_attributes_session_only() -> None:
    for secure in (False, True):
        attrs = session_cookie_attributes(secure)
        assert "max_age" not in attrs and "expires" not in attrs
        assert attrs["httponly"] is True and attrs["samesite"] in ("lax", "strict")
        assert attrs["secure"] is secure
    assert session_cookie_attributes(True)["key"].startswith("__Host-")


def test_api_keys_shown_once_scoped_revocable(t: Troth) -> None:
    key, rec = t.access.keys.create_api_key("shop", ["collect", "use:provide_service"])
    with t.ctx.engine.connect() as conn:
        stored = [str(v) for v in conn.execute(select(api_keys)).one()]
    assert key not in stored and key[4:] not in "".join(stored)
    actor = t.access.keys.resolve_api_key(key)
    assert actor.kind is ActorKind.application
    assert actor.scopes == frozenset({"collect", "use:provide_service"})
    assert t.access.keys.list_api_keys()[0].last_used_at == clock(t).now()
    t.access.keys.revoke_api_key(rec.prefix)
    with pytest.raises(AuthenticationError, match="revoked"):
        t.access.keys.resolve_api_key(key)
    assert last_entry(t).reason == "revoked_key"
    with pytest.raises(AuthenticationError, match="not a troth API key"):
        t.access.keys.resolve_api_key("Bearer something")
    with pytest.raises(AuthenticationError, match="not known"):
        t.access.keys.resolve_api_key("trk_" + "A" * 43)


@pytest.mark.parametrize(
    ("scopes", "words"),
    [([], "at least one"), (["fly"], "not an operation"), (["use:nothing"], "neither a purpose")],
)
def test_api_key_bad_scopes(t: Troth, scopes: list[str], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        t.access.keys.create_api_key("x", scopes)
    assert t.access.keys.list_api_keys(include_revoked=True) == []


def test_totp_rfc6238_vectors() -> None:
    # RFC 6238 appendix B, SHA-1, secret "12345678901234567890" (base32 below), 8 digits.
    import base64
    from datetime import UTC, datetime

    secret = base64.b32encode(b"12345678901234567890").decode()
    for ts, code in [(59, "94287082"), (1111111109, "07081804"), (2000000000, "69279037")]:
        assert hotp(secret, ts // 30, digits=8) == code
    at = datetime.fromtimestamp(59, UTC)
    assert verify_totp(secret, totp(secret, at), at) == 1
    assert verify_totp(secret, totp(secret, at), at + timedelta(seconds=30)) == 1  # ±1 step
    assert verify_totp(secret, totp(secret, at), at + timedelta(seconds=90)) is None


def test_totp_second_factor_for_admins(t: Troth) -> None:
    u = t.access.accounts.add_user("g@example.com", kind="vendor_admin", password=PW)
    secret, uri = t.access.accounts.enable_totp(u.id)
    assert uri.startswith("otpauth://totp/")
    with t.ctx.engine.connect() as conn:
        blob = conn.execute(select(users.c.totp_secret)).scalar()
    assert secret.encode() not in bytes(blob)
    with pytest.raises(AuthenticationError) as exc:
        t.access.accounts.authenticate("g@example.com", PW)
    assert exc.value.code == "second_factor_required"
    now = clock(t).now()
    with pytest.raises(AuthenticationError):
        t.access.accounts.authenticate(
            "g@example.com", PW, totp_code="000000" if totp(secret, now) != "000000" else "111111"
        )
    code = totp(secret, now)
    assert t.access.accounts.authenticate("g@example.com", PW, totp_code=code).id == u.id
    with pytest.raises(AuthenticationError):  # a code works once
        t.access.accounts.authenticate("g@example.com", PW, totp_code=code)
