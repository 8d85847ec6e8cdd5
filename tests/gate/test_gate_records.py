"""The gate for records about a person (troth.gate.decide_record): every kind of actor,
own and other tenant, grants live, expired, revoked, of another tenant, for other people
or categories; and a property: nobody bound away from a person ever passes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from troth.examples import EXAMPLES, example_path
from troth.gate import (
    RECORD_POWERS,
    Actor,
    ActorKind,
    Facts,
    Grant,
    Reason,
    Record,
    decide_record,
    staff_need_grant,
)
from troth.policy.index import PolicyIndex
from troth.policy.loader import load_policy

INDEXES = {name: PolicyIndex.build(load_policy(example_path(name))) for name in EXAMPLES}
PHONE = INDEXES["phone-service"]
ILIGN = INDEXES["ilign"]
NOW = datetime(2026, 6, 1, tzinfo=UTC)
A_PERSON = Facts(subject_id="s1", subject_tenant="A")


def grant(**kw: object) -> Grant:
    base: dict[str, object] = {
        "id": "g1",
        "tenant_id": "A",
        "categories": frozenset(),
        "subject_ids": frozenset(),
        "starts_at": NOW - timedelta(hours=1),
        "expires_at": NOW + timedelta(hours=1),
    }
    base.update(kw)
    return Grant(**base)  # type: ignore[arg-type]


def with_grants(*grants: Grant, member: bool = False) -> Facts:
    return Facts(subject_id="s1", subject_tenant="A", grants=grants, member_active=member)


def test_grants_are_needed_for_a_customers_people_whatever_multi_tenant_says() -> None:
    assert not ILIGN.policy.multi_tenant and staff_need_grant(ILIGN, "A")
    assert staff_need_grant(PHONE, "A")
    assert not staff_need_grant(ILIGN, None)  # the vendor's own contacts


@pytest.mark.parametrize("record", list(Record))
def test_support_staff_need_a_live_grant_covering_the_person(record: Record) -> None:
    agent = Actor(ActorKind.staff, "u1", role="support")
    d = decide_record(PHONE, agent, record, A_PERSON, NOW)
    assert not d.allowed and d.reason is Reason.no_grant
    ok = decide_record(PHONE, agent, record, with_grants(grant()), NOW)
    assert ok.allowed and ok.grant_id == "g1"
    for bad, reason in (
        (grant(expires_at=NOW - timedelta(seconds=1)), Reason.grant_expired),
        (grant(revoked=True), Reason.grant_expired),
        (grant(starts_at=NOW + timedelta(hours=1)), Reason.grant_expired),
        (grant(tenant_id="B"), Reason.grant_expired),
        (grant(subject_ids=frozenset({"s2"})), Reason.no_grant),
    ):
        d = decide_record(PHONE, agent, record, with_grants(bad), NOW)
        assert not d.allowed and d.reason is reason, bad


def test_a_grant_limited_to_categories_covers_only_records_within_them() -> None:
    agent = Actor(ActorKind.vendor_admin, "u1")
    facts = with_grants(grant(categories=frozenset({"call_records"})))
    assert decide_record(
        PHONE, agent, Record.disclosures, facts, NOW, categories=frozenset({"call_records"})
    ).allowed
    d = decide_record(
        PHONE,
        agent,
        Record.disclosures,
        facts,
        NOW,
        categories=frozenset({"call_records", "destination_numbers"}),
    )
    assert not d.allowed and d.reason is Reason.no_grant


def test_the_office_reads_records_for_its_duties_other_roles_within_their_categories() -> None:
    office = Actor(ActorKind.staff, "u1", role="privacy_office")
    assert decide_record(PHONE, office, Record.disclosures, A_PERSON, NOW).allowed
    # The vendor's own people (no tenant): a role sees records of its categories only.
    own = Facts(subject_id="s1")
    accounts = Actor(ActorKind.staff, "u2", role="accounts")
    assert decide_record(ILIGN, accounts, Record.consents, own, NOW).allowed
    d = decide_record(
        ILIGN, accounts, Record.disclosures, own, NOW, categories=frozenset({"support"})
    )
    assert not d.allowed and d.reason is Reason.role_not_allowed
    nobody = Actor(ActorKind.staff, "u3", role="nobody")
    d = decide_record(ILIGN, nobody, Record.consents, own, NOW)
    assert not d.allowed and d.reason is Reason.role_not_allowed


def test_members_keys_and_the_person_stay_within_their_reach() -> None:
    member = Actor(ActorKind.tenant_member, "m1", tenant_id="A")
    assert decide_record(PHONE, member, Record.consents, with_grants(member=True), NOW).allowed
    revoked = decide_record(PHONE, member, Record.consents, A_PERSON, NOW)
    assert not revoked.allowed and revoked.reason is Reason.not_a_member
    other = Actor(ActorKind.tenant_admin, "m2", tenant_id="B")
    assert not decide_record(PHONE, other, Record.consents, with_grants(member=True), NOW).allowed
    key_b = Actor(ActorKind.application, "k1", tenant_id="B", scopes=frozenset({"admin"}))
    d = decide_record(PHONE, key_b, Record.disclosures, A_PERSON, NOW)
    assert not d.allowed and d.reason is Reason.not_a_member
    collect_key = Actor(ActorKind.application, "k2", scopes=frozenset({"collect"}))
    assert decide_record(PHONE, collect_key, Record.consents, A_PERSON, NOW, write=True).allowed
    d = decide_record(PHONE, collect_key, Record.disclosures, A_PERSON, NOW)
    assert not d.allowed and d.reason is Reason.scope_missing
    me = Actor(ActorKind.subject, "s1")
    assert decide_record(
        PHONE, me, Record.consents, Facts(subject_id="s1", subject_self=True), NOW
    ).allowed
    assert not decide_record(
        PHONE, Actor(ActorKind.subject, "s2"), Record.consents, A_PERSON, NOW
    ).allowed


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(
        [k for k in ActorKind if k is not ActorKind.system and k is not ActorKind.subject]
    ),
    actor_tenant=st.sampled_from(["A", "B", None]),
    role=st.sampled_from([*sorted(PHONE.roles), None]),
    scopes=st.frozensets(st.sampled_from(["admin", "use", "collect", "disclose"]), max_size=2),
    record=st.sampled_from(list(Record)),
    write=st.booleans(),
    grant_tenant=st.sampled_from(["A", "B", None]),
)
def test_nobody_bound_to_another_tenant_passes(
    kind: ActorKind,
    actor_tenant: str | None,
    role: str | None,
    scopes: frozenset[str],
    record: Record,
    write: bool,
    grant_tenant: str | None,
) -> None:
    """Whatever the actor, a person of tenant A is reached only by A's members, keys
    bound to A or to no tenant, the office, or the vendor under a grant of A."""
    grants = (grant(tenant_id=grant_tenant),) if grant_tenant else ()
    facts = Facts(subject_id="s1", subject_tenant="A", grants=grants, member_active=True)
    actor = Actor(kind, "x", role=role, tenant_id=actor_tenant, scopes=scopes)
    d = decide_record(PHONE, actor, record, facts, NOW, write=write)
    if not d.allowed:
        assert d.reason is not None
        return
    if kind in (ActorKind.tenant_admin, ActorKind.tenant_member):
        assert actor_tenant == "A"
    elif kind is ActorKind.application:
        assert actor_tenant in ("A", None) and scopes
    elif kind is ActorKind.vendor_admin:
        assert grant_tenant == "A"
    else:
        assert kind is ActorKind.staff
        assert set(PHONE.roles[role or ""].powers) & RECORD_POWERS[record] or grant_tenant == "A"
