"""An invitation is accepted only while its inviter may still give what it gives.

Before: the delegation rule (``beyond_own_role``, troth.access.delegation) was checked when
an admin invited someone, never again. An admin without a role invited a colleague as an
admin without a role (everything: they may); then the inviter was given a narrow role, or
was revoked, and the invitation still seated an admin who reads every category of every
purpose. Now accepting decides again, with the inviter's account as it is then: an
inviter no longer an active admin of the customer (``not_tenant_admin``), or whose role
no longer reaches what the invitation gives (``beyond_own_role``), voids the invitation
(withdrawn: a new one must be asked for), audited ``invitation_accept``, nobody seated.
An invitation made by the vendor's side (the operator, the office, a key bound to the
customer) is not bound, as when it was made."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pulse_samples import PASSWORD, PulseWorld, pulse_world
from troth.access.invitations import InvitationState
from troth.audit.entries import list_entries
from troth.errors import Conflict, PermissionDenied, Refused


@pytest.fixture
def world(home: Any, tmp_path: Path) -> PulseWorld:
    return pulse_world(home, tmp_path)


def _state(w: PulseWorld, invitation_id: str) -> InvitationState:
    (inv,) = [i for i in w.t.access.tenants.list_invitations(w.tenants["contoso"])
              if i.id == invitation_id]  # fmt: skip
    return inv.state


def _members(w: PulseWorld) -> set[str]:
    return {u.email for u in w.t.access.tenants.list_members(w.tenants["contoso"])}


def _refused(w: PulseWorld) -> list[Any]:
    return [e.entry for e in list_entries(w.t.ctx, action="invitation_accept", outcome="deny")]


def test_an_inviter_given_a_narrow_role_no_longer_seats_a_roleless_admin(
    world: PulseWorld,
) -> None:
    w = world
    contoso, boss = w.tenants["contoso"], w.actors["boss"]
    token, inv = w.t.access.tenants.invite(contoso, "deputy@contoso.example", role="admin", by=boss)
    w.t.access.tenants.set_member_role(contoso, boss.id, "member_support")
    with pytest.raises(Refused) as got:
        w.t.access.tenants.accept_invitation(token, PASSWORD)
    assert got.value.reason == "beyond_own_role"
    assert "member_support" in got.value.message and "ask" in got.value.message
    assert "deputy@contoso.example" not in _members(w)
    assert _state(w, inv.id) is InvitationState.revoked
    (entry,) = _refused(w)
    assert entry.reason == "beyond_own_role" and entry.tenant_id == contoso
    assert entry.details["invitation"] == inv.id and entry.details["invited_by"] == boss.label
    assert entry.details["own_role"] == "member_support"
    # Voided: the same code again is an invitation withdrawn.
    with pytest.raises(Conflict) as again:
        w.t.access.tenants.accept_invitation(token, PASSWORD)
    assert again.value.code == "invitation_revoked"


def test_an_inviter_revoked_since_seats_nobody(world: PulseWorld) -> None:
    w = world
    contoso, coord = w.tenants["contoso"], w.actors["coord"]
    token, inv = w.t.access.tenants.invite(
        contoso, "new-coord@contoso.example", member_role="wellness_coordinator", by=coord
    )
    w.t.access.tenants.revoke_member(contoso, coord.id)
    with pytest.raises(PermissionDenied):
        w.t.access.tenants.accept_invitation(token, PASSWORD)
    assert "new-coord@contoso.example" not in _members(w)
    assert _state(w, inv.id) is InvitationState.revoked
    (entry,) = _refused(w)
    assert entry.reason == "not_tenant_admin" and entry.details["invited_by"] == coord.label


def test_an_inviter_whose_role_still_reaches_it_seats_them(world: PulseWorld) -> None:
    """No refusal where none is due: the role given is within the inviter's new role; and
    an invitation the operator made is not bound."""
    w = world
    contoso, boss = w.tenants["contoso"], w.actors["boss"]
    token, _ = w.t.access.tenants.invite(
        contoso, "desk2@contoso.example", member_role="member_support", by=boss
    )
    operators, _ = w.t.access.tenants.invite(contoso, "chief@contoso.example", role="admin")
    w.t.access.tenants.set_member_role(contoso, boss.id, "member_support")
    assert w.t.access.tenants.accept_invitation(token, PASSWORD).role == "member_support"
    assert w.t.access.tenants.accept_invitation(operators, PASSWORD).role is None
    assert {"desk2@contoso.example", "chief@contoso.example"} <= _members(w)
    assert not _refused(w)


def test_the_web_form_is_refused_alike(world: PulseWorld) -> None:
    from _http import client_for

    w = world
    contoso, boss = w.tenants["contoso"], w.actors["boss"]
    token, _ = w.t.access.tenants.invite(contoso, "deputy@contoso.example", role="admin", by=boss)
    w.t.access.tenants.set_member_role(contoso, boss.id, "wellness_coordinator")
    with client_for(w.t.ctx) as c:
        page = c.get("/invitations")
        from _http import csrf_from

        r = c.post(
            "/invitations",
            data={"code": token, "password": PASSWORD, "csrf_token": csrf_from(page.text)},
            follow_redirects=False,
        )
    assert r.status_code == 403, r.text
    assert "deputy@contoso.example" not in _members(w)
    assert [e.reason for e in _refused(w)] == ["beyond_own_role"]
