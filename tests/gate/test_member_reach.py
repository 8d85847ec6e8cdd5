"""What a customer's member would read holding a role (``troth.gate.members.member_reach``),
the measure of "no delegation beyond one's own reach": it is exactly what the gate lets
them read, pair by pair (purpose, category), for every role of the school policy, an
admin without a role and a member without one; and one reach is beyond another exactly
when it reads a pair the other does not, or reads whole what the other reads masked."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import product

import pytest

from school_samples import SCHOOL
from troth.gate import Actor, ActorKind, Ask, Facts, Operation, decide
from troth.gate.members import Reach, beyond_reach, member_reach
from troth.policy.index import PolicyIndex
from troth.policy.loader import parse_policy

INDEX = PolicyIndex.build(parse_policy(SCHOOL))
NOW = datetime(2026, 1, 5, tzinfo=UTC)
HOLDERS = [(False, r) for r in sorted(INDEX.member_roles)] + [(True, None), (False, None)]


def _reads(admin: bool, role: str | None, purpose: str, category: str) -> bool:
    kind = ActorKind.tenant_admin if admin else ActorKind.tenant_member
    actor = Actor(kind, "m1", role=role, tenant_id="t1")
    facts = Facts(
        subject_id="s1",
        subject_tenant="t1",
        consented=frozenset(INDEX.purposes),
        member_active=True,
        member_role=role,
    )
    return decide(INDEX, Ask(actor, Operation.use, purpose, (category,), NOW), facts).allowed


@pytest.mark.parametrize(("admin", "role"), HOLDERS)
def test_the_reach_is_what_the_gate_lets_them_read(admin: bool, role: str | None) -> None:
    reach = member_reach(INDEX, admin=admin, role=role)
    read = {
        (p, c) for p, c in product(INDEX.purposes, INDEX.categories) if _reads(admin, role, p, c)
    }
    if reach.everything:
        # An admin without a role: every pair the purposes allow, but the authorities'.
        assert read == {
            (p, c)
            for p, cats in INDEX.purpose_categories.items()
            if p not in INDEX.authority_purposes
            for c in cats
        }
    else:
        assert reach.pairs == read


def test_beyond_is_a_pair_not_read_or_a_field_read_whole() -> None:
    teacher = member_reach(INDEX, admin=True, role="teacher")
    everything = member_reach(INDEX, admin=True, role=None)
    nothing = member_reach(INDEX, admin=False, role=None)
    assert nothing == Reach()
    assert beyond_reach(teacher, teacher) is None
    assert beyond_reach(teacher, nothing) is None
    assert beyond_reach(everything, teacher) is None
    assert beyond_reach(everything, everything) is None
    assert "as an admin without a role" in (beyond_reach(teacher, everything) or "")
    assert beyond_reach(teacher, member_reach(INDEX, admin=False, role="senco")) == (
        "identity for sen_support, sen_notes for sen_support"
    )
    # The same pairs, read whole: beyond.
    whole = Reach(pairs=teacher.pairs, whole=teacher.pairs)
    assert beyond_reach(teacher, whole) == "parent_contact unmasked for teaching"
    assert beyond_reach(whole, teacher) is None
    # A role the policy no longer declares reads nothing, and gives nothing.
    gone = member_reach(INDEX, admin=True, role="retired_role")
    assert gone == Reach() and beyond_reach(gone, teacher) is not None
