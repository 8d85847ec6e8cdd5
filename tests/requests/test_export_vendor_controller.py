"""Who controls what a person's export holds (trial #18 F4): where the customers are their
people's controllers, a customer's person's export named the customer as controller of
everything, the vendor's own (``vendor_only``) genotype included. Now the export names the
organisation as ``controller_of_own_purposes`` of the categories its own purposes use;
the customer stays controller of the rest. pulse on SQLite."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from pulse_samples import PULSE, pulse_world, without_vendor_only
from troth.gate import SYSTEM

ORG = PULSE.replace("multi_tenant: true\n", "multi_tenant: true\ntenant_controller: organisation\n")
PULSE_ORG = {"name": "Pulse Wearables Inc.", "contact": "privacy@pulse.example"}


def _export(home: Any, tmp_path: Path, text: str, person: str = "emp") -> dict[str, Any]:
    w = pulse_world(home, tmp_path, text)
    t = w.t
    tenant = {"emp": "contoso", "gym": "iron"}[person]
    rec = t.requests.open("access", subject_id=w.people[person], tenant_id=w.tenants[tenant])
    t.requests.verify_by_staff(rec.id, staff="po", reason="ID seen")
    done = t.requests.execute(rec.id)
    assert done.download_token
    zf = zipfile.ZipFile(io.BytesIO(t.requests.download(done.download_token, actor=SYSTEM)))
    doc: dict[str, Any] = json.loads(zf.read("data.json"))
    return doc


@pytest.mark.parametrize("person", ["emp", "gym"])
def test_the_organisation_is_named_controller_of_its_own_purposes_categories(
    home: Any, tmp_path: Path, person: str
) -> None:
    doc = _export(home, tmp_path, PULSE, person)
    assert doc["processor"] == PULSE_ORG
    assert doc["controller"]["name"] in ("Contoso Wellness", "IronWorks Gym")
    own = doc["controller_of_own_purposes"]
    assert {k: own[k] for k in ("name", "contact")} == PULSE_ORG
    assert "biometrics" in own["categories"]
    assert set(own["categories"]) <= set(doc["categories"])
    assert "activity_tracking" in own["purposes"]
    if person == "gym":  # the gym's own categories stay the gym's
        assert "attendance" not in own["categories"] or "club_statistics" in own["purposes"]
        assert "membership_card" not in own["categories"]


@pytest.mark.parametrize("text", [ORG, without_vendor_only()])
def test_no_second_controller_where_there_is_none(home: Any, tmp_path: Path, text: str) -> None:
    doc = _export(home, tmp_path, text)
    assert "controller_of_own_purposes" not in doc
