"""P14 (phone-service, ilign): the vendor's admins see a customer's detail only under the
customer's grant: scoped, time-limited, visible to the customer, ending on its own;
without one they see counts only."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from troth.access import GrantStatus, actor_for
from troth.clock import ManualClock
from troth.engine import Troth
from troth.errors import Refused

PW = "correct horse battery staple"
CALL = {"extension": "12", "duration_seconds": 30, "destination_number": "+441234567890"}


@pytest.fixture
def t(home: Any, db_url: str) -> Troth:
    return home("phone-service", db_url, clock=ManualClock())


def test_p14_grant_lifecycle_seen_by_the_customer(t: Troth) -> None:
    acc = t.access
    clock = t.ctx.clock
    assert isinstance(clock, ManualClock)
    acme = acc.tenants.create_tenant("Acme", "office@acme.example")
    tok, _ = acc.tenants.invite(acme, "admin@acme.example", role="admin")
    admin = actor_for(acc.tenants.accept_invitation(tok, PW))
    vendor = actor_for(
        acc.accounts.add_user("ops@vendor.example", kind="vendor_admin", password=PW)
    )
    calls = [t.collect("call_record_import", CALL, tenant_id=acme).subject_id for _ in range(3)]

    # Without a grant: counts only, never a value.
    overview = acc.grants.tenant_overview(acme, by=vendor)
    assert overview.subjects == 3
    assert overview.records_by_category == {"call_records": 6, "destination_numbers": 3}
    with pytest.raises(Refused) as exc:
        t.use(calls[0], purpose="support", actor=vendor)
    assert exc.value.reason == "no_grant"

    # A scoped request (one person, call records only, two days), approved by the customer.
    g = acc.grants.request_grant(
        acme,
        by=vendor,
        reason="customer reports a wrong call cost",
        ticket="SUP-77",
        categories=["call_records"],
        subject_ids=[calls[0]],
        duration=timedelta(days=2),
    )
    assert (
        acc.grants.list_grants(acme)[0].status is GrantStatus.requested
    )  # visible to the customer
    acc.grants.approve_grant(g.id, by=admin)
    view = t.use(calls[0], purpose="support", actor=vendor)
    assert view.as_dict() == {"extension": "12", "duration_seconds": 30}
    assert "destination_number" not in view.as_dict()  # outside the scope
    with pytest.raises(Refused):  # another person: outside the scope
        t.use(calls[1], purpose="support", actor=vendor)

    # The customer sees who looked at what, when and why.
    looks = [x for x in acc.grants.vendor_accesses(acme) if x.grant_id == g.id]
    assert len(looks) == 1
    look = looks[0]
    assert look.actor == vendor.label and look.subject_id == calls[0]
    assert look.categories == ("call_records",) and look.why.startswith("customer reports")
    assert look.ticket == "SUP-77" and look.at == clock.now()

    # Two days later the grant has ended on its own: no job ran.
    clock.advance(days=2, seconds=1)
    with pytest.raises(Refused) as exc:
        t.use(calls[0], purpose="support", actor=vendor)
    assert exc.value.reason == "grant_expired"
    assert acc.grants.get_grant(g.id).status is GrantStatus.expired
    refused = acc.grants.vendor_accesses(acme)[0]
    assert refused.outcome == "deny" and refused.actor == vendor.label


def test_p14_a_support_purpose_no_point_serves_is_warned_and_useless(
    home: Any, db_url: str
) -> None:
    """A policy whose `support` purpose no collection point lists opens (a warning, not an
    error), and what the warning says is true: under the customer's approved grant,
    `use --purpose support` answers purpose_not_of_collection."""
    from troth.policy.warnings import policy_warnings

    def unserve(policy: dict[str, Any]) -> None:
        for cp in policy["collection_points"]:
            cp["purposes"] = [p for p in cp["purposes"] if p != "support"]

    t = home("phone-service", db_url, edit=unserve, clock=ManualClock())
    [warning] = [w for w in policy_warnings(t.ctx.policy.policy) if "'support'" in w]
    assert "listed by no collection point" in warning and "support grant" in warning
    acc = t.access
    acme = acc.tenants.create_tenant("Acme", "office@acme.example")
    tok, _ = acc.tenants.invite(acme, "admin@acme.example", role="admin")
    admin = actor_for(acc.tenants.accept_invitation(tok, PW))
    vendor = actor_for(
        acc.accounts.add_user("ops@vendor.example", kind="vendor_admin", password=PW)
    )
    call = t.collect("call_record_import", CALL, tenant_id=acme).subject_id
    g = acc.grants.request_grant(
        acme, by=vendor, reason="wrong call cost", subject_ids=[call], duration=timedelta(days=2)
    )
    acc.grants.approve_grant(g.id, by=admin)
    with pytest.raises(Refused) as exc:
        t.use(call, purpose="support", actor=vendor)
    assert exc.value.reason == "purpose_not_of_collection"
