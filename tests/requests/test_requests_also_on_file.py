"""One address on file with the organisation and with two of its customers (tenants). A
request to the organisation's own desk covers its own record; the office's result and the
person's done letter now name the customers' records it did not cover (trial #14: the
buyer was told "done" while two sellers' records stayed). A request a customer makes never
tells it of another customer's people."""

from __future__ import annotations

from typing import Any

import pytest

from requests_helpers import mails_for, verified
from troth.engine import Troth
from troth.gate import SYSTEM

MIA = "mia@example.com"


@pytest.fixture
def t(home: Any, db_url: str) -> Troth:
    return home("phone-service", db_url)


def _mia_everywhere(t: Troth) -> dict[str, str]:
    sids = {}
    for tenant, company in (("Gym A", "Alpha Fitness Ltd"), ("Gym B", "Bravo Sports Ltd")):
        tid = t.access.tenants.create_tenant(tenant, f"office@{tenant[-1].lower()}.example")
        data = {"company_name": company, "name": "Mia", "email": MIA}
        sids[tenant] = t.collect("customer_signup", data, tenant_id=tid).subject_id
        sids[f"{tenant} id"] = tid
    own = {"company_name": "Own Ltd", "name": "Mia", "email": MIA}
    sids["own"] = t.collect("customer_signup", own).subject_id
    return sids


@pytest.mark.parametrize("kind", ["delete", "access"])
def test_the_desk_s_request_names_the_records_it_did_not_cover(t: Troth, kind: str) -> None:
    sids = _mia_everywhere(t)
    rid = verified(t, kind, MIA)
    done = t.requests.execute(rid)
    assert done.subject_id == sids["own"]
    assert done.result["also_on_file"] == [  # type: ignore[index]
        {"subject_id": sids["Gym A"], "held_for": "Gym A"},
        {"subject_id": sids["Gym B"], "held_for": "Gym B"},
    ]
    letter = mails_for(t, rid)[-1]["body_text"]
    assert "also on file with Gym A, Gym B" in letter
    assert "covered only what we hold for ourselves" in letter
    # The customers' records are untouched by the desk's request.
    assert t.use(sids["Gym A"], purpose="provide_service", actor=SYSTEM).get("name")


def test_in_bulk_as_one_by_one(t: Troth) -> None:
    _mia_everywhere(t)
    rid = verified(t, "delete", MIA)
    report = t.requests.execute_many([rid])
    assert report.completed == [rid]
    rec = t.requests.get(rid)
    assert [h["held_for"] for h in rec.result["also_on_file"]] == ["Gym A", "Gym B"]  # type: ignore[index]
    assert "also on file with Gym A, Gym B" in mails_for(t, rid)[-1]["body_text"]


def test_a_customer_s_request_never_names_another_customer(t: Troth) -> None:
    sids = _mia_everywhere(t)
    rid = verified(t, "delete", MIA, tenant_id=sids["Gym A id"])
    done = t.requests.execute(rid)
    assert done.subject_id == sids["Gym A"]
    assert "also_on_file" not in (done.result or {})
    letter = mails_for(t, rid)[-1]["body_text"]
    assert "Gym B" not in letter and "also on file" not in letter


def test_one_record_only_says_nothing_more(t: Troth) -> None:
    t.collect("customer_signup", {"company_name": "Own Ltd", "name": "Mia", "email": MIA})
    rid = verified(t, "access", MIA)
    done = t.requests.execute(rid)
    assert "also_on_file" not in (done.result or {})
    assert "also on file" not in mails_for(t, rid)[-1]["body_text"]
