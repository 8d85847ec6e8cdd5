"""A standing statutory duty to report to an authority (trial 11: a pharmacy's
pharmacovigilance reports to its medicines regulator were refused ``demand_required``):
declared on an ``authority`` recipient, its disclosures for the purposes it receives go
without a per-disclosure legal demand, still limited to its listed fields and bound to the
purposes the values were collected for, recorded and shown to the person with the law
named. Without it, and for any other recipient, a demand stays required."""

from __future__ import annotations

from typing import Any

import pytest

from policy_samples import BASE, line_of
from troth.audit.entries import list_entries
from troth.errors import PolicyError, Refused
from troth.gate import Actor, ActorKind
from troth.policy.changes import Severity
from troth.policy.describe import describe_policy
from troth.policy.diff import diff_policies
from troth.policy.loader import parse_policy

LAW = "Decree-Law 176/2006 art. 170 (pharmacovigilance reporting)"
OFFICE = Actor(ActorKind.staff, "po", role="privacy_office")
ORDER = {
    "name": "Ann Lee",
    "email": "ann@example.com",
    "address": "1 Main St",
    "card_number": "4111111111111111",
    "card_expiry": "12/29",
    "order_items": "2 widgets",
}


def _pharmacy(p: dict[str, Any], duty: str | None = LAW) -> None:
    """iTechno turned pharmacy: a legal-obligation purpose its order form collects for, and
    a regulator (an authority) that receives it, only the name and the items."""
    p["purposes"].append(
        {
            "id": "pharmacovigilance",
            "description": "Report adverse reactions to the medicines regulator.",
            "legal_basis": "legal_obligation",
            "categories": ["identity", "contact", "purchases"],
        }
    )
    order = next(cp for cp in p["collection_points"] if cp["id"] == "order_form")
    order["purposes"].append("pharmacovigilance")
    regulator: dict[str, Any] = {
        "id": "medicines_regulator",
        "name": "Medicines Regulator",
        "kind": "authority",
        "location": "US",
        "receives": [
            {
                "purpose": "pharmacovigilance",
                "categories": ["identity", "contact", "purchases"],
                "fields": ["name", "order_items"],
            }
        ],
    }
    if duty is not None:
        regulator["statutory_duty"] = duty
    p["recipients"].append(regulator)
    for role in p["roles"]:
        if role["id"] == "privacy_office":
            role.setdefault("purposes", []).append("pharmacovigilance")


def test_a_statutory_report_goes_without_a_demand_limited_bound_and_shown(home, db_url):
    t = home("itechno", db_url, edit=_pharmacy)
    sid = t.collect("order_form", ORDER).subject_id
    pkg = t.disclosures.disclose(sid, "medicines_regulator", "pharmacovigilance", OFFICE)
    assert pkg.legal_demand_id is None and pkg.statutory_duty == LAW
    # Only the listed fields: the e-mail (contact) is held back.
    assert sorted(v.field for v in pkg.values) == ["name", "order_items"]
    assert "ann@example.com" not in str([v.value for v in pkg.values])
    entry = next(
        e.entry
        for e in list_entries(t.ctx, subject_id=sid, limit=100)
        if e.entry.action == "disclose"
    )
    assert entry.outcome == "allow" and entry.details["statutory_duty"] == LAW
    # The person sees it, the law named: never gagged.
    shown = t.disclosures.disclosures_of(sid)
    assert [(d["recipient"], d.get("statutory_duty")) for d in shown] == [
        ("medicines_regulator", LAW)
    ]
    # Another authority with no such duty still needs a demand.
    with pytest.raises(Refused) as exc:
        t.disclosures.disclose(sid, "courts_and_law_enforcement", "legal_disclosure", OFFICE)
    assert exc.value.reason == "demand_required"


def test_a_statutory_report_is_bound_to_the_purposes_values_were_collected_for(home, db_url):
    t = home("itechno", db_url, edit=_pharmacy)
    # Signed up for an account only: nothing collected for pharmacovigilance.
    sid = t.collect(
        "account_signup", {"name": "Bo Lee", "email": "bo@example.com", "username": "bo"}
    ).subject_id
    with pytest.raises(Refused) as exc:
        t.disclosures.disclose(sid, "medicines_regulator", "pharmacovigilance", OFFICE)
    assert exc.value.reason == "purpose_not_of_collection"


def test_without_the_duty_the_regulator_needs_a_demand(home, db_url):
    t = home("itechno", db_url, edit=lambda p: _pharmacy(p, None))
    sid = t.collect("order_form", ORDER).subject_id
    with pytest.raises(Refused) as exc:
        t.disclosures.disclose(sid, "medicines_regulator", "pharmacovigilance", OFFICE)
    assert exc.value.reason == "demand_required"


AUTHORITY = """  - id: regulator
    name: Regulator
    kind: authority
    location: DE
    statutory_duty: DUTY
    receives:
      - purpose: orders
        categories: [identity]
"""


def _with(duty: str, kind: str = "authority") -> str:
    text = BASE.replace("locations:\n", AUTHORITY.replace("DUTY", duty) + "locations:\n", 1)
    return text.replace("kind: authority", f"kind: {kind}", 1)


@pytest.mark.parametrize(
    ("duty", "kind", "says"),
    [
        ("Decree-Law 176/2006", "third_party", "only an `authority`"),
        ("'   '", "authority", "must name the law"),
        ("''", "authority", "at least 1"),
        ("x" * 301, "authority", "at most 300"),
    ],
)
def test_a_statutory_duty_is_only_an_authoritys_and_names_the_law(
    duty: str, kind: str, says: str
) -> None:
    text = _with(duty, kind)
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "p.yaml")
    found = [i for i in info.value.issues if "statutory_duty" in i.path]
    assert found and says in found[0].message, [str(i) for i in info.value.issues]
    assert found[0].line == line_of(text, "statutory_duty:")
    assert str(found[0]).startswith(f"p.yaml:{found[0].line}: ")


def test_a_statutory_duty_is_a_material_change_and_read_in_plain_words() -> None:
    without = parse_policy(_with("X").replace("    statutory_duty: X\n", ""))
    with_it = parse_policy(_with(LAW))
    changes = diff_policies(without, with_it).changes
    assert [(c.section, c.id, c.item, c.severity) for c in changes] == [
        ("recipients", "regulator", "statutory_duty", Severity.material)
    ]
    assert diff_policies(with_it, without).has_material
    assert f"we must report to it by law ({LAW})" in describe_policy(with_it)
