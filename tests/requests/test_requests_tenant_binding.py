"""A credential bound to tenant A opens requests for A's people only (issue 13): A's key
naming B's person got a request opened for B's data under A's tenant, which A's key could
then execute. Now it is answered as an unknown person, nothing is stored, and the attempt
is audited as refused (``not_a_member``). phone-service on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from _http import api_key, client_for, is_problem
from troth.audit.tables import audit_entries
from troth.engine import Troth
from troth.errors import NotFound
from troth.gate import Actor, ActorKind
from troth.requests.tables import requests

CALL = {"extension": "12", "duration_seconds": 30, "destination_number": "+441234567890"}


def stored(ctx: Any) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(requests)).scalar_one())


def refusals(ctx: Any) -> list[tuple[str, str, str | None]]:
    a = audit_entries.c
    with ctx.engine.connect() as conn:
        return [
            (r.reason, r.subject_id, r.tenant_id)
            for r in conn.execute(
                select(a.reason, a.subject_id, a.tenant_id).where(
                    a.action == "request.open", a.outcome == "deny"
                )
            )
        ]


def test_a_tenant_bound_key_cannot_open_a_request_for_another_tenant_s_person(phone: Any) -> None:
    t = Troth(phone)
    acme = t.access.tenants.create_tenant("Acme", "office@acme.example")
    bolt = t.access.tenants.create_tenant("Bolt", "office@bolt.example")
    a_person = t.collect("call_record_import", CALL, tenant_id=acme).subject_id
    b_person = t.collect("call_record_import", CALL, tenant_id=bolt).subject_id
    with client_for(phone) as c:
        for scopes in (["requests:admin"], ["admin"], ["requests"]):
            key = api_key(c, scopes, tenant_id=acme)
            r = c.post(
                "/api/v1/requests", json={"kind": "access", "subject_id": b_person}, headers=key
            )
            is_problem(r, 404, "not_found")
            r = c.post(
                "/api/v1/requests",
                json={"kind": "access", "subject_id": b_person, "tenant_id": bolt},
                headers=key,
            )
            is_problem(r, 404, "not_found")
        assert stored(phone) == 0
        # Filed in Acme's own log, never under Bolt's person (it would tell them who tried).
        assert refusals(phone) == [("not_a_member", None, acme)] * 6
        ok = c.post(
            "/api/v1/requests",
            json={"kind": "access", "subject_id": a_person},
            headers=api_key(c, ["requests:admin"], tenant_id=acme),
        )
        assert ok.status_code == 201 and ok.json()["tenant_id"] == acme
    assert stored(phone) == 1


def test_the_domain_refuses_a_person_of_another_tenant_whoever_asks(phone: Any) -> None:
    t = Troth(phone)
    acme = t.access.tenants.create_tenant("Acme", "office@acme.example")
    bolt = t.access.tenants.create_tenant("Bolt", "office@bolt.example")
    b_person = t.collect("call_record_import", CALL, tenant_id=bolt).subject_id
    # The operator naming the wrong tenant, A's admin, A's member: the same answer.
    for actor, tenant in (
        (Actor(ActorKind.system, "troth"), acme),
        (Actor(ActorKind.tenant_admin, "u", tenant_id=acme), None),
        (Actor(ActorKind.tenant_member, "u", tenant_id=acme), None),
    ):
        with pytest.raises(NotFound):
            t.requests.open("delete", subject_id=b_person, tenant_id=tenant, actor=actor)
    assert stored(phone) == 0 and len(refusals(phone)) == 3
    # B's own request still works; the operator without a tenant is the organisation's own
    # desk, where the customers decide: left to Bolt, bound to no one
    # (tests/requests/test_requests_desk_by_subject_id.py).
    assert t.requests.open("delete", subject_id=b_person, tenant_id=bolt).tenant_id == bolt
    desk = t.requests.open("access", subject_id=b_person)
    assert (desk.subject_id, desk.tenant_id, desk.details) == (None, None, {"left_to": b_person})
