"""A customer's member who is not an admin, signed in at /tenant/login: the admin pages
and actions answer 403 ``not_tenant_admin``, change nothing, and each refusal is audited
by the access service under the member's own tenant (as the CLI's equivalent is)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from _http import PASSWORD, client_for, csrf_from
from troth.access import actor_for
from troth.audit.entries import list_entries
from troth.engine import Troth


def test_a_members_refused_admin_actions_are_audited_under_their_tenant(phone: Any) -> None:
    t = Troth(phone)
    acme = t.access.tenants.create_tenant("Acme Telecom", "office@acme.example")
    bolt = t.access.tenants.create_tenant("Bolt Networks", "office@bolt.example")
    t.access.accounts.add_user(
        "bob@bolt.example", kind="tenant_member", tenant_id=bolt, password=PASSWORD
    )
    vendor = actor_for(
        t.access.accounts.add_user("ops@vendor.example", kind="vendor_admin", password=PASSWORD)
    )
    grant = t.access.grants.request_grant(bolt, by=vendor, reason="r", duration=timedelta(hours=1))
    with client_for(t.ctx) as c:
        page = c.get("/tenant/login").text
        r = c.post(
            "/tenant/login",
            data={"email": "bob@bolt.example", "password": PASSWORD, "csrf_token": csrf_from(page)},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        token = csrf_from(c.get("/tenant").text)
        before = list_entries(t.ctx, limit=1, newest_first=True)[0].seq
        answers = [
            c.post(f"/tenant/grants/{grant.id}/approve", data={"csrf_token": token}),
            c.post(
                "/tenant/invitations",
                data={"csrf_token": token, "email": "eve@bolt.example", "role": "admin"},
            ),
            c.get("/tenant/export.json"),
        ]
        assert [a.status_code for a in answers] == [403, 403, 403]
    new = [e.entry for e in list_entries(t.ctx, after_seq=before, limit=100)]
    assert [(e.action, e.outcome, e.reason, e.tenant_id) for e in new] == [
        ("grant_approve", "deny", "not_tenant_admin", bolt),
        ("invite", "deny", "not_tenant_admin", bolt),
        ("tenant.export", "deny", "not_tenant_admin", bolt),
    ]
    assert all(e.actor.startswith("tenant_member:") and e.tenant_id != acme for e in new)
    # Nothing changed.
    assert t.access.grants.get_grant(grant.id).status == "requested"
    assert not [i for i in t.access.tenants.list_invitations(bolt) if i.email == "eve@bolt.example"]
