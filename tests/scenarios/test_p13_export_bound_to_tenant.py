"""P13 (phone-service): an access export made for a person of one customer is handed only
to that customer's admins (or the vendor's privacy office); another customer's admin key,
whatever its scopes, gets the answer of an unknown code, and the attempt is in the log
(issue 13 item 8)."""

from __future__ import annotations

from typing import Any

import pytest

from _http import api_key, client_for, is_problem
from troth.audit.entries import list_entries

CARL = {"name": "Carl", "email": "carl@bolt.example"}


def test_p13_another_customers_key_never_downloads_an_export(home: Any, db_url: str) -> None:
    t = home("phone-service", db_url)
    acme = t.access.tenants.create_tenant("Acme", "office@acme.example")
    bolt = t.access.tenants.create_tenant("Bolt", "office@bolt.example")
    t.collect("user_invitation", CARL, tenant_id=bolt)
    with client_for(t.ctx) as c:
        bolt_key = api_key(c, ["requests:admin"], tenant_id=bolt)
        rid = c.post(
            "/api/v1/requests", json={"kind": "access", "email": CARL["email"]}, headers=bolt_key
        ).json()["id"]
        c.post(f"/api/v1/requests/{rid}/verify-by-staff", json={"reason": "ID"}, headers=bolt_key)
        code = c.post(f"/api/v1/requests/{rid}/execute", headers=bolt_key).json()["download_code"]
        for scopes in (["admin"], ["requests:admin"]):
            r = c.post(
                "/api/v1/exports", json={"code": code}, headers=api_key(c, scopes, tenant_id=acme)
            )
            is_problem(r, 404, "no_export")
        refused = [
            e.entry
            for e in list_entries(t.ctx, newest_first=True, limit=20)
            if e.entry.action == "request.download"
        ]
        assert [e.reason for e in refused] == ["not_a_member", "not_a_member"]
        assert all(e.tenant_id == bolt for e in refused)
        r = c.post("/api/v1/exports", json={"code": code}, headers=bolt_key)
        assert r.status_code == 200 and r.content[:2] == b"PK"


@pytest.mark.parametrize("kind", ["tenant_admin", "tenant_member"])
def test_p13_tenant_export_stays_with_its_customer(home: Any, kind: str) -> None:
    from troth.errors import NotFound
    from troth.gate import Actor, ActorKind

    t = home("phone-service")
    acme = t.access.tenants.create_tenant("Acme", "office@acme.example")
    bolt = t.access.tenants.create_tenant("Bolt", "office@bolt.example")
    link = t.requests.export_tenant(bolt)
    with pytest.raises(NotFound):
        t.requests.download(link.token, actor=Actor(ActorKind(kind), "u", tenant_id=acme))
