"""A key bound to one tenant, even with the ``admin`` scope, naming another tenant in
``/api/v1/tenants/{id}/...``: every route answers as for an unknown id (no oracle), and the
access service audits the attempt (``tenant_bound``) under the key's own tenant, never in
the other tenant's log. A weak key is refused its scope first; the office key still works."""

from __future__ import annotations

from typing import Any

import pytest

from _http import api_key, client_for, is_problem
from troth.audit.entries import list_entries

ROUTES = [
    ("get", "/api/v1/tenants/{tid}/members", "tenant.members"),
    ("get", "/api/v1/tenants/{tid}/grants", "tenant.grants"),
    ("get", "/api/v1/tenants/{tid}/vendor-accesses", "tenant.vendor_accesses"),
    ("post", "/api/v1/tenants/{tid}/invitations", "tenant.invite"),
    ("delete", "/api/v1/tenants/{tid}/members/{uid}", "tenant.member_revoke"),
]


def _call(c: Any, method: str, path: str, headers: dict[str, str]) -> Any:
    if method == "post":
        return c.post(path, json={"email": "eve@acme.example", "role": "admin"}, headers=headers)
    return getattr(c, method)(path, headers=headers)


@pytest.mark.parametrize(("method", "path", "action"), ROUTES)
def test_a_tenant_bound_admin_key_naming_another_tenant_is_not_found_and_audited(
    lite, method, path, action
):
    from troth.engine import Troth

    t = Troth(lite)
    acme = t.access.tenants.create_tenant("Acme", "dpo@acme.example")
    bolt = t.access.tenants.create_tenant("Bolt", "dpo@bolt.example")
    with client_for(lite) as c:
        own = api_key(c, ["admin"], tenant_id=acme)
        office = api_key(c, ["admin"])
        before = list_entries(t.ctx, limit=1, newest_first=True)[0].seq
        answers = {
            name: _call(c, method, path.format(tid=tid, uid="nobody"), own)
            for name, tid in (("other", bolt), ("unknown", "0" * 32), ("malformed", "x'; --"))
        }
        for r in answers.values():
            is_problem(r, 404, "not_found")
        # The other tenant's id is answered as an unknown one, word for word but the id.
        other = answers["other"].json()["detail"].replace(bolt, "ID")
        assert other == answers["unknown"].json()["detail"].replace("0" * 32, "ID")
        denied = [e.entry for e in list_entries(t.ctx, action=action, outcome="deny", limit=100)]
        assert [(e.reason, e.tenant_id) for e in denied] == [("tenant_bound", acme)] * 3
        assert denied[0].details == {"tenant_named": bolt}
        probes = list_entries(t.ctx, after_seq=before, limit=1000)
        assert probes and all(e.entry.tenant_id != bolt for e in probes)  # not in Bolt's log
        # The key's own tenant and the office's key are served.
        ok = _call(c, method, path.format(tid=acme, uid="nobody"), own)
        assert ok.status_code in (200, 201, 404), ok.text  # 404: no member "nobody"
        if method != "delete":
            assert ok.status_code in (200, 201)
        assert _call(c, method, path.format(tid=bolt, uid="nobody"), office).status_code in (
            200,
            201,
            404,
        )


def test_a_weak_tenant_bound_key_is_refused_its_scope_before_any_tenant_is_named(lite):
    from troth.engine import Troth

    t = Troth(lite)
    acme = t.access.tenants.create_tenant("Acme", "dpo@acme.example")
    bolt = t.access.tenants.create_tenant("Bolt", "dpo@bolt.example")
    with client_for(lite) as c:
        weak = api_key(c, ["use"], tenant_id=acme)
        for tid in (acme, bolt, "0" * 32):
            body = is_problem(c.get(f"/api/v1/tenants/{tid}/grants", headers=weak), 403)
            assert body["reason"] == "scope_missing"
