"""The customer pages take ids (a grant to decide, an invitation or a member to revoke):
another customer's id answers exactly like an unknown one (404, the same page), changes
nothing, and is audited as refused (``not_a_member``, under the customer it belongs to).
A 403 for it, beside a 404 for an unknown id, told an admin that the id exists."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from _http import PASSWORD, client_for, csrf_from
from troth.access import actor_for
from troth.audit.entries import list_entries
from troth.engine import Troth

UNKNOWN = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def world(phone: Any) -> Any:
    t = Troth(phone)
    acme = t.access.tenants.create_tenant("Acme Telecom", "office@acme.example")
    bolt = t.access.tenants.create_tenant("Bolt Networks", "office@bolt.example")
    for tid, email in ((acme, "ann@acme.example"), (bolt, "bea@bolt.example")):
        t.access.accounts.add_user(
            email, kind="tenant_member", tenant_id=tid, tenant_role="admin", password=PASSWORD
        )
    member = t.access.accounts.add_user(
        "bob@bolt.example", kind="tenant_member", tenant_id=bolt, password=PASSWORD
    )
    vendor = actor_for(
        t.access.accounts.add_user("ops@vendor.example", kind="vendor_admin", password=PASSWORD)
    )
    grant = t.access.grants.request_grant(bolt, by=vendor, reason="r", duration=timedelta(hours=1))
    _, invitation = t.access.tenants.invite(bolt, "new@bolt.example", role="member")
    return t, acme, bolt, {"grant": grant.id, "invitation": invitation.id, "member": member.id}


ROUTES = [
    ("grant", "/tenant/grants/{}/approve", "grant_approve"),
    ("grant", "/tenant/grants/{}/refuse", "grant_refuse"),
    ("grant", "/tenant/grants/{}/revoke", "grant_revoke"),
    ("invitation", "/tenant/invitations/{}/revoke", "invitation_revoke"),
    ("member", "/tenant/members/{}/revoke", "member_revoke"),
]


@pytest.mark.parametrize(("kind", "path", "action"), ROUTES)
def test_another_customers_id_answers_as_an_unknown_one(
    world: Any, kind: str, path: str, action: str
) -> None:
    t, _acme, bolt, ids = world
    theirs = ids[kind]
    with client_for(t.ctx) as c:
        page = c.get("/tenant/login").text
        r = c.post(
            "/tenant/login",
            data={"email": "ann@acme.example", "password": PASSWORD, "csrf_token": csrf_from(page)},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        token = csrf_from(c.get("/tenant").text)
        answers = {}
        for which, id_ in (("unknown", UNKNOWN), ("theirs", theirs)):
            for accept in ("text/html", "application/json"):
                r = c.post(path.format(id_), data={"csrf_token": token}, headers={"Accept": accept})
                body = re.sub(r'nonce-[^"\']+|nonce="[^"]+"', "", r.text.replace(id_, "ID"))
                answers[which, accept] = (r.status_code, body)
        for accept in ("text/html", "application/json"):
            assert answers["theirs", accept] == answers["unknown", accept]
            assert answers["theirs", accept][0] == 404
    # Nothing changed for Bolt, and the attempts are on the record, under Bolt.
    assert t.access.grants.get_grant(ids["grant"]).status == "requested"
    assert [i.id for i in t.access.tenants.list_invitations(bolt) if i.state == "pending"] == [
        ids["invitation"]
    ]
    assert "bob@bolt.example" in {u.email for u in t.access.tenants.list_members(bolt)}
    refused = [
        e.entry
        for e in list_entries(t.ctx)
        if e.entry.action == action and e.entry.reason == "not_a_member"
    ]
    assert len(refused) == 2  # html and json
    assert {(e.outcome.value, e.tenant_id) for e in refused} == {("deny", bolt)}
    assert all(e.actor.startswith("tenant_admin:") for e in refused)
