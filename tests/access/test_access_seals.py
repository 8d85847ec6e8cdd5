"""Access seals (troth.access.seals): a database writer without the key file who widens an
account's role or an API key's tenant and scopes gets a credential troth refuses as
unauthenticated (audited ``record_tampered``) and `troth audit verify` names; troth's own
writes (new key, revocation, new account, password change, member role, invitation) keep
every row sealed; a home from before access seals is sealed once by `troth db migrate`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from audit_helpers import edit_row, tampered_entries
from troth.access import UserKind, actor_for
from troth.access.tables import api_keys, users
from troth.audit import verify_log
from troth.audit.entries import list_entries
from troth.clock import ManualClock
from troth.engine import Troth
from troth.errors import AuthenticationError

PW = "correct horse battery staple"


@pytest.fixture
def t(home: Any, db_url: str) -> Iterator[Troth]:
    ctx = home("phone-service", db_url, clock=ManualClock(), context=True)
    tr = Troth(ctx)
    yield tr
    tr.close()


def test_a_key_widened_in_the_database_is_refused_and_named(t: Troth) -> None:
    tid = t.access.tenants.create_tenant("Acme", "office@acme.example")
    key, rec = t.access.keys.create_api_key("shop", ["collect"], tenant_id=tid)
    assert t.access.keys.resolve_api_key(key).tenant_id == tid
    assert verify_log(t.ctx).ok
    edit_row(t, api_keys, rec.id, tenant_id=None, scopes=["admin"])
    assert t.access.keys.peek_api_key(key) is None
    with pytest.raises(AuthenticationError, match="changed outside troth") as exc:
        t.access.keys.resolve_api_key(key)
    assert exc.value.code == "record_tampered"
    assert tampered_entries(t, "api_key")
    report = verify_log(t.ctx)
    assert not report.ok and report.bad_credentials == [f"api_keys:{rec.id}"]
    assert f"api_keys:{rec.id}" in (report.problem or "")
    # Revoking it does not seal it over: still named.
    t.access.keys.revoke_api_key(rec.id)
    assert verify_log(t.ctx).bad_credentials == [f"api_keys:{rec.id}"]


def test_a_role_widened_in_the_database_is_refused_and_named(t: Troth) -> None:
    u = t.access.accounts.add_user(
        "ann@example.com", kind=UserKind.staff, role="support", password=PW
    )
    token, _ = t.access.sessions.start_session(u)
    assert t.access.sessions.resolve_session(token)[0].id == u.id
    edit_row(t, users, u.id, role="privacy_office")
    with pytest.raises(AuthenticationError, match="changed outside troth") as exc:
        t.access.sessions.resolve_session(token)
    assert exc.value.code == "record_tampered"
    with pytest.raises(AuthenticationError, match="changed outside troth"):
        t.access.accounts.authenticate("ann@example.com", PW)
    assert tampered_entries(t, "session") and tampered_entries(t, "login")
    assert verify_log(t.ctx).bad_credentials == [f"users:{u.id}"]
    # A password set by troth afterwards does not seal the edited role over.
    t.access.accounts.set_password(u.id, PW + "!")
    assert verify_log(t.ctx).bad_credentials == [f"users:{u.id}"]


def test_troths_own_writes_keep_every_row_sealed(t: Troth) -> None:
    acc = t.access
    u = acc.accounts.add_user("bo@example.com", kind=UserKind.staff, role="support")
    acc.accounts.set_password(u.id, PW)
    assert acc.accounts.authenticate("bo@example.com", PW).id == u.id
    key, rec = acc.keys.create_api_key("bo's", ["collect"], user_id=u.id)
    assert acc.keys.resolve_api_key(key).id == rec.id
    acc.keys.revoke_api_key(rec.id)
    tid = acc.tenants.create_tenant("Acme", "office@acme.example")
    tok, _ = acc.tenants.invite(tid, "cy@acme.example", role="admin")
    member = acc.tenants.accept_invitation(tok, PW)
    session, _ = acc.sessions.start_session(member)
    assert acc.sessions.resolve_session(session)[0].id == member.id
    key2, _ = acc.keys.create_api_key("acme", ["collect"], tenant_id=tid)
    acc.keys.resolve_api_key(key2)
    acc.accounts.disable_user(u.id)
    report = verify_log(t.ctx)
    assert report.ok, report.problem
    assert report.bad_credentials == []
    assert actor_for(member).tenant_id == tid


def test_a_home_from_before_access_seals_is_sealed_once_by_db_migrate(
    home, db_url, capsys, monkeypatch
):
    from alembic import command

    import troth
    import troth.policy.versions as versions
    from cli_runner import run
    from troth.migrations import alembic_config

    monkeypatch.setattr(versions, "ACCESS_SEALED_FLAG", "not_a_flag")  # before access seals
    monkeypatch.setattr(versions, "OUTBOX_SEALED_FLAG", "not_a_flag")  # nor the outbox's (0021)
    t = home("phone-service", db_url, fresh=True)
    u = t.access.accounts.add_user(
        "ann@example.com", kind=UserKind.staff, role="support", password=PW
    )
    key, rec = t.access.keys.create_api_key("shop", ["collect"])
    t.close()
    url = t.ctx.settings.resolved_database_url
    command.downgrade(alembic_config(url), "0013_member_roles")  # the columns dropped
    code, _out, _ = run(capsys, "--home", str(t.ctx.home), "db", "migrate")
    assert code == 0
    again = troth.open(t.ctx.home, clock=t.ctx.clock)
    try:
        sealed = [e.entry.details for e in list_entries(again.ctx, action="access.sealed")]
        assert sealed == [{"users": 1, "api_keys": 1}]
        assert verify_log(again.ctx).ok
        assert again.access.keys.resolve_api_key(key).id == rec.id
        assert again.access.accounts.authenticate("ann@example.com", PW).id == u.id
        edit_row(again, users, u.id, seal=None, role="privacy_office")
    finally:
        again.close()
    # Once: a seal cleared afterwards is never sealed over by migrate.
    code, _out, _ = run(capsys, "--home", str(t.ctx.home), "db", "migrate")
    assert code == 0
    again = troth.open(t.ctx.home, clock=t.ctx.clock)
    try:
        with pytest.raises(AuthenticationError, match="changed outside troth"):
            again.access.accounts.authenticate("ann@example.com", PW)
        assert verify_log(again.ctx).bad_credentials == [f"users:{u.id}"]
        assert len(list_entries(again.ctx, action="access.sealed")) == 1
    finally:
        again.close()
