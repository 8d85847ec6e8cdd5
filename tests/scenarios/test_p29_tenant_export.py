"""P29 (phone-service): a customer keeps all rights to its data: its admins can export the
tenant's complete data at any time, in the same formats; nobody else can."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest

from troth.access import actor_for
from troth.errors import NotFound, PermissionDenied
from troth.gate import SYSTEM, Actor, ActorKind

PW = "correct horse battery staple"


def test_p29_tenant_export(home: Any, db_url: str) -> None:
    t = home("phone-service", db_url)
    a = t.access.tenants.create_tenant("Acme", "office@acme.example")
    b = t.access.tenants.create_tenant("Bolt", "office@bolt.example")
    people = {}
    for tid, who in ((a, "ann@acme.example"), (b, "bob@bolt.example")):
        people[tid] = t.collect(
            "customer_signup",
            {"company_name": "Co", "name": who[:3], "email": who},
            tenant_id=tid,
        ).subject_id
        t.collect(
            "call_record_import",
            {"extension": "7", "destination_number": "+441234567890", "duration_seconds": 61},
            subject_id=people[tid],
            tenant_id=tid,
        )
    admins = {}
    for tid, name in ((a, "admin_a"), (b, "admin_b")):
        tok, _ = t.access.tenants.invite(tid, f"{name}@example.com", role="admin")
        admins[tid] = actor_for(t.access.tenants.accept_invitation(tok, PW))

    link = t.requests.export_tenant(a, actor=admins[a])
    zf = zipfile.ZipFile(io.BytesIO(t.requests.download(link.token, actor=SYSTEM)))
    doc = json.loads(zf.read("data.json"))
    assert doc["format"] == "troth-export" and doc["tenant_id"] == a
    assert doc["tenant"]["name"] == "Acme"
    (person,) = doc["subjects"]
    assert person["subject"]["id"] == people[a]
    assert "email_bidx" not in person["subject"]
    cats = person["categories"]
    assert cats["contact"]["values"][0]["value"] == "ann@acme.example"
    assert cats["destination_numbers"]["values"][0]["value"] == "+441234567890"
    assert {v["field"] for v in cats["call_records"]["values"]} == {"extension", "duration_seconds"}
    names = set(zf.namelist())
    assert f"people/{people[a]}/categories/call_records.csv" in names and "summary.html" in names
    assert "bob@bolt.example" not in zf.read("data.json").decode()

    with pytest.raises(PermissionDenied):
        t.requests.export_tenant(a, actor=admins[b])
    with pytest.raises(PermissionDenied):
        t.requests.export_tenant(a, actor=Actor(ActorKind.vendor_admin, "v"))
    with pytest.raises(PermissionDenied):
        t.requests.export_tenant(a, actor=Actor(ActorKind.tenant_admin, "forged", tenant_id=a))
    with pytest.raises(NotFound, match="no tenant"):
        t.requests.export_tenant("nope")
