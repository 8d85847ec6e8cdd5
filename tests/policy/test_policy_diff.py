"""Policy diff: each kind of change classified, and the properties diff(a,a)=0, reversal."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from policy_samples import BASE, policies
from troth.policy.changes import Change, ChangeKind, PolicyDiff, Severity
from troth.policy.diff import diff_policies
from troth.policy.loader import parse_policy
from troth.policy.model import Policy

OLD = parse_policy(BASE)


def changed(old: str, new: str, text: str = BASE) -> PolicyDiff:
    assert old in text, old
    return diff_policies(parse_policy(text), parse_policy(text.replace(old, new, 1)))


def one(diff: PolicyDiff) -> Change:
    assert len(diff.changes) == 1, [c.to_dict() for c in diff.changes]
    return diff.changes[0]


NEW_PURPOSE = """  - id: profiling
    description: Profile customers
    legal_basis: consent
    categories: [contact, purchases]
    withdraw: Untick the box
"""


def test_same_policy_no_changes() -> None:
    d = diff_policies(OLD, OLD)
    assert d.changes == [] and not d and not d.has_material
    assert d.new_uses == [] and d.new_consent_purposes == []


def test_new_purpose_is_material_with_new_uses_and_consent() -> None:
    d = changed("  - id: stats\n", NEW_PURPOSE + "  - id: stats\n")
    c = one(d)
    assert (c.kind, c.section, c.id, c.severity) == (
        ChangeKind.added,
        "purposes",
        "profiling",
        Severity.material,
    )
    assert d.new_uses == [("profiling", "contact"), ("profiling", "purchases")]
    assert d.new_consent_purposes == ["profiling"]
    assert d.to_dict()["material"] is True


def test_removed_purpose_is_minor() -> None:
    text = BASE.replace("  - id: stats\n", NEW_PURPOSE + "  - id: stats\n")
    d = diff_policies(parse_policy(text), OLD)
    c = one(d)
    assert (c.kind, c.severity) == (ChangeKind.removed, Severity.minor)
    assert not d.has_material


def test_new_category_for_purpose() -> None:
    d = changed(
        "categories: [contact]\n    withdraw", "categories: [contact, identity]\n    withdraw"
    )
    c = one(d)
    assert (c.kind, c.id, c.item, c.severity) == (
        ChangeKind.added,
        "news",
        "categories[identity]",
        Severity.material,
    )
    assert d.new_uses == [("news", "identity")]
    # Read on its own (the console, the notice e-mail), the change names its purpose.
    assert c.sentence == "purpose 'news': categories used now includes 'identity'"


def test_retention_longer_material_shorter_minor() -> None:
    c = one(changed("keep_for: 7y", "keep_for: 8y"))
    assert (c.item, c.severity, c.before, c.after) == (
        "retention.keep_for",
        Severity.material,
        "7y",
        "8y",
    )
    c = one(changed("keep_for: 7y", "keep_for: 6y 6m"))
    assert c.severity is Severity.minor


def test_legal_basis_weaker_is_material() -> None:
    c = one(changed("legal_basis: contract", "legal_basis: legitimate_interest"))
    assert (c.item, c.severity) == ("legal_basis", Severity.material)
    d = changed(
        "legal_basis: legitimate_interest", "legal_basis: consent\n    withdraw: Opt out here"
    )
    assert [x.severity for x in d.changes if x.item == "legal_basis"] == [Severity.minor]
    assert d.new_consent_purposes == ["stats"]
    assert d.new_consent_purposes and any(x.item == "legal_basis" for x in d.changes)


def test_wording_is_minor() -> None:
    c = one(changed("description: Fill orders", "description: Fill and ship orders"))
    assert (c.kind, c.item, c.severity) == (ChangeKind.changed, "description", Severity.minor)


def test_new_recipient_and_widened_recipient() -> None:
    d = changed(
        "locations:\n",
        "  - id: ads\n    name: Ads Inc\n    kind: third_party\n    location: FR\n"
        "    receives: [{purpose: news, categories: [contact]}]\nlocations:\n",
    )
    c = one(d)
    assert (c.kind, c.section, c.id, c.severity) == (
        ChangeKind.added,
        "recipients",
        "ads",
        Severity.material,
    )
    c = one(
        changed(
            "fields: [name]",
            "fields: [name, address]",
            BASE.replace("fields: [name, address]", "fields: [name]"),
        )
    )
    assert (c.item, c.severity) == ("receives.orders.fields", Severity.material)  # one more field
    c = one(changed("fields: [name, address]", "fields: [name]"))
    assert (c.item, c.severity) == ("receives.orders.fields", Severity.minor)
    c = one(changed("individual_transactions: false", "individual_transactions: true"))
    assert c.severity is Severity.material


def test_new_location_transfer_field_point_purpose() -> None:
    c = one(changed("allowed: [DE, FR]", "allowed: [DE, FR, US]"))
    assert (c.kind, c.section, c.item, c.severity) == (
        ChangeKind.added,
        "locations",
        "allowed[US]",
        Severity.material,
    )
    c = one(changed("  default: DE\n", "  default: DE\n  transfers: [{to: US, safeguard: SCC}]\n"))
    assert (c.section, c.id, c.severity) == ("transfers", "US", Severity.material)
    c = one(changed("      ip: technical\n", "      ip: technical\n      ua: technical\n"))
    assert (c.section, c.id, c.item, c.severity) == (
        "collection_points",
        "web",
        "fields[ua]",
        Severity.material,
    )
    with_ua = BASE.replace("      ip: technical\n", "      ip: technical\n      ua: technical\n")
    c = one(diff_policies(parse_policy(with_ua), OLD))
    assert (c.kind, c.severity) == (ChangeKind.removed, Severity.minor)


def test_minors_support_access_exemptions() -> None:
    c = one(changed("troth: 1\n", "troth: 1\nminors: {minimum_age: 13}\n"))
    assert (c.section, c.severity) == ("minors", Severity.material)
    c = one(changed("troth: 1\n", "troth: 1\nsupport_access: {max_days: 30}\n"))
    assert c.severity is Severity.material
    c = one(changed("troth: 1\n", "troth: 1\nbusiness_contact_exempt_from: [consent]\n"))
    assert c.severity is Severity.material


def test_to_dict_shape() -> None:
    d = changed("keep_for: 7y", "keep_for: 8y").to_dict()
    assert d["counts"] == {"material": 1, "minor": 0}
    assert d["changes"][0] == {
        "kind": "changed",
        "section": "purposes",
        "id": "orders",
        "item": "retention.keep_for",
        "detail": "retention changed from 7y to 8y",
        "severity": "material",
        "before": "7y",
        "after": "8y",
    }


_FLIP = {
    ChangeKind.added: ChangeKind.removed,
    ChangeKind.removed: ChangeKind.added,
    ChangeKind.changed: ChangeKind.changed,
}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policies(), policies())
def test_diff_properties(a: Policy, b: Policy) -> None:
    assert diff_policies(a, a).changes == []
    forward = diff_policies(a, b)
    backward = diff_policies(b, a)
    assert {
        (c.section, c.id, c.item, _FLIP[c.kind], c.after, c.before) for c in forward.changes
    } == {(c.section, c.id, c.item, c.kind, c.before, c.after) for c in backward.changes}
    assert len(forward.changes) == len(backward.changes)
    if a != b:
        assert forward.changes  # every model difference shows up


def test_a_legal_minimum_keeping_more_is_material_and_keeping_less_minor() -> None:
    more = one(changed("categories: [loyalty]", "categories: [loyalty, identity]"))
    assert more.item == "retention.legal_minimum" and more.severity is Severity.material
    longer = one(changed("        keep_for: 6y", "        keep_for: 7y"))
    assert longer.item == "retention.legal_minimum" and longer.severity is Severity.material
    wider = BASE.replace("categories: [loyalty]", "categories: [loyalty, identity]")
    less = one(changed("categories: [loyalty, identity]", "categories: [loyalty]", wider))
    assert less.severity is Severity.minor
