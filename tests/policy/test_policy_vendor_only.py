"""``vendor_only: true`` on a purpose (trial #15 G1): how ``policy validate`` warns about it
(meaningless without customers; a member role that lists one; special categories a
customer reaches through a purpose that is not the vendor's own and no member role lists),
how ``policy diff`` grades it (removing it widens what customers may do: material; adding
it narrows them: minor), and how the policy reads in plain words."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import troth.cli
from pulse_samples import PULSE, without_vendor_only
from troth.errors import PolicyError
from troth.policy.describe import describe_policy, policy_summary
from troth.policy.diff import diff_policies
from troth.policy.index import PolicyIndex
from troth.policy.loader import parse_policy
from troth.policy.warnings import policy_warnings


def _about(text: str, words: str) -> list[str]:
    return [w for w in policy_warnings(parse_policy(text, "p.yaml")) if words in w]


def test_the_flag_is_read_and_defaults_to_false() -> None:
    policy = parse_policy(PULSE)
    flags = {p.id: p.vendor_only for p in policy.purposes}
    assert flags["health_insights"] and flags["fraud_detection"] and not flags["account"]
    idx = PolicyIndex.build(policy)
    assert idx.vendor_purposes == {
        "activity_tracking",
        "health_insights",
        "club_statistics",
        "fraud_detection",
    }
    # device: only fraud checks use it; identity and contact serve the account too.
    assert idx.vendor_categories == {"biometrics", "reproductive_health", "device"}
    plain = PolicyIndex.build(parse_policy(without_vendor_only()))
    assert not plain.vendor_purposes and not plain.vendor_categories


def test_a_flag_that_is_not_a_boolean_is_an_issue() -> None:
    bad = PULSE.replace("    vendor_only: true\n", "    vendor_only: [yes]\n", 1)
    with pytest.raises(PolicyError) as err:
        parse_policy(bad, "p.yaml")
    assert "vendor_only" in str(err.value)


def test_a_policy_that_marks_its_health_purposes_vendor_only_is_not_warned() -> None:
    assert _about(PULSE, "vendor_only") == []
    assert _about(PULSE, "special or sensitive") == []
    assert _about(PULSE, "for: tenant_members") == []


def test_special_data_customers_reach_through_a_purpose_no_member_role_lists() -> None:
    """The trial's policy: health purposes listed by no member role, not the vendor's
    own: every admin without a role and every key bound to a customer reads them."""
    warned = _about(without_vendor_only(), "special or sensitive")
    assert [w.split(":")[0] for w in warned] == ["purposes[1]", "purposes[2]"]
    assert "'activity_tracking'" in warned[0] and "reproductive_health" in warned[0]
    assert "'health_insights'" in warned[1] and "vendor_only: true" in warned[1]
    # Not said of a purpose without special data, nor of one a member role lists.
    text = without_vendor_only().replace(
        "    categories: [identity, contact]\n    purposes: [account]\nsupport_access",
        "    categories: [identity, contact, biometrics, reproductive_health]\n"
        "    purposes: [account, activity_tracking]\nsupport_access",
    )
    warned = _about(text, "special or sensitive")
    assert [w.split(":")[0] for w in warned] == ["purposes[2]"]


def test_without_member_roles_the_old_warning_names_the_flag_too() -> None:
    start = PULSE.index("  - id: gym_front_desk")
    end = PULSE.index("support_access:")
    no_roles = without_vendor_only(PULSE[:start] + PULSE[end:])
    (warning,) = _about(no_roles, "for: tenant_members")
    assert "biometrics" in warning and "vendor_only: true" in warning
    # The special categories only the vendor's own purposes use are no customer's.
    assert _about(PULSE[:start] + PULSE[end:], "for: tenant_members") == []


def test_the_flag_in_a_single_tenant_policy_is_warned() -> None:
    single = PULSE.replace("multi_tenant: true", "multi_tenant: false")
    warned = _about(single, "is not multi_tenant")
    assert [w.split(":")[0] for w in warned] == [
        "purposes[1].vendor_only",
        "purposes[2].vendor_only",
        "purposes[3].vendor_only",
        "purposes[4].vendor_only",
    ]


def test_a_member_role_that_lists_a_vendor_purpose_is_warned() -> None:
    text = PULSE.replace(
        "    categories: [identity, contact]\n    purposes: [account]\nsupport_access",
        "    categories: [identity, contact, device]\n"
        "    purposes: [account, fraud_detection]\nsupport_access",
    )
    (warning,) = _about(text, "no member ever acts for it")
    assert warning.startswith("roles[6].purposes[1]: role 'member_support'")


def test_removing_the_flag_is_material_and_adding_it_minor() -> None:
    flagged, plain = parse_policy(PULSE), parse_policy(without_vendor_only())
    widened = diff_policies(flagged, plain)
    changed = {(c.id, c.item): c.severity.value for c in widened.changes}
    assert changed[("health_insights", "vendor_only")] == "material"
    assert changed[("fraud_detection", "vendor_only")] == "material"
    assert widened.material
    narrowed = diff_policies(plain, flagged)
    assert {c.severity.value for c in narrowed.changes} == {"minor"}
    assert not narrowed.material


def test_the_policy_says_so_in_plain_words() -> None:
    policy = parse_policy(PULSE)
    words = describe_policy(policy)
    assert "ours alone: never done by or for our customers" in words
    assert (
        "- No one at a customer, admins and their systems included, acts for"
        " activity_tracking, health_insights, club_statistics, fraud_detection: those are"
        " ours alone." in words
    )
    purposes = {p["id"]: p for p in policy_summary(policy)["purposes"]}
    assert purposes["health_insights"]["vendor_only"] is True
    assert purposes["account"]["vendor_only"] is False


def test_validate_prints_the_warning_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "pulse.yaml"
    path.write_text(without_vendor_only())
    result = CliRunner().invoke(troth.cli.app, ["policy", "validate", str(path)])
    assert result.exit_code == 0, result.output
    assert f"{path}: warning: purposes[1]: purpose 'activity_tracking'" in result.output
    shown = CliRunner().invoke(troth.cli.app, ["policy", "show", str(path), "--json"])
    assert json.loads(shown.output)["purposes"][1]["vendor_only"] is False


def _with_authority_purpose() -> str:
    """``PULSE`` without the flag, plus a legal obligation whose heart-rate data the policy
    sends to an authority, listed by no member role."""
    text = without_vendor_only()
    text = text.replace(
        "purposes:\n  - id: account\n",
        "purposes:\n  - id: legal_requirement\n    description: Answer a court.\n"
        "    legal_basis: legal_obligation\n    categories: [biometrics, genotype]\n"
        "  - id: account\n",
        1,
    )
    text = text.replace(
        "categories:\n",
        "categories:\n  - {id: genotype, description: DNA., sensitive: true, special: true}\n",
        1,
    )
    return text.replace(
        "recipients:\n",
        "recipients:\n  - id: court\n    name: The court\n    kind: authority\n"
        "    location: EU\n    receives:\n"
        "      - {purpose: legal_requirement, categories: [biometrics]}\n",
        1,
    )


def test_an_authority_purpose_is_warned_as_the_gate_decides_it() -> None:
    """Trial 17 F6 / trial 18 D2: the gate refuses a customer's admin (or member) without
    a role to read for a legal obligation whose data goes to an authority; only a key
    bound to a customer reads it. The warning says that, not that the admin reads it."""
    from datetime import UTC, datetime

    from troth.gate import Actor, ActorKind, Ask, Facts, Operation, decide

    text = _with_authority_purpose()
    policy = parse_policy(text, "p.yaml")
    idx = PolicyIndex.build(policy)
    assert idx.authority_purposes == {"legal_requirement"}
    now = datetime(2026, 1, 5, tzinfo=UTC)
    facts = Facts(subject_id="s1", subject_tenant="t1", member_active=True)
    admin = Actor(ActorKind.tenant_admin, "a1", tenant_id="t1")
    key = Actor(ActorKind.application, "k1", tenant_id="t1", scopes=frozenset({"use"}))
    ask = Ask(admin, Operation.use, "legal_requirement", ("biometrics",), now)
    assert decide(idx, ask, facts).reason == "role_not_allowed"
    ask = Ask(key, Operation.use, "legal_requirement", ("biometrics",), now)
    assert decide(idx, ask, facts).allowed

    (warning,) = [w for w in policy_warnings(policy) if "'legal_requirement'" in w]
    assert "admin without a role and every API key" not in warning
    assert "admin or member reads it only with a role that lists it" in warning
    assert "every API key bound to a customer with the `use` scope reads it" in warning


def test_without_member_roles_an_authority_purpose_is_no_members_reach() -> None:
    """Without member roles, the warning that every member reads the special categories
    leaves out those only an authority's purpose uses (members are refused them)."""
    text = _with_authority_purpose()
    no_roles = text[: text.index("  - id: gym_front_desk")] + text[text.index("support_access:") :]
    (warning,) = _about(no_roles, "for: tenant_members")
    assert "reproductive_health" in warning  # activity_tracking, not an authority's, uses it
    assert "genotype" not in warning  # only the court's legal_requirement uses it
