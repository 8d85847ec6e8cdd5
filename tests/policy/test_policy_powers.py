"""The ``powers`` key of a role: validated with precise errors, the old ``privacy_office``
flag refused with what to write, shown by ``policy show`` (words and JSON) and in the
record of processing, and diffed as a minor change."""

from __future__ import annotations

import csv
import io
import json

import pytest

from policy_samples import BASE, line_of
from troth.errors import PolicyError
from troth.policy.changes import Severity
from troth.policy.describe import describe_policy, policy_summary
from troth.policy.diff import diff_policies
from troth.policy.index import PolicyIndex
from troth.policy.loader import parse_policy
from troth.policy.model import Power
from troth.policy.ropa import record_of_processing

ROLE = "  - id: privacy_office\n    powers: [manage_requests, read_audit, publish_policy]\n"


def with_office(powers: str) -> str:
    assert ROLE in BASE
    return BASE.replace(ROLE, f"  - id: privacy_office\n    powers: {powers}\n")


def problems(text: str) -> list[str]:
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "p.yaml")
    return [str(i) for i in info.value.issues]


def test_powers_parse_into_the_closed_list() -> None:
    policy = parse_policy(BASE, "p.yaml")
    office = {r.id: r for r in policy.roles}["privacy_office"]
    assert office.powers == [Power.manage_requests, Power.read_audit, Power.publish_policy]
    assert {r.id: r for r in policy.roles}["support"].powers == []


@pytest.mark.parametrize(
    ("powers", "needle"),
    [
        ("[read_everything]", "unknown power 'read_everything' (known powers: manage_requests,"),
        ("[Read_Audit]", "unknown power 'Read_Audit'"),
        ("[read_audit, read_audit]", "a power is listed twice"),
        ("[7]", "unknown power 7"),
        ("read_audit", "powers"),
    ],
)
def test_a_bad_power_is_refused_with_the_known_ones(powers: str, needle: str) -> None:
    found = problems(with_office(powers))
    assert len(found) == 1 and needle in found[0], found
    assert found[0].startswith(f"p.yaml:{line_of(BASE, '  - id: privacy_office') + 1}:")


def test_the_old_privacy_office_flag_says_what_to_write() -> None:
    text = BASE.replace(ROLE, "  - id: privacy_office\n    privacy_office: true\n")
    (found,) = problems(text)
    assert "`privacy_office` is no longer read" in found
    assert "powers: [...]" in found and "manage_breaches" in found


def test_policy_show_lists_each_role_s_powers() -> None:
    policy = parse_policy(BASE, "p.yaml")
    words = describe_policy(policy)
    assert "- privacy_office: no personal data." in words
    assert "may also: handle every customer's privacy requests (manage_requests)" in words
    assert "(publish_policy)" in words and "(run_retention)" not in words
    roles = json.loads(json.dumps(policy_summary(policy)))["roles"]
    assert roles["privacy_office"]["powers"] == ["manage_requests", "read_audit", "publish_policy"]
    assert roles["support"]["powers"] == []


def test_the_ropa_has_the_powers_and_who_sees_each_activity() -> None:
    record = record_of_processing(PolicyIndex.build(parse_policy(BASE, "p.yaml")))
    data = record.to_dict()
    assert data["office_powers"] == {
        "privacy_office": ["manage_requests", "read_audit", "publish_policy"]
    }
    orders = next(a for a in data["activities"] if a["purpose"] == "orders")
    assert orders["staff_access"] == ["support: contact, loyalty"]
    rows = list(csv.DictReader(io.StringIO(record.to_csv())))
    assert next(r for r in rows if r["purpose"] == "orders")["staff_access"] == (
        "support: contact, loyalty"
    )
    html = record.to_html()
    assert "Office powers" in html and "manage_requests, read_audit, publish_policy" in html


def test_a_power_given_or_taken_is_a_minor_change() -> None:
    old = parse_policy(BASE, "p.yaml")
    new = parse_policy(with_office("[read_audit, manage_breaches]"), "p.yaml")
    diff = diff_policies(old, new)
    texts = {c.detail: c.severity for c in diff.changes}
    assert texts == {
        "office powers now includes 'manage_breaches'": Severity.minor,
        "office powers no longer includes 'manage_requests'": Severity.minor,
        "office powers no longer includes 'publish_policy'": Severity.minor,
    }, texts
    assert not diff.has_material
