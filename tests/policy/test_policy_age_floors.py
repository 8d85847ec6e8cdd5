"""The law's floors under a policy's minimum age (REGULATIONS.md, "Children": the policy file
decides, these are the floors). troth records no parental consent, so a policy may not let a
child under the floor in: ``policy validate`` refuses it for the organisation's
jurisdictions, and a collection under any other regime still gets the floor."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from troth.errors import PolicyError, Refused
from troth.examples import example_path
from troth.policy.loader import parse_policy
from troth.policy.model import AGE_FLOORS, Regime


def test_the_floors_are_the_regulations_numbers() -> None:
    assert {
        Regime.gdpr: 13,  # member states 13-16
        Regime.uk_gdpr: 13,
        Regime.ccpa: 13,  # a parent below 13
        Regime.pipeda: 14,  # Quebec
    } == AGE_FLOORS


def _itechno(minors: str) -> str:
    text = example_path("itechno").read_text()  # jurisdictions: gdpr, ccpa, pipeda
    start = text.index("minors:")
    end = text.index("\n", text.index("minimum_age:", start))
    return text[:start] + minors + text[end:]


@pytest.mark.parametrize(
    ("minors", "where", "says"),
    [
        ("minors:\n  minimum_age: 0", "minors.minimum_age", "minimum age 0 in ccpa"),
        ("minors:\n  minimum_age: 12", "minors.minimum_age", "minimum age 12 in gdpr"),
        ("minors:\n  minimum_age: 13", "minors.minimum_age", "minimum age 13 in pipeda"),
        (
            "minors:\n  minimum_age: 16\n  by_jurisdiction: {ccpa: 12}",
            "minors.by_jurisdiction.ccpa",
            "under the law's floor there (13",
        ),
    ],
)
def test_a_minimum_age_under_the_floor_is_a_policy_issue(minors: str, where: str, says: str):
    with pytest.raises(PolicyError) as exc:
        parse_policy(_itechno(minors), "p.yaml")
    assert f"{where}: " in exc.value.message and says in exc.value.message
    assert "parent" in exc.value.message


@pytest.mark.parametrize(
    "minors",
    [
        "minors:\n  minimum_age: 14",
        "minors:\n  minimum_age: 18",
        "minors:\n  minimum_age: 13\n  by_jurisdiction: {pipeda: 14}",
    ],
)
def test_a_minimum_age_at_or_over_every_floor_is_accepted(minors: str) -> None:
    assert parse_policy(_itechno(minors), "p.yaml").minors.minimum_age >= 13


def test_a_regime_the_organisation_does_not_serve_is_not_held_to_its_floor() -> None:
    text = _itechno(
        "minors:\n  minimum_age: 0\n  by_jurisdiction: {gdpr: 16, ccpa: 13, pipeda: 14}"
    )
    assert parse_policy(text, "p.yaml").minors.minimum_age == 0  # au and nz: no floor known


def test_a_collection_under_a_regime_outside_the_policy_still_gets_the_floor(home: Any) -> None:
    def edit(p: dict[str, Any]) -> None:
        p["organisation"]["jurisdictions"] = ["nz"]
        p["organisation"]["default_jurisdiction"] = "nz"
        p["organisation"].pop("time_zones", None)
        p["minors"] = {"minimum_age": 0}

    t = home("itechno", edit=edit)
    born = date(2026 - 12, 6, 1).isoformat()  # 11 on the tests' start day (2 March 2026)
    order = {
        "name": "Kid",
        "email": "kid@example.com",
        "username": "kid",
        "date_of_birth": born,
    }
    assert t.ctx.policy.minimum_age("nz") == 0 and t.ctx.policy.minimum_age("ccpa") == 13
    with pytest.raises(Refused) as exc:
        t.collect("account_signup", order, jurisdiction="ccpa")
    assert exc.value.reason == "minor"
    assert t.collect("account_signup", order).subject_id  # nz: the policy's own 0
