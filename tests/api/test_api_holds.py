"""GET /api/v1/retention/holds: the office's list of legal holds in force over HTTP (as
`troth retention holds`). Only the vendor's office sees it: a key bound to a tenant, even
with the ``admin`` scope or ``office:manage_holds``, is refused (403, audited) and learns
no hold's id or reason; a key without the scope is refused its scope."""

from __future__ import annotations

from typing import Any

from _http import api_key, client_for, is_problem
from troth.audit.entries import list_entries
from troth.engine import Troth

SUPPORT = {"name": "Ada Lovelace", "email": "ada@example.com", "message": "Hello"}
SECRET = "Garda investigation 2026/17"


def test_the_office_key_lists_the_holds_and_a_tenant_bound_key_is_refused(lite: Any) -> None:
    t = Troth(lite)
    acme = t.access.tenants.create_tenant("Acme", "dpo@acme.example")
    sid = t.collect("support_request", SUPPORT, tenant_id=acme).subject_id
    on_person = t.retention.place_hold(reason=SECRET, subject_id=sid)
    on_tenant = t.retention.place_hold(reason="Regulator inquiry", tenant_id=acme)
    lifted = t.retention.place_hold(reason="Old matter", tenant_id=acme)
    t.retention.lift_hold(lifted)
    with client_for(lite) as c:
        office = api_key(c, ["admin"])
        r = c.get("/api/v1/retention/holds", headers=office)
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        assert [h["id"] for h in items] == [on_person, on_tenant]
        assert items[0]["reason"] == SECRET and items[0]["subject_id"] == sid
        assert items[1]["tenant_id"] == acme and items[1]["placed_at"]
        page = c.get("/api/v1/retention/holds?limit=1", headers=office).json()
        assert [h["id"] for h in page["items"]] == [on_person] and page["next_cursor"]
        assert c.get("/api/v1/retention/holds", headers=api_key(c, ["office:manage_holds"])).json()[
            "items"
        ]
        for scopes in (["admin"], ["requests"], ["collect"]):
            bound = api_key(c, scopes, tenant_id=acme)
            before = list_entries(t.ctx, limit=1, newest_first=True)[0].seq
            refused = c.get("/api/v1/retention/holds", headers=bound)
            body = is_problem(refused, 403, "refused")
            for secret in (SECRET, "Regulator", on_person, on_tenant):
                assert secret not in refused.text
            new = [e.entry for e in list_entries(t.ctx, after_seq=before, limit=100)]
            denied = [e for e in new if e.action == "office.manage_holds"]
            assert denied and denied[0].outcome == "deny"
            assert denied[0].reason == body["reason"]
        weak = api_key(c, ["collect"])
        body = is_problem(c.get("/api/v1/retention/holds", headers=weak), 403, "refused")
        assert body["reason"] == "scope_missing"
        is_problem(c.get("/api/v1/retention/holds"), 401)
