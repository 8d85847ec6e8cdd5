"""Grant seals (troth.access.seals, schema 0015): a database writer without the key file
who inserts a session for a real account (a token of their choosing, its SHA-256 as the
id), extends or un-revokes one, inserts a privacy-centre session for a person, raises,
moves or un-revokes an invitation, or approves, widens, extends or un-revokes a support
grant gets nothing: the session is not signed in (web and API), the invitation is refused
at acceptance with nothing created, the grant grants nothing; each audited
``record_tampered`` and named by `troth audit verify`. A home from before grant seals is
sealed once by `troth db migrate`."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from _http import PASSWORD, client_for, csrf_from, privacy_sign_in
from audit_helpers import edit_row, tampered_entries
from troth.access import UserKind, actor_for, signin
from troth.access.signin import privacy_sessions
from troth.access.tables import invitations, sessions, support_grants, users
from troth.audit import verify_log
from troth.audit.entries import list_entries
from troth.clock import ManualClock
from troth.engine import Troth
from troth.errors import AuthenticationError, Conflict, Refused
from troth.store.ids import token_hash

PW = PASSWORD


@pytest.fixture
def t(home: Any, db_url: str) -> Iterator[Troth]:
    ctx = home("phone-service", db_url, clock=ManualClock(), context=True)
    tr = Troth(ctx)
    yield tr
    tr.close()


def _named(t: Troth) -> list[str]:
    report = verify_log(t.ctx)
    assert not report.ok or not report.bad_credentials
    return report.bad_credentials


def _person(t: Troth, email: str, tenant: str | None = None) -> str:
    data = {"company_name": "Mia Ltd", "name": "Mia", "email": email}
    return t.collect("customer_signup", data, tenant_id=tenant).subject_id


def _staff(t: Troth) -> Any:
    return t.access.accounts.add_user(
        "ann@example.com", kind=UserKind.staff, role="support", password=PW
    )


def _console_signed_in(t: Troth, token: str) -> bool:
    """Whether the console takes ``token``'s cookie for a signed-in account."""
    with client_for(t.ctx) as c:
        c.cookies.set("troth_session", token)
        page = c.get("/console/subjects", follow_redirects=False)
    assert page.status_code < 500, page.text
    return page.status_code == 200


def _api_status(t: Troth, token: str, sid: str) -> tuple[int, str | None]:
    with client_for(t.ctx) as c:
        c.cookies.set("troth_session", token)
        r = c.get(f"/api/v1/subjects/{sid}?purpose=support")
    assert r.status_code < 500, r.text
    return r.status_code, r.json().get("code")


# -- console sessions ------------------------------------------------------------------
def test_a_session_inserted_for_a_real_account_is_not_signed_in(t: Troth) -> None:
    u = _staff(t)
    sid = t.collect("call_record_import", {"extension": "7"}).subject_id
    mine, _ = t.access.sessions.start_session(u)  # a genuine session, for comparison
    assert _console_signed_in(t, mine)
    assert _api_status(t, mine, sid)[0] != 401
    now = t.ctx.clock.now()
    chosen = secrets.token_urlsafe(32)
    for token in (chosen, chosen + "x"):  # no seal; then the genuine session's seal
        values = {
            "id": token_hash(token),
            "user_id": u.id,
            "created_at": now,
            "last_seen_at": now,
            "expires_at": now + timedelta(hours=8),
            "csrf_secret": "x" * 43,
        }
        with t.ctx.engine.begin() as conn:
            if token != chosen:
                values["seal"] = conn.execute(sa.select(sessions.c.seal)).scalars().first()
            conn.execute(sessions.insert().values(**values))
        with pytest.raises(AuthenticationError, match="changed outside troth") as exc:
            t.access.sessions.resolve_session(token)
        assert exc.value.code == "record_tampered"
        assert not _console_signed_in(t, token)
        assert _api_status(t, token, sid) == (401, "record_tampered")
    assert len(tampered_entries(t, "session")) >= 6
    assert sorted(_named(t)) == sorted(f"sessions:{token_hash(x)}" for x in (chosen, chosen + "x"))
    # The genuine session still works.
    assert t.access.sessions.resolve_session(mine)[0].id == u.id


def test_a_session_extended_or_unrevoked_in_the_database_is_refused(t: Troth) -> None:
    u = _staff(t)
    clock = t.ctx.clock
    assert isinstance(clock, ManualClock)
    ended, ended_row = t.access.sessions.start_session(u)
    t.access.sessions.end_session(ended)
    edit_row(t, sessions, ended_row.id, revoked_at=None)  # un-revoked
    old, old_row = t.access.sessions.start_session(u)
    clock.advance(hours=t.ctx.settings.session_absolute_hours)
    with pytest.raises(AuthenticationError) as exc:
        t.access.sessions.resolve_session(old)
    assert exc.value.code == "session_expired"
    # Extended (and kept fresh): still refused, now as tampered.
    now = clock.now()
    edit_row(t, sessions, old_row.id, expires_at=now + timedelta(days=30), last_seen_at=now)
    for token in (ended, old):
        with pytest.raises(AuthenticationError, match="changed outside troth") as exc:
            t.access.sessions.resolve_session(token)
        assert exc.value.code == "record_tampered"
        assert not _console_signed_in(t, token)
    # Moved to another account: refused too.
    other = t.access.accounts.add_user("bo@example.com", kind=UserKind.vendor_admin, password=PW)
    live, live_row = t.access.sessions.start_session(u)
    edit_row(t, sessions, live_row.id, user_id=other.id)
    with pytest.raises(AuthenticationError, match="changed outside troth"):
        t.access.sessions.resolve_session(live)
    assert sorted(_named(t)) == sorted(f"sessions:{r.id}" for r in (ended_row, old_row, live_row))
    # troth's own later write (disabling the account ends its sessions) seals none over.
    t.access.accounts.disable_user(u.id)
    assert len(_named(t)) == 3


def test_a_privacy_session_inserted_for_a_person_is_no_session(t: Troth) -> None:
    email = "cy@example.com"
    sid = _person(t, email)
    with client_for(t.ctx) as c:
        privacy_sign_in(c, t.ctx, email)  # a genuine session works
        assert c.get("/privacy/me", follow_redirects=False).status_code == 200
    chosen = secrets.token_urlsafe(32)
    now = t.ctx.clock.now()
    with t.ctx.engine.begin() as conn:
        conn.execute(
            privacy_sessions.insert().values(
                id=token_hash(chosen),
                subject_id=sid,
                csrf_secret="x" * 43,
                created_at=now,
                last_seen_at=now,
            )
        )
    with client_for(t.ctx) as c:
        c.cookies.set("troth_privacy", chosen)
        me = c.get("/privacy/me", follow_redirects=False)
    assert me.status_code != 200 and me.status_code < 500
    assert tampered_entries(t, "privacy.session")
    assert _named(t) == [f"privacy_sessions:{token_hash(chosen)}"]


# -- invitations -----------------------------------------------------------------------
@pytest.mark.parametrize("edit", ["role", "tenant", "unrevoked"])
def test_an_invitation_raised_moved_or_unrevoked_is_refused_at_accept(t: Troth, edit: str) -> None:
    acme = t.access.tenants.create_tenant("Acme", "office@acme.example")
    bolt = t.access.tenants.create_tenant("Bolt", "office@bolt.example")
    token, inv = t.access.tenants.invite(acme, "dee@acme.example", role="member")
    if edit == "role":
        edit_row(t, invitations, inv.id, role="admin")
    elif edit == "tenant":
        edit_row(t, invitations, inv.id, tenant_id=bolt)
    else:
        t.access.tenants.revoke_invitation(inv.id)
        edit_row(t, invitations, inv.id, revoked_at=None)
    with t.ctx.engine.connect() as conn:
        before = conn.execute(sa.select(sa.func.count()).select_from(users)).scalar_one()
    with pytest.raises(Conflict, match="changed outside troth") as exc:
        t.access.tenants.accept_invitation(token, PW)
    assert exc.value.code == "record_tampered"
    with client_for(t.ctx) as c:
        page = c.get("/invitations")
        r = c.post(
            "/invitations",
            data={"code": token, "password": PW, "csrf_token": csrf_from(page.text)},
            headers={"Accept": "text/html"},
        )
    assert r.status_code == 409 and "changed outside troth" in r.text
    with t.ctx.engine.connect() as conn:
        after = conn.execute(sa.select(sa.func.count()).select_from(users)).scalar_one()
        accepted = conn.execute(
            sa.select(invitations.c.accepted_at).where(invitations.c.id == inv.id)
        ).scalar()
    assert after == before and accepted is None  # nothing created, nothing claimed
    assert t.access.accounts.list_users(tenant_id=acme) == []
    assert t.access.accounts.list_users(tenant_id=bolt) == []
    assert len(tampered_entries(t, "invitation_accept")) == 2
    assert _named(t) == [f"invitations:{inv.id}"]


# -- support grants --------------------------------------------------------------------
def _grant_setup(t: Troth) -> dict[str, Any]:
    acme = t.access.tenants.create_tenant("Acme", "office@acme.example")
    tok, _ = t.access.tenants.invite(acme, "boss@acme.example", role="admin")
    admin = actor_for(t.access.tenants.accept_invitation(tok, PW))
    vendor = actor_for(t.access.accounts.add_user("v@vendor.example", kind="vendor_admin"))
    sid = t.collect(
        "call_record_import",
        {"extension": "7", "destination_number": "+441234567890"},
        tenant_id=acme,
    ).subject_id
    return {"acme": acme, "admin": admin, "vendor": vendor, "sid": sid}


def _refused(t: Troth, s: dict[str, Any]) -> str:
    with pytest.raises(Refused) as exc:
        t.use(s["sid"], purpose="support", actor=s["vendor"])
    return str(exc.value.reason)


@pytest.mark.parametrize("edit", ["approved", "widened", "extended", "unrevoked"])
def test_a_support_grant_changed_in_the_database_grants_nothing(t: Troth, edit: str) -> None:
    s = _grant_setup(t)
    clock = t.ctx.clock
    assert isinstance(clock, ManualClock)
    g = t.access.grants.request_grant(
        s["acme"],
        by=s["vendor"],
        reason="bill query",
        categories=["call_records"],
        duration=timedelta(days=1),
    )
    now = clock.now()
    if edit == "approved":  # never approved by the customer
        edit_row(
            t,
            support_grants,
            g.id,
            status="approved",
            decided_by=s["admin"].id,
            decided_at=now,
            starts_at=now,
            expires_at=now + timedelta(days=1),
        )
    else:
        t.access.grants.approve_grant(g.id, by=s["admin"])
        assert t.use(s["sid"], purpose="support", actor=s["vendor"]).as_dict() == {"extension": "7"}
        if edit == "widened":  # every category, every person
            edit_row(t, support_grants, g.id, categories=[], subject_ids=[])
        elif edit == "extended":
            clock.advance(days=2)
            assert _refused(t, s) == "grant_expired"
            edit_row(t, support_grants, g.id, expires_at=clock.now() + timedelta(days=30))
        else:
            t.access.grants.revoke_grant(g.id, by=s["admin"])
            edit_row(t, support_grants, g.id, status="approved", revoked_at=None)
    assert _refused(t, s) == "record_tampered"
    denied = [
        e.entry
        for e in list_entries(t.ctx, action="use")
        if e.entry.outcome == "deny" and e.entry.actor == s["vendor"].label
    ]
    assert denied and denied[-1].reason == "record_tampered"
    assert _named(t) == [f"support_grants:{g.id}"]
    # Revoking it (troth's own write) does not seal it over.
    if edit != "unrevoked":
        t.access.grants.revoke_grant(g.id, by=s["admin"])
        assert _named(t) == [f"support_grants:{g.id}"]


# -- troth's own writes; homes from before ---------------------------------------------
def test_troths_own_writes_keep_every_grant_row_sealed(t: Troth) -> None:
    s = _grant_setup(t)
    acc = t.access
    g = acc.grants.request_grant(s["acme"], by=s["vendor"], reason="r", duration=timedelta(1))
    acc.grants.approve_grant(g.id, by=s["admin"])
    acc.grants.revoke_grant(g.id, by=s["admin"])
    g2 = acc.grants.request_grant(s["acme"], by=s["vendor"], reason="r", duration=timedelta(1))
    acc.grants.refuse_grant(g2.id, by=s["admin"])
    _tok, inv = acc.tenants.invite(s["acme"], "eve@acme.example", by=s["admin"])
    acc.tenants.revoke_invitation(inv.id, by=s["admin"])
    u = _staff(t)
    tok, _ = acc.sessions.start_session(u)
    acc.sessions.end_session(tok)
    acc.sessions.start_session(u)
    acc.accounts.disable_user(u.id)
    _person(t, "cy@example.com")
    theirs = _person(t, "cy@example.com", s["acme"])
    with client_for(t.ctx) as c:
        csrf = privacy_sign_in(c, t.ctx, "cy@example.com")
        moved = c.post("/privacy/me/record", data={"record": theirs, "csrf_token": csrf})
        assert moved.status_code == 200 and moved.url.path == "/privacy/me", moved.text
        signin.end(t.ctx, str(c.cookies.get("troth_privacy")))
    from troth.access.seals import bad_rows, grant_tables

    with t.ctx.engine.connect() as conn:
        for table in grant_tables():
            n, bad = bad_rows(conn, t.ctx.keys, table)
            assert n and bad == [], table.name
    report = verify_log(t.ctx)
    assert report.ok, report.problem


def test_a_home_from_before_grant_seals_is_sealed_once_by_db_migrate(
    home: Any, db_url: str, capsys: Any, monkeypatch: Any
) -> None:
    from alembic import command

    import troth
    import troth.policy.versions as versions
    from cli_runner import run
    from troth.migrations import alembic_config

    monkeypatch.setattr(versions, "GRANTS_SEALED_FLAG", "not_a_flag")  # before grant seals
    # A home from before these is from before row seals (schema 0016) too: winding it
    # back drops the seal columns of identities, requests and tenants as well.
    monkeypatch.setattr(versions, "ROWS_SEALED_FLAG", "not_a_flag")
    monkeypatch.setattr(versions, "OUTBOX_SEALED_FLAG", "not_a_flag")  # nor the outbox's (0021)
    t = home("phone-service", db_url, fresh=True)
    s = _grant_setup(t)
    g = t.access.grants.request_grant(
        s["acme"], by=s["vendor"], reason="r", categories=["call_records"], duration=timedelta(1)
    )
    t.access.grants.approve_grant(g.id, by=s["admin"])
    invite, inv = t.access.tenants.invite(s["acme"], "fay@acme.example")
    u = _staff(t)
    token, row = t.access.sessions.start_session(u)
    t.close()
    url = t.ctx.settings.resolved_database_url
    command.downgrade(alembic_config(url), "0014_access_seals")  # the columns dropped
    code, _out, _ = run(capsys, "--home", str(t.ctx.home), "db", "migrate")
    assert code == 0
    again = troth.open(t.ctx.home, clock=t.ctx.clock)
    try:
        sealed = [e.entry.details for e in list_entries(again.ctx, action="grants.sealed")]
        assert sealed == [
            {"sessions": 1, "privacy_sessions": 0, "invitations": 2, "support_grants": 1}
        ]
        assert verify_log(again.ctx).ok
        assert again.access.sessions.resolve_session(token)[0].id == u.id
        assert again.use(s["sid"], purpose="support", actor=s["vendor"]).as_dict() == {
            "extension": "7"
        }
        edit_row(
            again, sessions, row.id, seal=None, expires_at=again.ctx.clock.now() + timedelta(9)
        )
        edit_row(again, invitations, inv.id, seal=None, role="admin")
    finally:
        again.close()
    # Once: a seal cleared afterwards is never sealed over by migrate.
    code, _out, _ = run(capsys, "--home", str(t.ctx.home), "db", "migrate")
    assert code == 0
    again = troth.open(t.ctx.home, clock=t.ctx.clock)
    try:
        with pytest.raises(AuthenticationError, match="changed outside troth"):
            again.access.sessions.resolve_session(token)
        with pytest.raises(Conflict, match="changed outside troth"):
            again.access.tenants.accept_invitation(invite, PW)
        assert sorted(verify_log(again.ctx).bad_credentials) == sorted(
            [f"sessions:{row.id}", f"invitations:{inv.id}"]
        )
        assert len(list_entries(again.ctx, action="grants.sealed")) == 1
    finally:
        again.close()
