"""Every vendor-office function, decided inside its domain service, for every kind of
credential (phone-service: a multi-tenant service), on SQLite and PostgreSQL. A refusal
changes nothing and is audited once with its reason; an allowed call works.

The HTTP routes, the console and the CLI all reach these services, so this is where the
decision is tested exhaustively; tests/api/test_api_office_powers.py checks the edges."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from troth.audit.tables import audit_entries
from troth.breaches.tables import breaches
from troth.clock import ManualClock
from troth.disclosures.demands import list_demands
from troth.disclosures.tables import legal_demands
from troth.engine import Troth
from troth.errors import Refused
from troth.gate import SYSTEM, Actor, ActorKind, office_scope
from troth.notices.preview import diff_candidate
from troth.notices.publish import publish_policy
from troth.office import read_audit, request_desk, verify_audit
from troth.policy.loader import load_policy
from troth.policy.model import Power
from troth.policy.ropa import office_record
from troth.policy.versions import policy_history, policy_versions
from troth.retention.tables import legal_holds
from troth.store.tables import records, subjects

CALL = {"extension": "12", "duration_seconds": 30, "destination_number": "+441234567890"}
CHANGED = (policy_versions, legal_holds, breaches, legal_demands, records, subjects)


@dataclass
class World:
    t: Troth
    acme: str
    bolt: str
    bolt_person: str
    hold: str
    breach: str
    policy_file: Path


@pytest.fixture
def world(home: Any, tmp_path: Path, db_url: str) -> Iterator[World]:
    ctx = home("phone-service", db_url, clock=ManualClock(), context=True)
    t = Troth(ctx)
    acme = t.access.tenants.create_tenant("Acme", "office@acme.example")
    bolt = t.access.tenants.create_tenant("Bolt", "office@bolt.example")
    t.collect("call_record_import", CALL, tenant_id=acme)
    bolt_person = t.collect("call_record_import", CALL, tenant_id=bolt).subject_id
    hold = t.retention.place_hold(reason="case 1", subject_id=bolt_person)
    ctx.clock.advance(timedelta(days=2))
    now = ctx.clock.now()
    breach = t.breaches.record_breach(
        title="Leak",
        description="An export was readable.",
        discovered_at=now,
        occurred_from=now - timedelta(days=3),
        occurred_until=now - timedelta(days=1),
        categories=["contact"],
    ).id
    # A candidate policy: the one in force under a new version.
    text = (Path(ctx.home) / "policy.yaml").read_text()
    new = tmp_path / "next.yaml"
    new.write_text(text.replace("version:", "version: '9.9' #", 1))
    yield World(t, acme, bolt, bolt_person, hold, breach, new)
    t.close()


Op = Callable[[World, Actor], Any]

# Each office function, the power it needs and a call of it as ``actor``.
OPS: list[tuple[str, Power, Op]] = [
    ("publish", Power.publish_policy, lambda w, a: publish_policy(w.t.ctx, w.policy_file, actor=a)),
    (
        "diff",
        Power.publish_policy,
        lambda w, a: diff_candidate(w.t.ctx, load_policy(w.policy_file), actor=a),
    ),
    ("history", Power.publish_policy, lambda w, a: policy_history(w.t.ctx, actor=a)),
    ("ropa", Power.publish_policy, lambda w, a: office_record(w.t.ctx, a)),
    ("retention plan", Power.run_retention, lambda w, a: w.t.retention.plan(actor=a)),
    ("retention dry run", Power.run_retention, lambda w, a: w.t.retention.run(True, actor=a)),
    ("retention run", Power.run_retention, lambda w, a: w.t.retention.run(False, actor=a)),
    (
        "hold B's person",
        Power.manage_holds,
        lambda w, a: w.t.retention.place_hold(reason="x", subject_id=w.bolt_person, actor=a),
    ),
    (
        "hold B",
        Power.manage_holds,
        lambda w, a: w.t.retention.place_hold(reason="x", tenant_id=w.bolt, actor=a),
    ),
    ("lift", Power.manage_holds, lambda w, a: w.t.retention.lift_hold(w.hold, actor=a)),
    (
        "record breach",
        Power.manage_breaches,
        lambda w, a: w.t.breaches.record_breach(
            title="Another",
            description="d",
            discovered_at=w.t.ctx.clock.now(),
            occurred_from=w.t.ctx.clock.now() - timedelta(days=1),
            occurred_until=w.t.ctx.clock.now(),
            categories=["contact"],
            actor=a,
        ),
    ),
    ("list breaches", Power.manage_breaches, lambda w, a: w.t.breaches.list_breaches(actor=a)),
    ("read breach", Power.manage_breaches, lambda w, a: w.t.breaches.get(w.breach, actor=a)),
    ("clocks", Power.manage_breaches, lambda w, a: w.t.breaches.clocks(w.breach, actor=a)),
    (
        "affected",
        Power.manage_breaches,
        lambda w, a: w.t.breaches.affected_subjects(w.breach, actor=a),
    ),
    (
        "regulator told",
        Power.manage_breaches,
        lambda w, a: regulator_told(w, a),
    ),
    (
        "notify people",
        Power.manage_breaches,
        lambda w, a: w.t.breaches.notify_individuals(w.breach, "Dear customer", actor=a),
    ),
    ("export register", Power.manage_breaches, lambda w, a: w.t.breaches.export(actor=a)),
    (
        "record demand",
        Power.legal_demands,
        lambda w, a: w.t.disclosures.record_demand(
            authority="Court",
            instrument="court_order",
            reference="R1",
            scope="calls of +44",
            categories=["company", "contact", "identity", "call_records", "destination_numbers"],
            actor=a,
        ),
    ),
    ("list demands", Power.legal_demands, lambda w, a: list_demands(w.t.ctx, actor=a)),
    ("read audit", Power.read_audit, lambda w, a: read_audit(w.t.ctx, a)),
    (
        "read B's person's audit",
        Power.read_audit,
        lambda w, a: read_audit(w.t.ctx, a, subject_id=w.bolt_person),
    ),
    ("verify audit", Power.read_audit, lambda w, a: verify_audit(w.t.ctx, a)),
    ("request desk", Power.manage_requests, lambda w, a: request_desk(w.t.ctx, a)),
]


def regulator_told(w: World, actor: Actor) -> Any:
    """Record the regulator told; once recorded, a second record is a correction with its
    reason (a plain second record is refused 409, tests/breaches/test_breach_steps.py)."""
    told = w.t.breaches.get(w.breach).regulator_notified_at is not None
    return w.t.breaches.mark_regulator_notified(
        w.breach, w.t.ctx.clock.now(), correction="checked again" if told else None, actor=actor
    )


def counts(w: World) -> dict[str, int]:
    with w.t.ctx.engine.connect() as conn:
        out = {
            tb.name: int(conn.execute(select(func.count()).select_from(tb)).scalar_one())
            for tb in CHANGED
        }
        held = conn.execute(
            select(func.count()).select_from(legal_holds).where(legal_holds.c.lifted_at.is_(None))
        ).scalar_one()
        told = conn.execute(
            select(breaches.c.regulator_notified_at).where(breaches.c.id == w.breach)
        ).scalar_one()
    return {**out, "holds_active": int(held), "regulator_told": int(told is not None)}


def last_entries(w: World, after: int) -> list[Any]:
    a = audit_entries.c
    with w.t.ctx.engine.connect() as conn:
        return list(
            conn.execute(
                select(a.action, a.actor, a.outcome, a.reason, a.tenant_id, a.details)
                .where(a.seq > after)
                .order_by(a.seq)
            )
        )


def top_seq(w: World) -> int:
    with w.t.ctx.engine.connect() as conn:
        return int(conn.execute(select(func.max(audit_entries.c.seq))).scalar_one() or 0)


def refused_everywhere(w: World, actor: Actor, reason: str, *, allowed: set[Power] = set()) -> None:
    """Every office function whose power is not in ``allowed`` is refused with ``reason``,
    changes nothing and leaves exactly one audit entry saying so."""
    for name, power, op in OPS:
        if power in allowed:
            continue
        before, seq = counts(w), top_seq(w)
        with pytest.raises(Refused) as exc:
            op(w, actor)
        assert exc.value.reason == reason, (name, exc.value.message)
        assert exc.value.details["power"] == power.value
        assert counts(w) == before, name
        entries = last_entries(w, seq)
        assert [(e.action, e.actor, e.outcome, e.reason) for e in entries] == [
            (f"office.{power.value}", actor.label, "deny", reason)
        ], name
        if actor.tenant_id is not None:
            # The attempt shows in the caller's own log, never in the log of the tenant it
            # named (which would tell B that A is a customer too); the details name it.
            assert entries[0].tenant_id == actor.tenant_id, name
            if name == "hold B":
                assert json.loads(entries[0].details).get("tenant_named") == w.bolt, name


def allowed_everywhere(w: World, actor: Actor, powers: set[Power]) -> None:
    for name, power, op in OPS:
        if power in powers:
            seq = top_seq(w)
            op(w, actor)
            assert not [e for e in last_entries(w, seq) if e.outcome == "deny"], name


def test_tenant_bound_credentials_are_never_the_vendor_office(world: World) -> None:
    """Issue 13 item 1: A's admin key published the vendor's policy, held B's person,
    recorded breaches and demands, ran retention and read every tenant's audit."""
    w = world
    for actor in (
        Actor(ActorKind.application, "k-admin", tenant_id=w.acme, scopes=frozenset({"admin"})),
        Actor(
            ActorKind.application,
            "k-all",
            tenant_id=w.acme,
            scopes=frozenset({"admin", "requests:admin", *(office_scope(p) for p in Power)}),
        ),
        Actor(ActorKind.tenant_admin, "u-admin", tenant_id=w.acme),
        Actor(ActorKind.tenant_member, "u-member", tenant_id=w.acme),
    ):
        refused_everywhere(w, actor, "tenant_bound", allowed={Power.manage_requests})


def test_the_request_desk_of_a_tenant_bound_key_is_its_own_tenant(world: World) -> None:
    w = world
    own = Actor(ActorKind.application, "k", tenant_id=w.acme, scopes=frozenset({"admin"}))
    assert request_desk(w.t.ctx, own) == w.acme
    desk = Actor(ActorKind.application, "k", tenant_id=w.acme, scopes=frozenset({"requests:admin"}))
    assert request_desk(w.t.ctx, desk) == w.acme
    weak = Actor(ActorKind.application, "k", tenant_id=w.acme, scopes=frozenset({"collect"}))
    seq = top_seq(w)
    with pytest.raises(Refused) as exc:
        request_desk(w.t.ctx, weak)
    assert exc.value.reason == "scope_missing"
    assert [(e.outcome, e.reason, e.tenant_id) for e in last_entries(w, seq)] == [
        ("deny", "scope_missing", w.acme)
    ]
    for actor in (
        Actor(ActorKind.tenant_admin, "u", tenant_id=w.acme),
        Actor(ActorKind.tenant_member, "u", tenant_id=w.acme),
    ):
        with pytest.raises(Refused) as exc:
            request_desk(w.t.ctx, actor)
        assert exc.value.reason == "tenant_bound"
    # The vendor office administers every tenant's requests.
    assert request_desk(w.t.ctx, Actor(ActorKind.staff, "pat", role="privacy_office")) is None


def test_people_vendor_admins_and_staff_without_the_power_are_refused(world: World) -> None:
    w = world
    refused_everywhere(w, Actor(ActorKind.subject, w.bolt_person), "power_not_granted")
    refused_everywhere(w, Actor(ActorKind.vendor_admin, "v1"), "power_not_granted")
    refused_everywhere(w, Actor(ActorKind.staff, "sam", role="support"), "power_not_granted")
    refused_everywhere(w, Actor(ActorKind.staff, "x", role="not_in_policy"), "role_not_allowed")


@pytest.mark.parametrize(
    "scopes", [("collect",), ("use",), ("requests",), ("aggregate",), ("use:provide_service",)]
)
def test_unbound_keys_without_an_office_scope_are_refused(world: World, scopes: tuple) -> None:
    actor = Actor(ActorKind.application, "k", scopes=frozenset(scopes))
    refused_everywhere(world, actor, "scope_missing")


def test_an_office_scope_grants_its_power_and_no_other(world: World) -> None:
    w = world
    for power in (Power.read_audit, Power.legal_demands, Power.manage_breaches):
        actor = Actor(ActorKind.application, "k", scopes=frozenset({office_scope(power)}))
        refused_everywhere(w, actor, "scope_missing", allowed={power})
        allowed_everywhere(w, actor, {power})
    desk = Actor(ActorKind.application, "k", scopes=frozenset({"requests:admin"}))
    refused_everywhere(w, desk, "scope_missing", allowed={Power.manage_requests})


def test_the_office_and_an_unbound_admin_key_may_do_everything(world: World) -> None:
    w = world
    text = w.policy_file.read_text()
    for n, actor in enumerate(
        (
            Actor(ActorKind.staff, "pat", role="privacy_office"),
            Actor(ActorKind.application, "k", scopes=frozenset({"admin"})),
            SYSTEM,
        )
    ):
        # A fresh hold to lift and a new version to publish for each.
        w.hold = w.t.retention.place_hold(reason="again", subject_id=w.bolt_person)
        w.policy_file.write_text(text.replace("'9.9'", f"'9.9.{n}'"))
        allowed_everywhere(w, actor, set(Power))
    assert policy_history(w.t.ctx)[0]["version"] == "9.9.2"


def test_a_tenant_bound_key_cannot_be_given_an_office_scope(world: World) -> None:
    from troth.errors import ValidationError

    acc = world.t.access
    with pytest.raises(ValidationError, match="never acts as the vendor's privacy office"):
        acc.keys.create_api_key("x", ["office:read_audit"], tenant_id=world.acme)
    with pytest.raises(ValidationError, match="one of manage_requests"):
        acc.keys.create_api_key("x", ["office:read_everything"])
    with pytest.raises(ValidationError, match="one of"):
        acc.keys.create_api_key("x", ["office"])
    _, k = acc.keys.create_api_key("x", ["office:read_audit"])
    assert k.scopes == ("office:read_audit",)
