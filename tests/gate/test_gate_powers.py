"""The vendor office's powers (troth.gate.decide_power), decided alone: every credential
kind against every power, on the five examples and on policies that give one role one
power. Pure: no database."""

from __future__ import annotations

import pytest

from troth.examples import example_path
from troth.gate import SYSTEM, Actor, ActorKind, Reason, decide_power, office_scope
from troth.policy.index import PolicyIndex
from troth.policy.loader import load_policy
from troth.policy.model import Power, Role

EXAMPLES = ["ilign", "itechno", "ixanet", "mindlink", "phone-service"]
TENANT = "t_acme"


def index_of(name: str, roles: list[Role] | None = None) -> PolicyIndex:
    policy = load_policy(example_path(name))
    if roles is not None:
        policy = policy.model_copy(update={"roles": roles})
    return PolicyIndex.build(policy)


def key(*scopes: str, tenant: str | None = None) -> Actor:
    return Actor(ActorKind.application, "k1", tenant_id=tenant, scopes=frozenset(scopes))


@pytest.mark.parametrize("name", EXAMPLES)
@pytest.mark.parametrize("power", list(Power))
def test_every_kind_of_credential_against_every_power(name: str, power: Power) -> None:
    idx = index_of(name)
    office = idx.roles["privacy_office"]

    def allowed(actor: Actor) -> bool:
        return decide_power(idx, actor, power).allowed

    def reason(actor: Actor) -> Reason | None:
        return decide_power(idx, actor, power).reason

    # troth itself (CLI, worker) and the office role, when the policy gives it the power.
    assert allowed(SYSTEM)
    staff = Actor(ActorKind.staff, "pat", role="privacy_office")
    assert allowed(staff) is (power in office.powers)
    if power not in office.powers:
        assert reason(staff) is Reason.power_not_granted
    # A role without powers, a role the policy does not know.
    assert reason(Actor(ActorKind.staff, "sam", role="support")) is Reason.power_not_granted
    assert reason(Actor(ActorKind.staff, "x", role="nope")) is Reason.role_not_allowed
    assert reason(Actor(ActorKind.staff, "x")) is Reason.role_not_allowed
    # The person, the vendor's admin: never the office.
    assert reason(Actor(ActorKind.subject, "s1")) is Reason.power_not_granted
    assert reason(Actor(ActorKind.vendor_admin, "v1")) is Reason.power_not_granted
    # Anything bound to a tenant, whatever it holds, is never the vendor office.
    for bound in (
        Actor(ActorKind.tenant_member, "u1", tenant_id=TENANT),
        Actor(ActorKind.tenant_admin, "u2", tenant_id=TENANT),
        key("admin", tenant=TENANT),
        key("requests:admin", tenant=TENANT),
        key(office_scope(power), tenant=TENANT),
        key(*(office_scope(p) for p in Power), "admin", tenant=TENANT),
        Actor(ActorKind.staff, "pat", role="privacy_office", tenant_id=TENANT),
    ):
        d = decide_power(idx, bound, power)
        assert not d.allowed and d.reason is Reason.tenant_bound, bound
        assert "customer" in d.detail
    # An unbound key: admin, or the one office scope for this power.
    assert allowed(key("admin"))
    assert allowed(key(office_scope(power)))
    others = [office_scope(p) for p in Power if p is not power]
    assert reason(key(*others)) is Reason.scope_missing
    for scopes in (("collect",), ("use",), ("use:billing",), ("requests",), ("aggregate",)):
        d = decide_power(idx, key(*scopes), power)
        assert d.reason is Reason.scope_missing and office_scope(power) in d.detail
    # requests:admin, the older scope of the request desk, grants that power only.
    assert allowed(key("requests:admin")) is (power is Power.manage_requests)


def test_a_role_has_exactly_the_powers_the_policy_gives_it() -> None:
    roles = [
        Role(id="auditor", categories=[], purposes=[], powers=[Power.read_audit]),
        Role(id="dpo", categories=["contact"], purposes=[], powers=list(Power)),
        Role(id="clerk", categories=["contact"], purposes=[]),
    ]
    idx = index_of("mindlink", roles)
    for power in Power:
        auditor = decide_power(idx, Actor(ActorKind.staff, "a", role="auditor"), power)
        assert auditor.allowed is (power is Power.read_audit)
        if not auditor.allowed:
            assert "read_audit" in auditor.detail  # says what the role has
        assert decide_power(idx, Actor(ActorKind.staff, "d", role="dpo"), power).allowed
        clerk = decide_power(idx, Actor(ActorKind.staff, "c", role="clerk"), power)
        assert clerk.reason is Reason.power_not_granted and "none" in clerk.detail
