"""P16 (itechno, phone-service): passwords stored with a modern hash (argon2id), never in
plain text; session-only cookies; sessions end after idle and absolute timeouts; repeated
failures lock the account."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import inspect, select

from troth.access import session_cookie_attributes
from troth.clock import ManualClock
from troth.db import metadata
from troth.engine import Troth
from troth.errors import AuthenticationError, RateLimited

PW = "Tr0ub4dor&3-horse-staple"


@pytest.fixture
def t(home: Any, db_url: str) -> Troth:
    return home("phone-service", db_url, clock=ManualClock())


def everything_stored(t: Troth) -> str:
    out = []
    with t.ctx.engine.connect() as conn:
        for name in inspect(conn).get_table_names():
            table = metadata.tables.get(name)
            if table is not None:
                out.extend(repr(tuple(r)) for r in conn.execute(select(table)))
    return "\n".join(out)


def test_p16_password_hash_and_no_plaintext_anywhere(t: Troth) -> None:
    acme = t.access.tenants.create_tenant("Acme", "office@acme.example")
    tok, _ = t.access.tenants.invite(acme, "admin@acme.example", role="admin")
    t.access.tenants.accept_invitation(tok, PW)
    t.access.accounts.add_user("ops@vendor.example", kind="vendor_admin", password=PW)
    t.access.accounts.authenticate("ops@vendor.example", PW)
    dump = everything_stored(t)
    assert PW not in dump
    assert dump.count("$argon2id$") >= 2


def test_p16_cookie_is_session_only_and_protected() -> None:
    https = session_cookie_attributes(secure=True)
    http = session_cookie_attributes(secure=False)
    for attrs in (https, http):
        assert not {"expires", "max_age"} & set(attrs)  # ends when the browser closes
        assert attrs["httponly"] is True and attrs["samesite"] == "lax"
    assert https["secure"] is True and http["secure"] is False


def test_p16_idle_and_absolute_expiry_and_lockout(t: Troth) -> None:
    clock = t.ctx.clock
    assert isinstance(clock, ManualClock)
    s = t.ctx.settings
    user = t.access.accounts.add_user("ann@vendor.example", kind="vendor_admin", password=PW)

    token, session = t.access.sessions.start_session(
        t.access.accounts.authenticate("ann@vendor.example", PW)
    )
    assert session.expires_at == clock.now() + timedelta(hours=s.session_absolute_hours)
    clock.advance(minutes=s.session_idle_minutes + 1)
    with pytest.raises(AuthenticationError) as exc:
        t.access.sessions.resolve_session(token)
    assert exc.value.code == "session_idle"

    token, _ = t.access.sessions.start_session(user)
    end = clock.now() + timedelta(hours=s.session_absolute_hours)
    while clock.now() + timedelta(minutes=s.session_idle_minutes - 1) < end:
        clock.advance(minutes=s.session_idle_minutes - 1)
        t.access.sessions.resolve_session(token)  # kept busy: idle never triggers
    clock.advance(minutes=s.session_idle_minutes - 1)
    with pytest.raises(AuthenticationError) as exc:
        t.access.sessions.resolve_session(token)
    assert exc.value.code == "session_expired"

    for _ in range(s.login_max_failures):
        with pytest.raises(AuthenticationError):
            t.access.accounts.authenticate("ann@vendor.example", "guess-guess-guess")
    with pytest.raises(RateLimited):
        t.access.accounts.authenticate("ann@vendor.example", PW)
    clock.advance(minutes=s.login_lockout_minutes)
    assert t.access.accounts.authenticate("ann@vendor.example", PW).id == user.id
