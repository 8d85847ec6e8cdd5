"""P13 (phone-service): only the customer and the people it invites see its data; a
revoked member loses access at once."""

from __future__ import annotations

from typing import Any

import pytest

from troth.access import actor_for
from troth.clock import ManualClock
from troth.engine import Troth
from troth.errors import AuthenticationError, Refused
from unknown_helpers import assert_unknown_to

PW = "correct horse battery staple"
CALL = {"extension": "12", "duration_seconds": 30, "destination_number": "+441234567890"}


@pytest.fixture
def t(home: Any, db_url: str) -> Troth:
    return home("phone-service", db_url, clock=ManualClock())


def test_p13_members_see_only_their_tenant_and_revocation_is_immediate(t: Troth) -> None:
    acc = t.access
    acme = acc.tenants.create_tenant("Acme", "office@acme.example")
    bolt = acc.tenants.create_tenant("Bolt", "office@bolt.example")
    # The vendor onboards each customer's first admin; from then on the customer invites.
    tok, _ = acc.tenants.invite(acme, "admin@acme.example", role="admin")
    acme_admin = actor_for(acc.tenants.accept_invitation(tok, PW))
    tok, _ = acc.tenants.invite(bolt, "admin@bolt.example", role="admin")
    bolt_admin = actor_for(acc.tenants.accept_invitation(tok, PW))
    tok, _ = acc.tenants.invite(acme, "colleague@acme.example", by=acme_admin)
    acc.tenants.accept_invitation(tok, PW)

    a_call = t.collect("call_record_import", CALL, tenant_id=acme).subject_id
    b_call = t.collect("call_record_import", CALL, tenant_id=bolt).subject_id

    # The colleague logs in (session cookie) and sees Acme's calls, not Bolt's.
    user = acc.accounts.authenticate("colleague@acme.example", PW, tenant_id=acme)
    session, _ = acc.sessions.start_session(user)
    _, colleague = acc.sessions.resolve_session(session)
    assert t.use(a_call, purpose="provide_service", actor=colleague).get("extension") == "12"
    # Bolt's call is unknown to Acme's colleague and Acme's to Bolt's admin, as an id
    # naming nobody (trial 19, F11; it was Refused not_a_member), audited not_a_member.
    assert_unknown_to(t, b_call, "provide_service", colleague)
    assert_unknown_to(t, a_call, "provide_service", bolt_admin)

    # Acme's admin revokes the colleague: the very next request is refused, however it
    # comes (the old session, a held actor, a fresh login).
    acc.tenants.revoke_member(acme, user.id, by=acme_admin)
    with pytest.raises(AuthenticationError):
        acc.sessions.resolve_session(session)
    with pytest.raises(Refused) as exc:
        t.use(a_call, purpose="provide_service", actor=colleague)
    assert exc.value.reason == "not_a_member"
    with pytest.raises(AuthenticationError):
        acc.accounts.authenticate("colleague@acme.example", PW, tenant_id=acme)
    # Bolt's admin cannot manage Acme's people.
    from troth.errors import PermissionDenied

    with pytest.raises(PermissionDenied):
        acc.tenants.invite(acme, "spy@bolt.example", by=bolt_admin)
