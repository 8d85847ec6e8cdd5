"""An aggregate-only purpose's `dimensions` (P09): validated with the exact path, shown by
`policy show` and the ROPA."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml

from troth.errors import PolicyError
from troth.examples import example_path
from troth.policy.describe import describe_policy, policy_summary
from troth.policy.issues import Issue
from troth.policy.loader import parse_policy


def _itechno(change: Callable[[dict[str, Any]], None]) -> str:
    data = yaml.safe_load(example_path("itechno").read_text())
    change(data)
    return yaml.safe_dump(data, sort_keys=False)


def _purpose(data: dict[str, Any], pid: str) -> dict[str, Any]:
    return next(p for p in data["purposes"] if p["id"] == pid)


def _issues(text: str) -> list[Issue]:
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "p.yaml")
    return info.value.issues


def _dims(pid: str, dims: list[Any]) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        _purpose(data, pid)["dimensions"] = dims

    return change


def _index(data: dict[str, Any], pid: str) -> int:
    return [p["id"] for p in data["purposes"]].index(pid)


def test_declared_dimensions_load_and_show() -> None:
    policy = parse_policy(example_path("itechno").read_text(), "itechno.yaml")
    p = next(p for p in policy.purposes if p.id == "product_improvement")
    assert p.dimensions == ["event", "browser"]
    shown = next(x for x in policy_summary(policy)["purposes"] if x["id"] == p.id)
    assert shown["dimensions"] == ["event", "browser"]
    assert "grouped only by event, browser" in describe_policy(policy)


def test_dimension_not_collected_for_the_purpose() -> None:
    data = yaml.safe_load(example_path("itechno").read_text())
    i = _index(data, "product_improvement")
    found = _issues(_itechno(_dims("product_improvement", ["event", "card_number"])))
    assert [x.path for x in found] == [f"purposes[{i}].dimensions[1]"]
    assert "'card_number' is not a field any collection point collects" in found[0].message
    assert set(found[0].allowed) == {"event", "browser"}


def test_dimension_on_a_purpose_that_is_not_aggregate_only() -> None:
    data = yaml.safe_load(example_path("itechno").read_text())
    i = _index(data, "billing")
    found = _issues(_itechno(_dims("billing", ["name"])))
    assert [x.path for x in found] == [f"purposes[{i}].dimensions"]
    assert "not aggregate_only" in found[0].message


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ({"category": "usage", "identifies": "email"}, "identifies a person"),
        ({"category": "usage", "type": "email"}, "is a email address"),
        ({"category": "usage", "type": "phone"}, "is a phone"),
        ({"category": "usage", "type": "datetime"}, "is a datetime field"),
        ({"category": "usage", "type": "text"}, "is a text field"),
    ],
)
def test_dimension_that_names_people_refused(spec: dict[str, Any], why: str) -> None:
    def change(data: dict[str, Any]) -> None:
        point = next(cp for cp in data["collection_points"] if cp["id"] == "site_usage")
        point["fields"]["visitor"] = spec
        _purpose(data, "product_improvement")["dimensions"] = ["event", "visitor"]

    found = _issues(_itechno(change))
    assert len(found) == 1 and why in found[0].message, [str(x) for x in found]
    assert found[0].path.endswith("dimensions[1]")


def test_dimension_in_a_sensitive_category_refused() -> None:
    def change(data: dict[str, Any]) -> None:
        for c in data["categories"]:
            if c["id"] == "usage":
                c["sensitive"] = True

    found = _issues(_itechno(change))
    assert any("sensitive category 'usage'" in x.message for x in found), [str(x) for x in found]


def test_duplicate_and_malformed_dimension() -> None:
    found = _issues(_itechno(_dims("product_improvement", ["event", "event"])))
    assert [x.message for x in found] == ["dimension 'event' is listed twice"]
    with pytest.raises(PolicyError):
        parse_policy(_itechno(_dims("product_improvement", ["Event Name"])), "p.yaml")


def test_ropa_lists_each_purposes_dimensions() -> None:
    from troth.policy.index import PolicyIndex
    from troth.policy.ropa import record_of_processing

    for name, expected in (
        ("itechno", "product_improvement: event, browser"),
        ("phone-service", "service_improvement: totals only"),
    ):
        text = example_path(name).read_text()
        record = record_of_processing(PolicyIndex.build(parse_policy(text, name), text))
        assert expected in record.to_json(), name


def test_a_new_dimension_is_a_material_change() -> None:
    from troth.policy.diff import diff_policies

    old = parse_policy(example_path("itechno").read_text(), "old.yaml")
    new = parse_policy(_itechno(_dims("product_improvement", ["event"])), "new.yaml")
    dropped = diff_policies(old, new)
    assert [c.detail for c in dropped.minor if "dimensions" in c.detail] == [
        "aggregate dimensions no longer includes 'browser'"
    ]
    added = diff_policies(new, old)
    assert [c.detail for c in added.material if "dimensions" in c.detail] == [
        "aggregate dimensions now includes 'browser'"
    ]
