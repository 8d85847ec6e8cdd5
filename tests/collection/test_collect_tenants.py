"""Collection and tenants (phone-service, multi-tenant): a person's values are filed under
their own tenant, always. A subject id named with another tenant is refused: a clear
ValidationError (audited) to a caller bound to no tenant, an unknown id to a credential
bound to a tenant (audited ``not_a_member``), so another tenant's ids reveal nothing. An
unknown tenant is the ``unknown_tenant`` NotFound the CLI and HTTP give, never a database
error. Nothing is stored by any refusal. From Python and HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from _http import api_key, client_for, is_problem
from troth.audit.entries import list_entries
from troth.collection.importing import import_file
from troth.engine import Troth
from troth.errors import NotFound, ValidationError
from troth.gate import SYSTEM, Actor, ActorKind
from troth.store.subjects import no_such_subject
from troth.store.tables import records, subjects

CARL = {"name": "Carl", "email": "carl@bolt.example"}
DORA = {"name": "Dora", "email": "dora@acme.example"}
OTHER = {"name": "Someone else", "email": "other@example.com"}
UNBOUND_KEY = Actor(ActorKind.application, "vendor", scopes=frozenset({"collect"}))


@pytest.fixture
def gyms(home: Any, db_url: str) -> tuple[Troth, str, str, str, str]:
    """Acme with Dora, Bolt with Carl; returns (troth, acme, bolt, dora, carl)."""
    t = home("phone-service", db_url)
    acme = t.access.tenants.create_tenant("Acme", "office@acme.example")
    bolt = t.access.tenants.create_tenant("Bolt", "office@bolt.example")
    dora = t.collect("user_invitation", DORA, tenant_id=acme).subject_id
    carl = t.collect("user_invitation", CARL, tenant_id=bolt).subject_id
    return t, acme, bolt, dora, carl


def filed(t: Troth) -> list[tuple[str, str | None]]:
    """(subject, tenant) of every value held, sorted."""
    with t.ctx.engine.connect() as conn:
        rows = conn.execute(sa.select(records.c.subject_id, records.c.tenant_id)).all()
    return sorted((str(s), tid) for s, tid in rows)


def count(t: Troth, table: Any) -> int:
    with t.ctx.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def denials(t: Troth) -> list[Any]:
    return [
        e.entry
        for e in list_entries(t.ctx, newest_first=True, limit=1000)
        if e.entry.action == "collect" and e.entry.outcome == "deny"
    ]


# -- a subject id with another tenant ---------------------------------------------------
@pytest.mark.parametrize("actor", [SYSTEM, UNBOUND_KEY], ids=["system", "unbound_key"])
def test_a_person_named_under_another_tenant_is_refused(
    gyms: tuple[Troth, str, str, str, str], actor: Actor
) -> None:
    t, acme, bolt, _, carl = gyms
    before = filed(t), count(t, subjects)
    with pytest.raises(ValidationError) as info:
        t.collect("user_invitation", OTHER, subject_id=carl, tenant_id=acme, actor=actor)
    message = info.value.message
    assert repr(carl) in message and repr(acme) in message and "does not belong" in message
    assert "other@example.com" not in message and bolt not in message
    assert (filed(t), count(t, subjects)) == before
    (entry, *_) = denials(t)
    assert entry.reason == "invalid_input" and "does not belong" in entry.details["problem"]
    assert "other@example.com" not in str(entry.details)


def test_without_a_tenant_the_persons_own_tenant_is_used(
    gyms: tuple[Troth, str, str, str, str],
) -> None:
    t, _, bolt, _, carl = gyms
    t.collect("user_invitation", CARL, subject_id=carl)
    t.collect("user_invitation", CARL, subject_id=carl, tenant_id=bolt)
    assert {tid for sid, tid in filed(t) if sid == carl} == {bolt}


def test_a_batch_files_under_one_tenant_and_is_refused_whole(
    gyms: tuple[Troth, str, str, str, str],
) -> None:
    t, acme, bolt, dora, carl = gyms
    before = filed(t)
    with pytest.raises(ValidationError, match="different tenants"):
        t.collect_many("user_invitation", [DORA, CARL], subject_ids=[dora, carl])
    for tenant in (acme, bolt):
        with pytest.raises(ValidationError, match="does not belong"):
            t.collect_many(
                "user_invitation", [DORA, CARL], subject_ids=[dora, carl], tenant_id=tenant
            )
    assert filed(t) == before
    done = t.collect_many("user_invitation", [DORA, DORA], subject_ids=[dora, dora])
    assert [r.stored for r in done] == [2, 2]
    assert {tid for sid, tid in filed(t) if sid == dora} == {acme}


def test_unknown_and_malformed_subject_ids(gyms: tuple[Troth, str, str, str, str]) -> None:
    t, acme, *_ = gyms
    before = filed(t), count(t, subjects)
    for sid in ("f" * 32, "not-an-id"):
        with pytest.raises(NotFound) as info:
            t.collect("user_invitation", OTHER, subject_id=sid, tenant_id=acme)
        assert info.value.message == no_such_subject(sid).message
    for bad in (12345, b"abc"):
        with pytest.raises(ValidationError, match="subject id must be"):
            t.collect_many("user_invitation", [OTHER], subject_ids=[bad])  # type: ignore[list-item]
    assert (filed(t), count(t, subjects)) == before


# -- a credential bound to a tenant: another tenant's ids reveal nothing ----------------
@pytest.mark.parametrize("kind", [ActorKind.application, ActorKind.tenant_admin])
def test_to_a_bound_credential_another_tenants_person_is_unknown(
    gyms: tuple[Troth, str, str, str, str], kind: ActorKind
) -> None:
    t, acme, bolt, _, carl = gyms
    actor = Actor(kind, "acme-1", tenant_id=acme, scopes=frozenset({"collect"}))
    before = filed(t), count(t, subjects)
    for tenant in (acme, None):
        with pytest.raises(NotFound) as info:
            t.collect("user_invitation", OTHER, subject_id=carl, tenant_id=tenant, actor=actor)
        # The very words an id that names nobody gets.
        assert info.value.message == no_such_subject(carl).message
        assert info.value.code == "not_found"
    # Another tenant named by id is as unknown as a tenant that does not exist.
    answers = []
    for tenant in (bolt, "nope"):
        with pytest.raises(NotFound) as info:
            t.collect("user_invitation", OTHER, tenant_id=tenant, actor=actor)
        answers.append((info.value.code, info.value.message.replace(repr(tenant), "T")))
    assert answers == [("unknown_tenant", "no tenant T")] * 2
    assert (filed(t), count(t, subjects)) == before
    # Audited as refused, in the caller's own log (naming the id asked for), never in the
    # person's or their tenant's (it would tell Bolt which other customer tried).
    got = [(e.reason, e.tenant_id, e.subject_id, e.details) for e in denials(t)[:4]]
    named = {"point": "user_invitation", "subject_named": carl}
    assert (
        got
        == [("not_a_member", acme, None, {"point": "user_invitation"})] * 2
        + [("not_a_member", acme, None, named)] * 2
    )


# -- an unknown tenant ------------------------------------------------------------------
def test_an_unknown_tenant_is_a_clear_error_and_nothing_is_stored(
    gyms: tuple[Troth, str, str, str, str], tmp_path: Path
) -> None:
    t, *_ = gyms
    before = filed(t), count(t, subjects)
    for tenant in ("nope", "f" * 32, "x" * 500):
        with pytest.raises(NotFound) as info:
            t.collect("user_invitation", OTHER, tenant_id=tenant)
        assert info.value.code == "unknown_tenant"
        assert info.value.message == f"no tenant {tenant!r}"
        with pytest.raises(NotFound, match="no tenant"):
            t.collect_many("user_invitation", [OTHER, DORA], tenant_id=tenant)
    for bad in ("", 42):
        with pytest.raises(ValidationError, match="tenant_id must be"):
            t.collect("user_invitation", OTHER, tenant_id=bad)  # type: ignore[arg-type]
    rows = tmp_path / "people.jsonl"
    rows.write_text('{"name": "Ed", "email": "ed@example.com"}\n')
    with pytest.raises(NotFound, match="no tenant"):
        import_file(
            t,
            rows,
            "user_invitation",
            actor=SYSTEM,
            state_file=tmp_path / "s.json",
            tenant_id="nope",
        )
    assert (filed(t), count(t, subjects)) == before


# -- over HTTP --------------------------------------------------------------------------
def test_http_collect_checks_the_persons_tenant(gyms: tuple[Troth, str, str, str, str]) -> None:
    t, acme, bolt, _, carl = gyms
    before = filed(t)
    body = {"subject_id": carl, "data": OTHER}
    with client_for(t.ctx) as c:
        unbound = api_key(c, ["collect"])
        r = c.post(
            "/api/v1/collect/user_invitation", json=body | {"tenant_id": acme}, headers=unbound
        )
        assert "does not belong" in is_problem(r, 422, "invalid_input")["detail"]
        r = c.post(
            "/api/v1/collect/user_invitation", json=body | {"tenant_id": "nope"}, headers=unbound
        )
        is_problem(r, 404, "unknown_tenant")
        acme_key = api_key(c, ["collect"], tenant_id=acme)
        r = c.post("/api/v1/collect/user_invitation", json=body, headers=acme_key)
        unknown = c.post(
            "/api/v1/collect/user_invitation",
            json=body | {"subject_id": "f" * 32},
            headers=acme_key,
        )
        assert is_problem(r, 404)["detail"].replace(carl, "X") == is_problem(unknown, 404)[
            "detail"
        ].replace("f" * 32, "X")
        assert filed(t) == before
        bolt_key = api_key(c, ["collect"], tenant_id=bolt)
        ok = c.post(
            "/api/v1/collect/user_invitation", json={**body, "data": CARL}, headers=bolt_key
        )
        assert ok.status_code == 201, ok.text
        ok = c.post("/api/v1/collect/user_invitation", json={**body, "data": CARL}, headers=unbound)
        assert ok.status_code == 201, ok.text
    assert {tid for sid, tid in filed(t) if sid == carl} == {bolt}
