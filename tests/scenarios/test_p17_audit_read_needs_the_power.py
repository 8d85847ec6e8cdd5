"""P17: the audit log is read and verified by those the policy gives ``read_audit``; the
twin: a support role, a customer's admin key and the person are refused, and the refusal
is itself in the log (and the log still verifies)."""

from __future__ import annotations

import pytest

from troth.errors import Refused
from troth.gate import Actor, ActorKind
from troth.office import read_audit, verify_audit

OFFICE = Actor(ActorKind.staff, "pat", role="privacy_office")
SUPPORT = Actor(ActorKind.staff, "sam", role="support")


def test_p17_the_office_reads_and_verifies_everyone_s_entries(home, db_url):
    t = home("mindlink", db_url)
    sid = t.collect(
        "support_request", {"name": "Ann", "email": "ann@example.com", "message": "Hi"}
    ).subject_id
    entries = read_audit(t.ctx, OFFICE, subject_id=sid)
    assert [e.entry.action for e in entries] == ["collect"]
    assert verify_audit(t.ctx, OFFICE).ok


def test_p17_twin_without_the_power_nothing_is_read_and_the_attempt_is_logged(home, db_url):
    t = home("mindlink", db_url)
    sid = t.collect(
        "support_request", {"name": "Ann", "email": "ann@example.com", "message": "Hi"}
    ).subject_id
    tenant = t.access.tenants.create_tenant("Acme", "office@acme.example")
    tenant_key = Actor(ActorKind.application, "k", tenant_id=tenant, scopes=frozenset({"admin"}))
    person = Actor(ActorKind.subject, sid)
    for actor, reason in (
        (SUPPORT, "power_not_granted"),
        (tenant_key, "tenant_bound"),
        (person, "power_not_granted"),
    ):
        with pytest.raises(Refused) as exc:
            read_audit(t.ctx, actor, subject_id=sid)
        assert exc.value.reason == reason
        with pytest.raises(Refused):
            verify_audit(t.ctx, actor)
    logged = read_audit(t.ctx, OFFICE, limit=100)
    refusals = [e.entry for e in logged if e.entry.action == "office.read_audit"]
    assert len(refusals) == 6 and {e.outcome for e in refusals} == {"deny"}
    assert {e.actor for e in refusals} == {SUPPORT.label, tenant_key.label, person.label}
    assert verify_audit(t.ctx, OFFICE).ok  # the refusals are entries like any other
