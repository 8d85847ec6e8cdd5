"""A key bound to one tenant reading or looking up another tenant's person: the same 404
as for an unknown id or address (no oracle), and every such refusal is audited, under the
key's own tenant (never in the other tenant's log), with no value of the person in it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from _http import api_key, client_for, is_problem
from troth.audit.entries import list_entries
from troth.engine import Troth
from troth.gate import Actor, ActorKind

ADA = {"name": "Ada Lovelace", "email": "ada@example.com", "message": "Hello"}
BOB = {"name": "Bob Byte", "email": "bob@example.com", "message": "Hi"}


def _setup(ctx: Any) -> tuple[Troth, str, str, str, str]:
    t = Troth(ctx)
    acme = t.access.tenants.create_tenant("Acme", "dpo@acme.example")
    bolt = t.access.tenants.create_tenant("Bolt", "dpo@bolt.example")
    ada = t.collect("support_request", ADA, tenant_id=acme).subject_id
    bob = t.collect("support_request", BOB, tenant_id=bolt).subject_id
    return t, acme, bolt, ada, bob


def _after(t: Troth, seq: int) -> list[Any]:
    return [e.entry for e in list_entries(t.ctx, after_seq=seq, limit=1000)]


def _last_seq(t: Troth) -> int:
    return list_entries(t.ctx, limit=1, newest_first=True)[0].seq


def _no_value_of(entries: list[Any], *values: str) -> None:
    text = json.dumps([e.details for e in entries]) + repr(entries)
    for v in values:
        assert v not in text


def test_a_read_of_another_tenants_person_is_not_found_and_audited_under_the_caller(
    lite: Any,
) -> None:
    t, acme, bolt, ada, bob = _setup(lite)
    with client_for(lite) as c:
        key = api_key(c, ["use"], tenant_id=bolt)
        before = _last_seq(t)
        foreign = c.get(f"/api/v1/subjects/{ada}?purpose=support", headers=key)
        unknown = c.get(f"/api/v1/subjects/{'0' * 32}?purpose=support", headers=key)
        for r in (foreign, unknown):
            is_problem(r, 404, "not_found")
        # Word for word the same answer, but the id.
        assert foreign.json()["detail"].replace(ada, "ID") == unknown.json()["detail"].replace(
            "0" * 32, "ID"
        )
        new = _after(t, before)
        assert [(e.action, e.outcome, e.reason, e.tenant_id) for e in new] == [
            ("use", "deny", "not_a_member", bolt),
            ("use", "deny", "not_found", bolt),
        ]
        assert all(e.tenant_id != acme and e.subject_id is None for e in new)  # not Acme's log
        assert new[0].purpose == "support"
        assert new[0].details == {"subject_named": ada}
        _no_value_of(new, "Ada", "ada@example.com")
        # The key's own person is still read (and audited as allowed, in its own tenant).
        own = c.get(f"/api/v1/subjects/{bob}?purpose=support", headers=key)
        assert own.status_code == 200, own.text


def test_the_python_and_cli_use_of_another_tenants_person_is_audited_alike(lite: Any) -> None:
    from troth.errors import NotFound, Refused

    t, _acme, bolt, ada, _bob = _setup(lite)
    member = Actor(ActorKind.tenant_member, "eve@bolt", tenant_id=bolt)
    before = _last_seq(t)
    # The Python API answers both as unknown too, word for word but the id (trial 19,
    # F11: it used to say Refused(not_a_member), telling the id exists elsewhere); the
    # audit log keeps the truth.
    with pytest.raises(NotFound) as foreign:
        t.use(ada, purpose="support", actor=member)
    with pytest.raises(NotFound) as unknown:
        t.use("0" * 32, purpose="support", actor=member)
    assert foreign.value.message.replace(ada, "ID") == unknown.value.message.replace("0" * 32, "ID")
    assert not isinstance(foreign.value, Refused)
    new = _after(t, before)
    assert [(e.action, e.reason, e.tenant_id) for e in new] == [
        ("use", "not_a_member", bolt),
        ("use", "not_found", bolt),
    ]


def test_a_look_up_of_another_tenants_person_is_not_found_and_audited_under_the_caller(
    lite: Any,
) -> None:
    t, acme, _bolt, _ada, bob = _setup(lite)
    with client_for(lite) as c:
        key = api_key(c, ["use"], tenant_id=acme)
        before = _last_seq(t)
        foreign = c.post("/api/v1/search/subjects", json={"email": "bob@example.com"}, headers=key)
        unknown = c.post(
            "/api/v1/search/subjects", json={"email": "nobody@example.com"}, headers=key
        )
        for r in (foreign, unknown):
            is_problem(r, 404, "not_found")
        assert foreign.json()["detail"] == unknown.json()["detail"]
        new = _after(t, before)
        assert [(e.action, e.outcome, e.reason, e.tenant_id) for e in new] == [
            ("read_lookup", "deny", "not_found", acme),
            ("read_lookup", "deny", "not_found", acme),
        ]
        # The foreign and the unknown look-up are filed alike: the log is no oracle either.
        assert new[0].details == new[1].details == {"by": "email"}
        assert all(e.subject_id is None for e in new)
        _no_value_of(new, "bob@example.com", "nobody@example.com", bob, "Bob")
        ok = c.post("/api/v1/search/subjects", json={"email": "ada@example.com"}, headers=key)
        assert ok.status_code == 200, ok.text


def test_a_tenant_bound_hold_naming_another_tenant_is_filed_under_the_caller(lite: Any) -> None:
    t, acme, bolt, _ada, _bob = _setup(lite)
    with client_for(lite) as c:
        key = api_key(c, ["admin"], tenant_id=bolt)
        before = _last_seq(t)
        for named in (acme, bolt):
            r = c.post(
                "/api/v1/retention/holds",
                json={"reason": "Regulator inquiry", "tenant_id": named},
                headers=key,
            )
            assert is_problem(r, 403)["reason"] == "tenant_bound"
        new = _after(t, before)
        assert [(e.action, e.reason, e.tenant_id) for e in new] == [
            ("office.manage_holds", "tenant_bound", bolt),
            ("office.manage_holds", "tenant_bound", bolt),
        ]
        assert new[0].details["tenant_named"] == acme
        assert "tenant_named" not in new[1].details  # its own tenant, filed as it was
        assert all(e.tenant_id != acme for e in new)  # never in Acme's log
