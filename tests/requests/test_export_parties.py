"""Trial 16, F8: the tenant export's ``tenant`` carried the row's seal as a Python bytes
repr (and a status that could be stale), and every export named the vendor as the
controller, even of a customer's employee. An export carries no seal, blind index or
other internal column; where the customers decide about their people
(``tenant_controller: customer``), a customer's export, and the export of one of its
people, names the customer as controller (name, contact) and the organisation as
processor; where the organisation decides, the organisation is the controller."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest

from requests_helpers import verified
from troth.engine import Troth
from troth.gate import SYSTEM

ANN = "ann@acme.example"


def _acme(t: Troth) -> tuple[str, str]:
    acme = t.access.tenants.create_tenant("Acme", "office@acme.example")
    sid = t.collect(
        "customer_signup", {"company_name": "Co", "name": "Ann", "email": ANN}, tenant_id=acme
    ).subject_id
    return acme, str(sid)


def _doc(t: Troth, token: str) -> tuple[dict[str, Any], zipfile.ZipFile]:
    zf = zipfile.ZipFile(io.BytesIO(t.requests.download(token, actor=SYSTEM)))
    return json.loads(zf.read("data.json")), zf


@pytest.mark.parametrize("decides", ["customer", "organisation"])
def test_a_customer_s_export_names_who_decides_and_holds_no_internal_column(
    home: Any, db_url: str, decides: str
) -> None:
    t = home("phone-service", db_url, edit=lambda d: d.update(tenant_controller=decides))
    acme, sid = _acme(t)
    t.retention.place_hold(reason="Tribunal 4/2026 (the vendor's counsel)", subject_id=sid)
    doc, zf = _doc(t, t.requests.export_tenant(acme, actor=SYSTEM).token)
    text = zf.read("data.json").decode()
    assert "seal" not in text and "b'" not in text and "bidx" not in text
    assert "Tribunal" not in text  # a hold's reason is the vendor's, never exported
    assert doc["tenant"] == {
        "id": acme,
        "name": "Acme",
        "contact": "office@acme.example",
        "created_at": doc["tenant"]["created_at"],
    }
    assert set(doc["subjects"][0]["subject"]) == {
        "id",
        "tenant_id",
        "kind",
        "jurisdiction",
        "status",
        "created_at",
        "relationship_ended_at",
        "erased_at",
    }
    org = t.ctx.policy.policy.organisation
    ours = {"name": org.name, "contact": org.contact.email}
    if decides == "customer":
        assert doc["controller"] == {"name": "Acme", "contact": "office@acme.example"}
        assert doc["processor"] == ours
        assert "which holds this data for Acme" in zf.read("summary.html").decode()
    else:
        assert doc["controller"] == ours and "processor" not in doc


@pytest.mark.parametrize("decides", ["customer", "organisation"])
def test_a_customer_s_person_s_export_names_the_customer_as_controller(
    home: Any, db_url: str, decides: str
) -> None:
    t = home("phone-service", db_url, edit=lambda d: d.update(tenant_controller=decides))
    acme, sid = _acme(t)
    rid = verified(t, "access", ANN, tenant_id=acme)
    done = t.requests.execute(rid)
    assert done.download_token is not None
    doc, zf = _doc(t, done.download_token)
    assert doc["subject"]["id"] == sid
    org = t.ctx.policy.policy.organisation
    html = zf.read("summary.html").decode()
    if decides == "customer":
        assert doc["controller"]["name"] == "Acme" and doc["processor"]["name"] == org.name
        assert f"Your data held by {org.name} for Acme" in html
    else:
        assert doc["controller"]["name"] == org.name and "processor" not in doc
        assert f"Your data held by {org.name}<" in html


def test_the_organisation_s_own_person_s_export_names_the_organisation(home: Any) -> None:
    t = home("phone-service")
    t.collect("customer_signup", {"company_name": "Co", "name": "Ann", "email": ANN})
    done = t.requests.execute(verified(t, "access", ANN))
    assert done.download_token is not None
    doc, _zf = _doc(t, done.download_token)
    assert doc["controller"]["name"] == t.ctx.policy.policy.organisation.name
    assert "processor" not in doc
