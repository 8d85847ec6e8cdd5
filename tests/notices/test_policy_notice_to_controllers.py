"""Trial 16, G4: a payroll vendor published a change and troth mailed the notice straight
to its customers' employees. Where the customers decide about their people
(``tenant_controller: customer``, the default), a policy change's notice goes to the
customers (their primary address), saying their people were not written to and that they
decide how to tell them, and to the organisation's own people; where the organisation
decides (``organisation``), to the customers' people too, as before."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from outbox_helpers import outbox_mail
from troth.clock import ManualClock
from troth.engine import Troth
from troth.notices.preview import preview_publish
from troth.notices.publish import publish_policy

OWN, STAFF = "own@mail.example", "nurse@clinic-staff.example"
CLINIC = "hr@clinic.example"


def _people(t: Troth) -> None:
    clinic = t.access.tenants.create_tenant("Clinic", CLINIC)
    signup = {"company_name": "Co", "name": "N"}
    t.collect("customer_signup", {**signup, "email": STAFF}, tenant_id=clinic)
    t.collect("customer_signup", {**signup, "email": OWN})


def _changed(t: Troth, tmp_path: Path, clock: ManualClock) -> Path:
    """A new use of what customer_signup collected: everyone it holds is concerned."""
    data = yaml.safe_load(t.ctx.settings.resolved_policy_file.read_text())
    data["version"] = "2.0"
    point = next(p for p in data["collection_points"] if p["id"] == "customer_signup")
    point["purposes"].append("support")
    data["effective"] = (clock.now() + timedelta(days=45)).date()
    path = tmp_path / "v2.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _sent(t: Troth) -> dict[str, str]:
    rows = outbox_mail(t)
    return {r.to_addr: r.body_text for r in rows}


@pytest.mark.parametrize("decides", ["customer", "organisation"])
def test_a_change_is_told_to_the_controller_of_each_person(
    home: Any, db_url: str, tmp_path: Path, clock: ManualClock, decides: str
) -> None:
    t = home("phone-service", db_url, edit=lambda d: d.update(tenant_controller=decides))
    _people(t)
    path = _changed(t, tmp_path, clock)
    preview = preview_publish(t.ctx, path.read_text(), path.name)
    assert preview.tenants == 1
    publish_policy(t.ctx, path)
    publish_policy(t.ctx, path)  # a rerun queues nothing twice
    sent = _sent(t)
    assert OWN in sent and CLINIC in sent
    if decides == "customer":
        assert STAFF not in sent and preview.people == 1
        assert "you decide whether and how to tell them" in sent[CLINIC]
    else:
        assert STAFF in sent and preview.people == 2
        assert "you decide" not in sent[CLINIC]
    assert "you decide" not in sent[OWN]
    assert len(sent) == 3 - (decides == "customer")
