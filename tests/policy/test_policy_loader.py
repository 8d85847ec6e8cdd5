"""Loading policy YAML: model errors with lines and allowed values, hostile files, round-trip."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from policy_samples import BASE, line_of, policies
from troth.errors import PolicyError
from troth.policy.durations import Duration
from troth.policy.index import PolicyIndex
from troth.policy.issues import Issue
from troth.policy.loader import (
    MAX_POLICY_BYTES,
    dump_policy,
    load_policy,
    parse_policy,
    read_policy,
)
from troth.policy.model import Policy


def issues(text: str) -> list[Issue]:
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "p.yaml")
    assert info.value.issues, info.value.message
    return info.value.issues


def edit(old: str, new: str, text: str = BASE) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def test_unknown_key_lists_allowed_keys() -> None:
    text = edit(
        "    individual_transactions: false", "    individual_transactions: false\n    colour: red"
    )
    (issue,) = issues(text)
    assert issue.path == "recipients[0].colour"
    assert issue.line == line_of(text, "colour: red")
    assert issue.message == "unknown key 'colour'"
    assert "receives" in issue.allowed and "safeguard" in issue.allowed


def test_bad_enum_lists_allowed_values() -> None:
    text = edit("legal_basis: legitimate_interest", "legal_basis: legit")
    (issue,) = issues(text)
    assert issue.path == "purposes[2].legal_basis"
    assert issue.line == line_of(text, "legal_basis: legit")
    assert issue.allowed == (
        "consent",
        "contract",
        "legal_obligation",
        "legitimate_interest",
        "vital_interest",
        "public_task",
    )
    assert str(issue) == (
        f"p.yaml:{issue.line}: purposes[2].legal_basis: 'legit' is not a valid value "
        "(allowed: consent, contract, legal_obligation, legitimate_interest, vital_interest, "
        "public_task)"
    )


def test_missing_key_reported_at_parent() -> None:
    text = edit("    description: Fill orders\n", "")
    (issue,) = issues(text)
    assert issue.path == "purposes[0].description"
    assert issue.message == "required key 'description' is missing"
    assert issue.line == line_of(text, "- id: orders")


def test_wrong_type_suggests_quotes() -> None:
    text = edit('version: "1"', "version: 1.5")
    (issue,) = issues(text)
    assert issue.path == "version" and issue.line == 2
    assert "put it in quotes" in issue.message


def test_bad_id_and_location_messages() -> None:
    text = edit("  - id: loyalty", "  - id: Loyalty Points")
    text = edit("allowed: [DE, FR]", "allowed: [DE, france]", text)
    found = {i.path: i for i in issues(text)}
    assert "lower_snake_case" in found["categories[0].id"].message
    assert "2-letter code" in found["locations.allowed[1]"].message


def test_bad_duration_and_exemption() -> None:
    text = edit("keep_for: 7y", "keep_for: seven years")
    text = edit("troth: 1\n", "troth: 1\nbusiness_contact_exempt_from: [taxes]\n", text)
    found = {i.path: i for i in issues(text)}
    assert "is not a duration" in found["purposes[0].retention.keep_for"].message
    assert found["purposes[0].retention.keep_for"].line == line_of(text, "seven years")
    assert "unknown exemption 'taxes'" in found["business_contact_exempt_from"].message


def test_field_key_pattern() -> None:
    text = edit("      ip: technical", "      IP-Address: technical")
    (issue,) = issues(text)
    assert issue.path == "collection_points[1].fields.IP-Address"
    assert issue.line == line_of(text, "IP-Address")


def test_every_problem_at_once() -> None:
    text = edit("legal_basis: legitimate_interest", "legal_basis: legit")
    text = edit(
        "categories: [identity, contact, loyalty", "categories: [identity, contakt, loyalty", text
    )
    text = edit("  default: DE", "  default: GB", text)
    text = edit("    individual_transactions: false", "    individual_transactions: nope", text)
    paths = [i.path for i in issues(text)]
    assert set(paths) == {
        "purposes[2].legal_basis",
        "purposes[0].categories[1]",
        "locations.default",
        "recipients[0].individual_transactions",
    }
    lines = [i.line for i in issues(text)]
    assert lines == sorted(lines)


def test_key_written_twice() -> None:
    text = edit("  name: Acme\n", "  name: Acme\n  name: Acme Ltd\n")
    (issue,) = issues(text)
    assert issue.path == "organisation.name"
    assert issue.line == line_of(text, "Acme Ltd")
    assert "first on line 5" in issue.message


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("", "the policy is empty", 1),
        ("# only a comment\n", "the policy is empty", 1),
        ("- a\n- b\n", "not list", 1),
        ("just words\n", "not str", 1),
        ("a: 1\nb: [\n", "not valid YAML", 3),
        ("a: 1\n---\nb: 2\n", "not valid YAML", 2),
        ("x: !!python/object/apply:os.system [ls]\n", "not valid YAML", 1),
        ("a: &a [*a]\n", "refers to itself", 1),
        ("a\x00b", "binary", 1),
        ("[" * 5000 + "]" * 5000, "nested too deeply", 1),
    ],
)
def test_hostile_text(text: str, message: str, line: int) -> None:
    (issue,) = issues(text)
    assert message in issue.message
    assert issue.line == line


def test_alias_bomb_refused() -> None:
    rows = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for prev, name in zip("abcdef", "bcdefg", strict=True):
        rows.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    (issue,) = issues("\n".join(rows) + "\n")
    assert "aliases expand" in issue.message


def test_small_alias_use_is_fine() -> None:
    text = edit("categories: [contact]\n", "categories: &c [contact]\n")
    text = edit("categories: [contact, loyalty]", "categories: *c", text)
    policy = parse_policy(text)
    assert policy.roles[0].categories == ["contact"]


def test_oversized_text() -> None:
    (issue,) = issues("a: " + "x" * (MAX_POLICY_BYTES + 1))
    assert "larger than" in issue.message


def test_files(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(BASE)
    loaded = read_policy(good)
    assert loaded.text == BASE and loaded.path == str(good)
    assert load_policy(good) == loaded.policy
    assert PolicyIndex.build(loaded.policy, loaded.text).digest == loaded.digest

    cases = {
        tmp_path / "missing.yaml": "no such file",
        tmp_path: "is a directory",
    }
    (tmp_path / "bin.yaml").write_bytes(b"\x7fELF\x00\x01")
    cases[tmp_path / "bin.yaml"] = "binary"
    (tmp_path / "latin1.yaml").write_bytes(b"a: 1\nb: caf\xe9\n")
    cases[tmp_path / "latin1.yaml"] = "not UTF-8"
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (MAX_POLICY_BYTES + 1))
    cases[big] = "larger than"
    for path, message in cases.items():
        with pytest.raises(PolicyError) as info:
            read_policy(path)
        assert message in info.value.message
        assert str(info.value.issues[0]).startswith(f"{path}:")
    (tmp_path / "bom.yaml").write_bytes(b"\xef\xbb\xbf" + BASE.encode())
    assert read_policy(tmp_path / "bom.yaml").policy == loaded.policy


def test_line_numbers_exact_in_an_example() -> None:
    from troth.examples import example_path

    text = example_path("itechno").read_text().replace("minimum_age: 18", "minimum_age: eighteen")
    (issue,) = issues(text)
    assert issue.path == "minors.minimum_age"
    assert issue.line == line_of(text, "minimum_age: eighteen")


def test_duration_forms() -> None:
    assert Duration.model_validate("2y 6m") == Duration(years=2, months=6)
    assert Duration.model_validate("P7Y") == Duration(years=7)
    assert Duration.model_validate(30) == Duration(days=30)
    assert Duration.model_validate("2w") == Duration(days=14)
    assert str(Duration(years=1, days=3)) == "1y 3d"


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policies())
def test_round_trip_yaml_model_yaml(policy: Policy) -> None:
    text = dump_policy(policy)
    again = parse_policy(text, check=False)
    assert again == policy
    assert dump_policy(again) == text


def test_examples_round_trip() -> None:
    from troth.examples import EXAMPLES, example_path

    for name in EXAMPLES:
        policy = load_policy(example_path(name))
        assert parse_policy(dump_policy(policy)) == policy


def test_a_non_printable_character_is_a_policy_error_not_a_crash() -> None:
    """Found by schemathesis through the HTTP publish endpoint: the YAML reader rejects
    the character while it is being built."""
    import pytest

    from troth.errors import PolicyError
    from troth.policy.loader import parse_policy

    with pytest.raises(PolicyError, match="not valid YAML"):
        parse_policy("a: \x9e", "bad.yaml")
