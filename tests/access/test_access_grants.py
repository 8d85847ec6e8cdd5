"""Support-access grants (P14), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from outbox_helpers import outbox_mail
from troth.access import GrantStatus, actor_for
from troth.access.tables import support_grants
from troth.audit.entries import list_entries
from troth.clock import ManualClock
from troth.engine import Troth
from troth.errors import Conflict, NotFound, PermissionDenied, Refused, ValidationError
from troth.examples import example_path

PW = "correct horse battery staple"


def make(home: Any, db_url: str, policy: Path | None = None) -> Troth:
    if policy is None:
        ctx = home("phone-service", db_url, clock=ManualClock(), context=True)
    else:
        ctx = home(None, db_url, policy=policy, clock=ManualClock(), context=True)
    return Troth(ctx)


@pytest.fixture
def t(home: Any, db_url: str) -> Iterator[Troth]:
    tr = make(home, db_url)
    yield tr
    tr.close()


def last_entry(t: Troth) -> Any:
    return list_entries(t.ctx, newest_first=True, limit=1)[0].entry


def grants_table(t: Troth) -> list[Any]:
    with t.ctx.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(support_grants).order_by("id"))]


def setup(t: Troth) -> dict[str, Any]:
    a = t.access.tenants.create_tenant("Acme", "office@acme.example")
    b = t.access.tenants.create_tenant("Bolt", "office@bolt.example")
    out: dict[str, Any] = {"a": a, "b": b}
    for name, tid in (("admin_a", a), ("admin_b", b)):
        tok, _ = t.access.tenants.invite(tid, f"{name}@example.com", role="admin")
        out[name] = actor_for(t.access.tenants.accept_invitation(tok, PW))
    out["vendor"] = actor_for(t.access.accounts.add_user("v@vendor.example", kind="vendor_admin"))
    out["sid"] = t.collect(
        "call_record_import",
        {"extension": "7", "destination_number": "+441234567890"},
        tenant_id=a,
    ).subject_id
    return out


def test_request_approve_use_expire(t: Troth) -> None:
    s = setup(t)
    g = t.access.grants.request_grant(
        s["a"],
        by=s["vendor"],
        reason="caller says bill wrong",
        ticket="T-1",
        categories=["call_records"],
        duration=timedelta(days=2),
    )
    assert g.status is GrantStatus.requested
    with pytest.raises(Refused) as exc:  # requested is not approved
        t.use(s["sid"], purpose="support", actor=s["vendor"])
    assert exc.value.reason == "no_grant"
    g = t.access.grants.approve_grant(g.id, by=s["admin_a"])
    assert g.status is GrantStatus.approved and g.expires_at == g.starts_at + timedelta(days=2)
    view = t.use(s["sid"], purpose="support", actor=s["vendor"])
    assert view.as_dict() == {"extension": "7"}  # destination_numbers is outside the grant
    looks = t.access.grants.vendor_accesses(s["a"])
    assert looks[0].grant_id == g.id and looks[0].why == "caller says bill wrong"
    assert looks[0].ticket == "T-1" and looks[0].categories == ("call_records",)
    clock = t.ctx.clock
    assert isinstance(clock, ManualClock)
    clock.advance(days=2)
    with pytest.raises(Refused) as exc:
        t.use(s["sid"], purpose="support", actor=s["vendor"])
    assert exc.value.reason == "grant_expired"
    assert t.access.grants.get_grant(g.id).status is GrantStatus.expired


def test_other_tenants_admin_cannot_approve(t: Troth) -> None:
    s = setup(t)
    g = t.access.grants.request_grant(
        s["a"], by=s["vendor"], reason="r", duration=timedelta(days=1)
    )
    before = grants_table(t)
    # Another tenant's grant answers as an unknown one (a PermissionDenied said it exists).
    with pytest.raises(NotFound) as unknown:
        t.access.grants.approve_grant("0123456789abcdef", by=s["admin_b"])
    with pytest.raises(NotFound) as theirs:
        t.access.grants.approve_grant(g.id, by=s["admin_b"])
    assert theirs.value.message == unknown.value.message.replace("0123456789abcdef", g.id)
    e = last_entry(t)
    assert e.action == "grant_approve" and e.outcome == "deny" and e.tenant_id == s["a"]
    assert e.reason == "not_a_member"
    with pytest.raises(PermissionDenied):
        t.access.grants.approve_grant(g.id, by=s["vendor"])  # the vendor cannot approve itself
    assert grants_table(t) == before


def test_grant_longer_than_policy_and_unknown_category(t: Troth) -> None:
    s = setup(t)
    with pytest.raises(ValidationError, match="at most 7 days"):
        t.access.grants.request_grant(
            s["a"], by=s["vendor"], reason="r", duration=timedelta(days=8)
        )
    assert last_entry(t).reason == "grant_too_long"
    with pytest.raises(ValidationError, match="unknown categor"):
        t.access.grants.request_grant(
            s["a"], by=s["vendor"], reason="r", categories=["dna"], duration=timedelta(days=1)
        )
    with pytest.raises(ValidationError, match="not a person of this customer"):
        t.access.grants.request_grant(
            s["a"], by=s["vendor"], reason="r", subject_ids=["x"], duration=timedelta(days=1)
        )
    with pytest.raises(PermissionDenied):
        t.access.grants.request_grant(
            s["a"], by=s["admin_a"], reason="r", duration=timedelta(days=1)
        )
    assert grants_table(t) == []


def test_refuse_revoke_and_decided_twice(t: Troth) -> None:
    s = setup(t)
    g = t.access.grants.request_grant(
        s["a"], by=s["vendor"], reason="r", duration=timedelta(days=1)
    )
    assert t.access.grants.refuse_grant(g.id, by=s["admin_a"]).status is GrantStatus.refused
    with pytest.raises(Conflict):
        t.access.grants.approve_grant(g.id, by=s["admin_a"])
    g2 = t.access.grants.request_grant(
        s["a"], by=s["vendor"], reason="r", duration=timedelta(days=1), subject_ids=[s["sid"]]
    )
    t.access.grants.approve_grant(g2.id, by=s["admin_a"])
    assert t.use(s["sid"], purpose="support", actor=s["vendor"]).values
    t.access.grants.revoke_grant(g2.id, by=s["admin_a"])
    with pytest.raises(Refused) as exc:
        t.use(s["sid"], purpose="support", actor=s["vendor"])
    assert exc.value.reason == "grant_expired"
    assert sorted(g.status for g in t.access.grants.list_grants(s["a"])) == [
        GrantStatus.refused,
        GrantStatus.revoked,
    ]


def test_overview_counts_never_values(t: Troth) -> None:
    s = setup(t)
    ov = t.access.grants.tenant_overview(s["a"], by=s["vendor"])
    assert ov.subjects == 1 and ov.records_by_category == {
        "call_records": 1,
        "destination_numbers": 1,
    }
    assert "+44" not in repr(ov)
    with pytest.raises(PermissionDenied):
        t.access.grants.tenant_overview(s["a"], by=s["admin_b"])


def test_emergency_access_refused_unless_policy_allows(t: Troth) -> None:
    s = setup(t)
    with pytest.raises(PermissionDenied, match="no emergency access"):
        t.access.grants.emergency_access(s["a"], by=s["vendor"], reason="outage")
    assert last_entry(t).reason == "no_emergency_access" and grants_table(t) == []


def test_emergency_access_notifies_tenant_at_once(home: Any, tmp_path: Path, db_url: str) -> None:
    text = example_path("phone-service").read_text()
    policy = tmp_path / "policy.yaml"
    policy.write_text(text.replace("emergency_access: false", "emergency_access: true"))
    t = make(home, db_url, policy)
    try:
        s = setup(t)
        with pytest.raises(ValidationError, match="reason"):
            t.access.grants.emergency_access(s["a"], by=s["vendor"], reason=" ")
        g = t.access.grants.emergency_access(
            s["a"],
            by=s["vendor"],
            reason="calls failing",
            ticket="INC-9",
            duration=timedelta(hours=2),
        )
        assert g.emergency and g.status is GrantStatus.approved
        mails = outbox_mail(t)
        notice = [m for m in mails if m.to_addr == "office@acme.example"]
        assert notice and "calls failing" in notice[0].body_text and "INC-9" in notice[0].body_text
        assert t.use(s["sid"], purpose="support", actor=s["vendor"]).values
    finally:
        t.close()


def test_a_vendor_api_key_look_at_a_customers_person_is_in_the_customers_log(t: Troth) -> None:
    """An API key bound to no tenant is the vendor's own system: its reads of a
    customer's people are listed for the customer beside its staff's (found by the
    Hirewell trial: the customer's log said "no vendor accesses"). The customer's own key
    is not the vendor."""
    s = setup(t)
    vendor_raw, vendor_key = t.access.keys.create_api_key("vendor reporting", ["use"])
    own_raw, own_key = t.access.keys.create_api_key("acme sync", ["use"], tenant_id=s["a"])
    for raw in (vendor_raw, own_raw):
        t.use(s["sid"], purpose="provide_service", actor=t.access.keys.resolve_api_key(raw))
    looks = t.access.grants.vendor_accesses(s["a"])
    actors = {look.actor for look in looks}
    assert f"application:{vendor_key.id}" in actors
    assert f"application:{own_key.id}" not in actors
