"""The office's list of legal holds in force (`troth retention holds`,
``t.retention.active_holds``): the one place a hold's id and reason show, since a request,
its history and an erasure report never name them. Power ``manage_holds``; a person's own
holds and their tenant's; lifted ones gone."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cli_runner import run
from troth.errors import Refused
from troth.gate import Actor, ActorKind


def test_the_office_lists_the_holds_in_force(home: Any, db_url: str, capsys) -> None:
    t = home("phone-service", db_url)
    acme = t.access.tenants.create_tenant("Acme", "office@acme.example")
    bolt = t.access.tenants.create_tenant("Bolt", "office@bolt.example")

    def person(email: str, tenant: str) -> str:
        data = {"company_name": "Co", "name": "N", "email": email}
        return str(t.collect("customer_signup", data, tenant_id=tenant).subject_id)

    ann, bo = person("ann@acme.example", acme), person("bo@bolt.example", bolt)
    on_ann = t.retention.place_hold(reason="Tribunal 4/2026", subject_id=ann)
    on_acme = t.retention.place_hold(reason="Regulator inquiry", tenant_id=acme)
    lifted = t.retention.place_hold(reason="Old matter", subject_id=bo)
    t.retention.lift_hold(lifted)
    assert [h["id"] for h in t.retention.active_holds()] == [on_ann, on_acme]
    assert [h["id"] for h in t.retention.active_holds(subject_id=ann)] == [on_ann, on_acme]
    assert t.retention.active_holds(subject_id=bo) == []
    (first,) = [h for h in t.retention.active_holds() if h["id"] == on_ann]
    assert first["reason"] == "Tribunal 4/2026" and first["subject_id"] == ann
    with pytest.raises(Refused) as refused:
        t.retention.active_holds(actor=Actor(ActorKind.staff, "sam", role="support"))
    assert refused.value.reason == "power_not_granted"
    code, out, err = run(capsys, "--home", str(t.ctx.home), "retention", "holds", "--json")
    assert code == 0, err
    assert [h["reason"] for h in json.loads(out)] == ["Tribunal 4/2026", "Regulator inquiry"]
    code, out, _ = run(capsys, "--home", str(t.ctx.home), "retention", "holds", "--subject", bo)
    assert code == 0 and "Old matter" not in out
