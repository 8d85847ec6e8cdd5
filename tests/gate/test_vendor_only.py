"""``vendor_only: true`` on a purpose: the vendor's own, never a customer's. Every actor on
a customer's side (its admins with or without a member role, its members with or without
one, an API key bound to it whatever its scopes) is refused ``vendor_only`` for every
operation under such a purpose; the vendor's staff and keys are decided as before; another
customer's person stays ``not_a_member``; and a policy without the flag decides exactly as
before (the same policy with the flags removed decides the same for everything else)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pulse_samples import PULSE, without_vendor_only
from repo_paths import README
from troth.gate import Actor, ActorKind, Ask, Facts, Operation, Reason, decide, decide_record
from troth.gate.exports import export_scope
from troth.gate.members import customer_side
from troth.gate.records import Record
from troth.policy.index import PolicyIndex
from troth.policy.loader import parse_policy

NOW = datetime(2026, 6, 1, tzinfo=UTC)
IDX = PolicyIndex.build(parse_policy(PULSE))
PLAIN = PolicyIndex.build(parse_policy(without_vendor_only()))
VENDOR = ("activity_tracking", "health_insights", "club_statistics", "fraud_detection")
ROLES = [None, "gym_front_desk", "wellness_coordinator", "member_support"]
SCOPES = ["use", "collect", "disclose", "aggregate", "export", "admin", "use:health_insights"]


def customers() -> list[tuple[str, Actor, str | None]]:
    """(name, actor, the member role it holds now) for every kind on a customer's side."""
    out: list[tuple[str, Actor, str | None]] = []
    for kind in (ActorKind.tenant_admin, ActorKind.tenant_member):
        for role in ROLES:
            out.append((f"{kind.value}/{role}", Actor(kind, "u1", role=role, tenant_id="t1"), role))
    for scope in SCOPES:
        key = Actor(ActorKind.application, "k1", tenant_id="t1", scopes=frozenset({scope}))
        out.append((f"key/{scope}", key, None))
    return out


def _facts(role: str | None, tenant: str = "t1") -> Facts:
    return Facts(
        subject_id="s1",
        subject_tenant=tenant,
        consented=frozenset(IDX.purposes),
        member_active=True,
        member_role=role,
    )


def _ask(actor: Actor, op: Operation, purpose: str) -> Ask:
    cats = tuple(sorted(IDX.purpose_categories[purpose]))
    return Ask(actor, op, purpose, cats, NOW, recipient=None)


@pytest.mark.parametrize("purpose", VENDOR)
@pytest.mark.parametrize("op", list(Operation))
@pytest.mark.parametrize(("name", "actor", "role"), customers(), ids=lambda v: str(v))
def test_every_customer_side_actor_is_refused_vendor_only(
    name: str, actor: Actor, role: str | None, op: Operation, purpose: str
) -> None:
    assert customer_side(actor)
    d = decide(IDX, _ask(actor, op, purpose), _facts(role))
    assert not d.allowed and not d.categories
    if purpose in IDX.aggregate_purposes and op in (
        Operation.use,
        Operation.disclose,
        Operation.export,
    ):
        # Rows of an aggregate-only purpose are refused whoever asks, first.
        assert d.reason is Reason.aggregate_only
        return
    assert d.reason is Reason.vendor_only, (name, op, d)
    # The message tells the customer what to do, and whom to ask.
    assert purpose in d.detail and "privacy@pulse.example" in d.detail
    assert "act for one of your organisation's purposes" in d.detail


@pytest.mark.parametrize("purpose", VENDOR)
@pytest.mark.parametrize(("name", "actor", "role"), customers(), ids=lambda v: str(v))
def test_another_customers_person_stays_unknown_not_vendor_only(
    name: str, actor: Actor, role: str | None, purpose: str
) -> None:
    """The refusal of another customer's person comes first: it must not differ from one
    of an unknown id by telling what the policy says."""
    op = Operation.aggregate if purpose in IDX.aggregate_purposes else Operation.use
    for each in (op, Operation.collect):
        d = decide(IDX, _ask(actor, each, purpose), _facts(role, tenant="t2"))
        assert d.reason is Reason.not_a_member


def test_the_vendor_side_acts_for_its_own_purposes_as_before() -> None:
    facts = Facts(subject_id="s1", subject_tenant=None, consented=frozenset(IDX.purposes))
    staff = Actor(ActorKind.staff, "ie", role="insights_engine")
    d = decide(IDX, _ask(staff, Operation.use, "health_insights"), facts)
    assert d.allowed and d.categories == {"biometrics"}
    key = Actor(ActorKind.application, "v", scopes=frozenset({"use", "collect"}))
    for op in (Operation.use, Operation.collect):
        d = decide(IDX, _ask(key, op, "activity_tracking"), facts)
        assert d.allowed, (op, d)
    fraud = Actor(ActorKind.staff, "ft", role="fraud_team")
    assert decide(IDX, _ask(fraud, Operation.use, "fraud_detection"), facts).allowed
    # The person themself reads their own heart rate: they are no customer.
    me = Actor(ActorKind.subject, "s1", tenant_id="t1")
    facts = Facts(
        subject_id="s1", subject_tenant="t1", subject_self=True, consented=facts.consented
    )
    assert not customer_side(me)
    assert decide(IDX, _ask(me, Operation.use, "activity_tracking"), facts).allowed


def test_a_customer_still_acts_for_its_own_purposes() -> None:
    desk = Actor(ActorKind.tenant_admin, "d", role="gym_front_desk", tenant_id="t1")
    d = decide(IDX, _ask(desk, Operation.use, "gym_attendance"), _facts("gym_front_desk"))
    assert d.allowed and d.categories == {"identity", "attendance", "membership_card"}
    boss = Actor(ActorKind.tenant_admin, "b", tenant_id="t1")
    assert decide(IDX, _ask(boss, Operation.use, "account"), _facts(None)).allowed


@st.composite
def _anything(draw: st.DrawFn) -> tuple[Ask, Facts]:
    kind = draw(st.sampled_from(list(ActorKind)))
    role = draw(st.sampled_from([*ROLES, "insights_engine", "fraud_team", "privacy_office"]))
    scopes = frozenset(draw(st.lists(st.sampled_from(SCOPES), max_size=3)))
    tenant = draw(st.sampled_from(["t1", "t2", None]))
    actor = Actor(kind, "a1", role=role, tenant_id=tenant, scopes=scopes)
    purposes = sorted(IDX.purposes)
    cats = sorted(IDX.categories)
    ask = Ask(
        actor,
        draw(st.sampled_from(list(Operation))),
        draw(st.sampled_from(purposes)),
        tuple(draw(st.lists(st.sampled_from(cats), min_size=1, max_size=4, unique=True))),
        NOW,
    )
    facts = Facts(
        subject_id="s1",
        subject_tenant=draw(st.sampled_from(["t1", "t2", None])),
        subject_self=draw(st.booleans()),
        consented=frozenset(draw(st.lists(st.sampled_from(purposes), max_size=4))),
        restricted=frozenset(draw(st.lists(st.sampled_from(purposes), max_size=1))),
        member_active=draw(st.booleans()),
        member_role=draw(st.sampled_from(ROLES)),
        erased=draw(st.booleans()),
    )
    return ask, facts


@settings(max_examples=600, deadline=None)
@given(_anything())
def test_the_flag_changes_nothing_but_a_customers_vendor_purposes(case: tuple[Ask, Facts]) -> None:
    """Decided on the policy with the flags and on the same policy without them: the same
    decision, except ``vendor_only`` for a customer-side actor on a vendor purpose, where
    the flagless policy would have gone on to decide, and the vendor's staff acting for a
    vendor purpose by their role, who need no customer's grant for it (trial #18 F5): where
    the flagless policy refused them for want of a grant, the flagged one decides on."""
    ask, facts = case
    flagged, plain = decide(IDX, ask, facts), decide(PLAIN, ask, facts)
    vendors = ask.purpose in IDX.vendor_purposes
    if vendors and customer_side(ask.actor) and flagged != plain:
        assert flagged.reason is Reason.vendor_only
        assert plain.reason is not Reason.vendor_only
    elif vendors and ask.actor.kind is ActorKind.staff and flagged != plain:
        assert plain.reason in (Reason.no_grant, Reason.grant_expired), plain
        assert flagged.reason not in (Reason.no_grant, Reason.grant_expired), flagged
    else:
        assert flagged == plain


def test_a_customer_records_no_consent_to_a_vendor_purpose_but_may_relay_a_withdrawal() -> None:
    key = Actor(ActorKind.application, "k", tenant_id="t1", scopes=frozenset({"collect"}))
    facts = _facts(None)
    given_ = decide_record(
        IDX, key, Record.consents, facts, NOW, write=True, purpose="health_insights"
    )
    assert given_.reason is Reason.vendor_only
    # A withdrawal names no purpose to the gate: it only narrows, and stays allowed.
    assert decide_record(IDX, key, Record.consents, facts, NOW, write=True).allowed
    assert decide_record(
        IDX, key, Record.consents, facts, NOW, write=True, purpose="account"
    ).allowed
    vendor = Actor(ActorKind.application, "v", scopes=frozenset({"collect"}))
    assert decide_record(
        IDX, vendor, Record.consents, facts, NOW, write=True, purpose="health_insights"
    ).allowed


def test_a_member_role_finds_no_one_through_a_vendor_purpose() -> None:
    """A look-up finds only someone the role may act for now; a vendor purpose listed by
    a member role (validate warns) never counts."""
    text = PULSE.replace(
        "    categories: [identity, contact]\n    purposes: [account]\n",
        "    categories: [device]\n    purposes: [fraud_detection]\n",
    )
    idx = PolicyIndex.build(parse_policy(text))
    member = Actor(ActorKind.tenant_member, "m", role="member_support", tenant_id="t1")
    d = decide_record(idx, member, Record.lookup, _facts("member_support"), NOW)
    assert d.reason is Reason.role_not_allowed


def test_an_export_scope_leaves_out_what_only_vendor_purposes_use() -> None:
    for role in (None, *IDX.member_roles):
        scope = export_scope(IDX, role)
        assert scope.left_out.get("device") is Reason.vendor_only
        assert scope.left_out.get("biometrics") is Reason.vendor_only
        assert scope.left_out.get("reproductive_health") is Reason.vendor_only
        assert not scope.complete
        # identity and contact are also the account's: kept, unless the value was
        # collected only for the vendor's own purposes.
        assert not scope.keeps("contact", ["fraud_detection"])
    everyone = export_scope(IDX, None)
    assert everyone.keeps("contact", ["account", "fraud_detection"])
    desk = export_scope(IDX, "gym_front_desk")
    assert desk.readable == {"identity", "attendance", "membership_card"}
    assert desk.left_out["contact"] is Reason.role_not_allowed
    assert desk.left_out["participation"] is Reason.role_not_allowed
    coord = export_scope(IDX, "wellness_coordinator")
    assert coord.readable == frozenset()
    assert coord.left_out["participation"] is Reason.aggregate_only


def test_without_the_flag_an_export_by_an_admin_without_a_role_is_complete() -> None:
    scope = export_scope(PLAIN, None)
    assert scope.complete and not scope.left_out and scope.readable is None
    assert scope.keeps("biometrics", ["activity_tracking"])


def test_the_reason_codes_table_names_every_reason() -> None:
    table = README.read_text().split("### Reason codes", 1)[1].split("\nWhen every", 1)[0]
    missing = [r.value for r in Reason if f"`{r.value}`" not in table]
    assert not missing, missing
    row = next(line for line in table.splitlines() if line.startswith("| `vendor_only`"))
    assert "vendor_only: true" in row
