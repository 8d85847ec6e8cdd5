"""Execute, refuse and extend decide who is the request desk inside the request service,
not only at the HTTP edge: the CLI (`--actor`), the console and the Python API reach the
same service. A staff role without ``manage_requests`` is refused and audited, a key bound
to another tenant finds no such request, and nothing changes; the office, troth itself and
the person on their own request still may. phone-service on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from troth.audit.tables import audit_entries
from troth.engine import Troth
from troth.errors import NotFound, Refused
from troth.gate import Actor, ActorKind
from troth.requests.states import RequestState

CALL = {"extension": "12", "duration_seconds": 30, "destination_number": "+441234567890"}
SUPPORT = Actor(ActorKind.staff, "sam", role="support")
OFFICE = Actor(ActorKind.staff, "olu", role="privacy_office")


def _verified(t: Troth, kind: str, tenant: str) -> tuple[str, str]:
    sid = t.collect("call_record_import", CALL, tenant_id=tenant).subject_id
    # The customer's request (at the organisation's own desk, naming the customer's person
    # by id, it would be left to the customer: tests/requests/test_requests_desk_by_subject_id.py).
    req = t.requests.open(kind, subject_id=sid, tenant_id=tenant)
    t.requests.verify_by_staff(req.id, staff="olu", reason="known caller")
    return req.id, sid


def _denials(ctx: Any, actor: Actor) -> list[str | None]:
    a = audit_entries.c
    with ctx.engine.connect() as conn:
        return [
            r.reason
            for r in conn.execute(
                select(a.reason).where(a.actor == actor.label, a.outcome == "deny")
            )
        ]


def test_a_role_without_the_power_cannot_execute_refuse_or_extend(phone: Any) -> None:
    t = Troth(phone)
    acme = t.access.tenants.create_tenant("Acme", "office@acme.example")
    rid, _ = _verified(t, "delete", acme)
    before = t.requests.get(rid)
    with pytest.raises(Refused):
        t.requests.execute(rid, actor=SUPPORT)
    with pytest.raises(Refused):
        t.requests.refuse(rid, reason="no", actor=SUPPORT)
    with pytest.raises(Refused):
        t.requests.extend(rid, "busy", actor=SUPPORT)
    after = t.requests.get(rid)
    assert (after.state, after.extended_due_at, after.closed_at) == (
        before.state,
        before.extended_due_at,
        before.closed_at,
    )
    assert _denials(phone, SUPPORT) == ["power_not_granted"] * 3
    # The office may.
    assert t.requests.refuse(rid, reason="manifestly unfounded", actor=OFFICE).state is (
        RequestState.refused
    )
    t.close()


def test_a_key_bound_to_another_tenant_finds_no_such_request(phone: Any) -> None:
    t = Troth(phone)
    acme = t.access.tenants.create_tenant("Acme", "office@acme.example")
    bolt = t.access.tenants.create_tenant("Bolt", "office@bolt.example")
    rid, _ = _verified(t, "access", acme)
    bolt_desk = Actor(ActorKind.application, "k-bolt", tenant_id=bolt, scopes=frozenset({"admin"}))
    acme_desk = Actor(ActorKind.application, "k-acme", tenant_id=acme, scopes=frozenset({"admin"}))
    for call in (
        lambda a: t.requests.execute(rid, actor=a),
        lambda a: t.requests.refuse(rid, reason="no", actor=a),
        lambda a: t.requests.extend(rid, "busy", actor=a),
    ):
        with pytest.raises(NotFound):
            call(bolt_desk)
    assert t.requests.get(rid).state is RequestState.verified
    # A key bound to Acme without the desk's scope is refused, audited.
    weak = Actor(ActorKind.application, "k-weak", tenant_id=acme, scopes=frozenset({"use"}))
    with pytest.raises(Refused):
        t.requests.execute(rid, actor=weak)
    assert _denials(phone, weak) == ["scope_missing"]
    # Acme's own desk may.
    assert t.requests.execute(rid, actor=acme_desk).state is RequestState.completed
    t.close()


def test_the_person_executes_only_their_own_request(phone: Any) -> None:
    t = Troth(phone)
    acme = t.access.tenants.create_tenant("Acme", "office@acme.example")
    rid, sid = _verified(t, "access", acme)
    _, other = _verified(t, "access", acme)
    stranger = Actor(ActorKind.subject, other)
    with pytest.raises(Refused):
        t.requests.execute(rid, actor=stranger)
    assert t.requests.get(rid).state is RequestState.verified
    assert t.requests.execute(rid, actor=Actor(ActorKind.subject, sid)).state is (
        RequestState.completed
    )
    t.close()
