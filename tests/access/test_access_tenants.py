"""Tenants, invitations and members (P13), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from outbox_helpers import outbox_mail
from troth.access import InvitationState, TenantRole, actor_for
from troth.access.tables import invitations, users
from troth.audit.entries import list_entries
from troth.clock import ManualClock
from troth.engine import Troth
from troth.errors import AuthenticationError, Conflict, PermissionDenied, ValidationError

PW = "correct horse battery staple"


@pytest.fixture
def t(home: Any, db_url: str) -> Iterator[Troth]:
    ctx = home("phone-service", db_url, clock=ManualClock(), context=True)
    tr = Troth(ctx)
    yield tr
    tr.close()


def last_entry(t: Troth) -> Any:
    return list_entries(t.ctx, newest_first=True, limit=1)[0].entry


def table(t: Troth, tbl: Any) -> list[Any]:
    with t.ctx.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(tbl).order_by(*tbl.primary_key))]


def test_invitation_is_mailed_and_accepted_once(t: Troth) -> None:
    a = t.access.tenants.create_tenant("Acme", "office@acme.example")
    token, _inv = t.access.tenants.invite(a, "Boss@Acme.example", role="admin")
    (mail,) = outbox_mail(t)
    with t.ctx.engine.connect() as conn:
        stored = conn.execute(select(invitations.c.token_hash)).scalar()
    assert mail.to_addr == "boss@acme.example" and token in mail.body_text
    assert stored != token
    user = t.access.tenants.accept_invitation(token, PW, display_name="Boss")
    assert user.tenant_id == a and user.tenant_role is TenantRole.admin
    assert t.access.accounts.authenticate("boss@acme.example", PW, tenant_id=a).id == user.id
    before = table(t, users)
    with pytest.raises(Conflict, match="already used"):
        t.access.tenants.accept_invitation(token, PW)
    assert last_entry(t).reason == "invitation_accepted"
    assert table(t, users) == before
    assert [i.state for i in t.access.tenants.list_invitations(a)] == [InvitationState.accepted]


def test_expired_forged_and_withdrawn_invitations(t: Troth) -> None:
    a = t.access.tenants.create_tenant("Acme", "office@acme.example")
    token, _inv = t.access.tenants.invite(a, "late@acme.example")
    clock = t.ctx.clock
    assert isinstance(clock, ManualClock)
    clock.advance(days=8)
    with pytest.raises(Conflict, match="expired"):
        t.access.tenants.accept_invitation(token, PW)
    assert last_entry(t).reason == "invitation_expired"
    with pytest.raises(AuthenticationError, match="not valid"):
        t.access.tenants.accept_invitation("forged-token", PW)
    assert last_entry(t).outcome == "deny"
    token2, inv2 = t.access.tenants.invite(a, "late@acme.example")
    t.access.tenants.revoke_invitation(inv2.id)
    with pytest.raises(Conflict, match="withdrawn"):
        t.access.tenants.accept_invitation(token2, PW)
    token3, _ = t.access.tenants.invite(a, "late@acme.example")
    with pytest.raises(ValidationError, match="at least"):
        t.access.tenants.accept_invitation(token3, "short")
    assert t.access.tenants.list_members(a) == []  # nothing half-stored


def test_only_an_admin_of_that_tenant_invites_and_revokes(t: Troth) -> None:
    a = t.access.tenants.create_tenant("Acme", "office@acme.example")
    b = t.access.tenants.create_tenant("Bolt", "office@bolt.example")
    tok, _ = t.access.tenants.invite(a, "admin@acme.example", role="admin")
    admin_a = actor_for(t.access.tenants.accept_invitation(tok, PW))
    tok, _ = t.access.tenants.invite(a, "member@acme.example")
    member_a = t.access.tenants.accept_invitation(tok, PW)
    before = table(t, invitations)
    with pytest.raises(PermissionDenied):
        t.access.tenants.invite(b, "x@bolt.example", by=admin_a)
    with pytest.raises(PermissionDenied):
        t.access.tenants.invite(a, "x@acme.example", by=actor_for(member_a))
    assert last_entry(t).reason == "not_tenant_admin"
    assert table(t, invitations) == before
    with pytest.raises(Conflict, match="already a member"):
        t.access.tenants.invite(a, "member@acme.example", by=admin_a)
    # The admin revokes the member: sessions and keys end at once.
    session, _ = t.access.sessions.start_session(member_a)
    key, _ = t.access.keys.create_api_key("m", ["collect"], user_id=member_a.id, tenant_id=a)
    t.access.tenants.revoke_member(a, member_a.id, by=admin_a)
    with pytest.raises(AuthenticationError):
        t.access.sessions.resolve_session(session)
    with pytest.raises(AuthenticationError):
        t.access.keys.resolve_api_key(key)
    with pytest.raises(AuthenticationError):
        t.access.accounts.authenticate("member@acme.example", PW, tenant_id=a)
    members = {m.email: m.active for m in t.access.tenants.list_members(a)}
    assert members == {"admin@acme.example": True, "member@acme.example": False}
    # Invited again, the same account comes back.
    tok, _ = t.access.tenants.invite(a, "member@acme.example", by=admin_a)
    again = t.access.tenants.accept_invitation(tok, PW + "!")
    assert again.id == member_a.id and again.active


def test_create_tenant_bad_input(t: Troth) -> None:
    with pytest.raises(ValidationError):
        t.access.tenants.create_tenant("", "office@acme.example")
    with pytest.raises(ValidationError):
        t.access.tenants.create_tenant("Acme", "nope")
    assert t.access.tenants.list_tenants() == []


def test_the_tenant_export_is_for_an_admin_of_that_tenant_only(t: Troth) -> None:
    """AccessService.tenants.export_tenant (behind /tenant/export.json): the tenant's people only,
    audited; a member, another tenant's admin or a revoked admin is refused, audited, and
    gets no data."""
    a = t.access.tenants.create_tenant("Acme", "office@acme.example")
    b = t.access.tenants.create_tenant("Bolt", "office@bolt.example")
    ada = t.collect(
        "customer_signup",
        {"company_name": "Acme", "name": "Ada", "email": "ada@example.com"},
        tenant_id=a,
    ).subject_id
    bob = {"company_name": "Bolt", "name": "Bob", "email": "bob@example.com"}
    t.collect("customer_signup", bob, tenant_id=b)
    tok, _ = t.access.tenants.invite(a, "admin@acme.example", role="admin")
    admin_a = t.access.tenants.accept_invitation(tok, PW)
    tok, _ = t.access.tenants.invite(b, "admin@bolt.example", role="admin")
    admin_b = actor_for(t.access.tenants.accept_invitation(tok, PW))
    tok, _ = t.access.tenants.invite(a, "member@acme.example")
    member_a = actor_for(t.access.tenants.accept_invitation(tok, PW))

    out = t.access.tenants.export_tenant(a, by=actor_for(admin_a))
    assert out["tenant_id"] == a and [s["subject_id"] for s in out["subjects"]] == [ada]
    assert {v["field"]: v["value"] for v in out["subjects"][0]["values"]}["name"] == "Ada"
    assert "Bob" not in str(out)
    e = last_entry(t)
    assert (e.action, e.actor, e.tenant_id, e.details) == (
        "tenant.export",
        actor_for(admin_a).label,
        a,
        # As which member role it was made, and what it left out (nothing: no role, no
        # vendor_only purpose in phone-service).
        {"subjects": 1, "role": None, "complete": True, "left_out": []},
    )
    for who in (admin_b, member_a):
        with pytest.raises(PermissionDenied):
            t.access.tenants.export_tenant(a, by=who)
        e = last_entry(t)
        assert (e.action, e.outcome, e.reason) == ("tenant.export", "deny", "not_tenant_admin")
    t.access.tenants.revoke_member(a, admin_a.id)
    with pytest.raises(PermissionDenied):
        t.access.tenants.export_tenant(a, by=actor_for(admin_a))
