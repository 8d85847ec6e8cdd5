"""The gate on one consent (troth.gate.consents, trial #19 F7): every kind of actor and
every staff role against every consent of the dating app's policy, grants covering the
purpose's categories or not, an erased person; and properties: a customer's side never
sees a consent to a ``vendor_only`` purpose, and a role without the office's power never
one to a purpose it does not act for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dating_samples import CONSENTS, COOKIES, HEARTHLY, STAFF_ROLES
from troth.gate import Actor, ActorKind, Facts, Grant, Reason, Record, decide_record
from troth.gate.consents import consent_purpose
from troth.policy.index import PolicyIndex
from troth.policy.loader import parse_policy

INDEX = PolicyIndex.build(parse_policy(HEARTHLY))
GRANTED = PolicyIndex.build(
    parse_policy(
        HEARTHLY.replace("requires_customer_grant: false", "requires_customer_grant: true")
    )
)
NOW = datetime(2026, 6, 1, tzinfo=UTC)
EVERY = (*CONSENTS, *COOKIES)
OWN = Facts(subject_id="s1")  # the vendor's own member
THEIRS = Facts(subject_id="s1", subject_tenant="A", member_active=True)  # a customer's


def _sees(index: PolicyIndex, actor: Actor, facts: Facts) -> set[str]:
    return {
        p
        for p in EVERY
        if decide_record(index, actor, Record.consents, facts, NOW, purpose=p).allowed
    }


def _grant(*categories: str) -> Grant:
    return Grant(
        "g1",
        "A",
        frozenset(categories),
        frozenset(),
        NOW - timedelta(hours=1),
        NOW + timedelta(hours=1),
    )


def test_a_cookie_choice_is_for_the_purpose_its_category_declares() -> None:
    assert consent_purpose(INDEX, "cookie:marketing") == "ad_sharing"
    assert consent_purpose(INDEX, "cookie:analytics") is None  # declares none
    assert consent_purpose(INDEX, "email_news") == "email_news"


@pytest.mark.parametrize("role", STAFF_ROLES)
def test_each_role_against_each_consent(role: str) -> None:
    staff = Actor(ActorKind.staff, "u1", role=role)
    expected = (
        set(EVERY)
        if role == "privacy_office"
        else {p for p in CONSENTS if p in INDEX.role_purposes[role]}
        | {c for c in COOKIES if consent_purpose(INDEX, c) in INDEX.role_purposes[role]}
    )
    assert _sees(INDEX, staff, OWN) == expected
    assert _sees(INDEX, staff, THEIRS) == expected  # no grants required by this policy
    refused = decide_record(INDEX, staff, Record.consents, OWN, NOW, purpose="orientation_matching")
    if role != "privacy_office":
        assert refused.reason is Reason.role_not_allowed
        assert "orientation_matching" in refused.detail  # the refusal names what was asked
    # The record as a whole (no purpose): decided as before.
    assert decide_record(INDEX, staff, Record.consents, OWN, NOW).allowed


def test_an_erased_persons_consents_are_the_offices() -> None:
    erased = Facts(subject_id="s1", erased=True)
    for role in STAFF_ROLES:
        staff = Actor(ActorKind.staff, "u1", role=role)
        assert _sees(INDEX, staff, erased) == (set(EVERY) if role == "privacy_office" else set())
    d = decide_record(
        INDEX,
        Actor(ActorKind.staff, "u1", role="marketing"),
        Record.consents,
        erased,
        NOW,
        purpose="email_news",
    )
    assert d.reason is Reason.subject_erased


def test_a_customers_side() -> None:
    host = Facts(
        subject_id="s1", subject_tenant="A", member_active=True, member_role="community_host"
    )
    member = Actor(ActorKind.tenant_member, "m1", tenant_id="A")
    assert _sees(INDEX, member, host) == {"community_events"}
    admin = Actor(ActorKind.tenant_admin, "a1", tenant_id="A")
    assert _sees(INDEX, admin, THEIRS) == {
        "email_news",
        "push_news",
        "community_events",
        "cookie:analytics",
    }
    d = decide_record(INDEX, admin, Record.consents, THEIRS, NOW, purpose="identity_verification")
    assert d.reason is Reason.vendor_only
    other = Actor(ActorKind.tenant_admin, "a2", tenant_id="B")
    assert _sees(INDEX, other, Facts(subject_id="s1", subject_tenant="A")) == set()


def test_a_grant_must_cover_what_the_consent_is_about() -> None:
    """Where grants are required (a customer's person), the vendor's staff see a consent
    to their role's purposes under a grant covering the purpose's categories; its admins
    (no role) every consent the grant covers."""
    marketing = Actor(ActorKind.staff, "u1", role="marketing")
    assert _sees(GRANTED, marketing, THEIRS) == set()  # no grant
    narrow = Facts(subject_id="s1", subject_tenant="A", grants=(_grant("identity", "contact"),))
    assert _sees(GRANTED, marketing, narrow) == {"email_news"}  # not push_news (push_token)
    wide = Facts(subject_id="s1", subject_tenant="A", grants=(_grant(),))
    assert _sees(GRANTED, marketing, wide) == {"email_news", "push_news"}
    admin = Actor(ActorKind.vendor_admin, "v1")
    assert _sees(GRANTED, admin, narrow) == {"email_news", "community_events", "cookie:analytics"}
    assert _sees(GRANTED, admin, wide) == set(EVERY)
    # The vendor's own member needs no grant.
    assert _sees(GRANTED, marketing, OWN) == {"email_news", "push_news"}


KINDS = st.sampled_from(list(ActorKind))
ROLES = st.sampled_from([None, *STAFF_ROLES, "community_host", "nobody"])
PURPOSES = st.sampled_from([*EVERY, "retired_purpose", "cookie:unknown"])


@given(kind=KINDS, role=ROLES, purpose=PURPOSES, tenant=st.sampled_from([None, "A"]))
def test_need_to_know_holds_for_every_actor(
    kind: ActorKind, role: str | None, purpose: str, tenant: str | None
) -> None:
    actor = Actor(kind, "x", role=role if kind is ActorKind.staff else None, tenant_id=tenant)
    facts = Facts(subject_id="s1", subject_tenant="A", member_active=True, member_role=role)
    d = decide_record(INDEX, actor, Record.consents, facts, NOW, purpose=purpose)
    if not d.allowed:
        return
    served = consent_purpose(INDEX, purpose)
    customer = kind in (ActorKind.tenant_admin, ActorKind.tenant_member) or (
        kind is ActorKind.application and tenant is not None
    )
    if customer:
        assert served not in INDEX.vendor_purposes
    if kind is ActorKind.staff and role != "privacy_office":
        assert served in INDEX.role_purposes.get(role or "", frozenset())
    if kind is ActorKind.tenant_member and role is not None:
        assert served in INDEX.role_purposes.get(role, frozenset())
