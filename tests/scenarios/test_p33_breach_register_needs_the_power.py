"""P33: the breach register (record, read with its clocks, regulator told, people told) is
kept by those the policy gives ``manage_breaches``; the twin: a support role, a customer's
admin key and a key without the scope are refused, the register and the outbox unchanged,
each attempt audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from troth.breaches.tables import breaches
from troth.errors import Refused
from troth.gate import Actor, ActorKind, office_scope
from troth.policy.model import Power

OFFICE = Actor(ActorKind.staff, "pat", role="privacy_office")


def record(t, clock, actor):
    return t.breaches.record_breach(
        title="Help desk data exposed",
        description="Tickets readable by anyone with the link.",
        discovered_at=clock.now(),
        occurred_from=clock.now() - timedelta(days=2),
        occurred_until=clock.now(),
        categories=["support"],
        regimes=["gdpr"],
        actor=actor,
    )


def test_p33_the_office_keeps_the_register(home, db_url, clock):
    t = home("ilign", db_url)
    t.collect("support_ticket", {"email": "a@example.nz", "message": "x"})
    clock.advance(days=1)
    b = record(t, clock, OFFICE)
    assert [x.id for x in t.breaches.list_breaches(actor=OFFICE)] == [b.id]
    clocks = t.breaches.clocks(b.id, actor=OFFICE)
    assert ("gdpr", "regulator") in {(c["regime"], c["audience"]) for c in clocks}
    scoped = Actor(
        ActorKind.application, "k", scopes=frozenset({office_scope(Power.manage_breaches)})
    )
    assert t.breaches.get(b.id, actor=scoped).title == "Help desk data exposed"


def test_p33_twin_no_one_else_reads_or_changes_the_register(home, db_url, clock):
    from troth.notices.outbox import outbox

    t = home("ilign", db_url)
    t.collect("support_ticket", {"email": "a@example.nz", "message": "x"})
    clock.advance(days=1)
    b = record(t, clock, OFFICE)
    tenant = t.access.tenants.create_tenant("Acme", "office@acme.example")
    outsiders = (
        (Actor(ActorKind.staff, "sam", role="support"), "power_not_granted"),
        (
            Actor(ActorKind.application, "k", tenant_id=tenant, scopes=frozenset({"admin"})),
            "tenant_bound",
        ),
        (Actor(ActorKind.application, "k2", scopes=frozenset({"requests:admin"})), "scope_missing"),
    )
    for actor, reason in outsiders:
        for attempt in (
            lambda a: record(t, clock, a),
            lambda a: t.breaches.list_breaches(actor=a),
            lambda a: t.breaches.get(b.id, actor=a),
            lambda a: t.breaches.mark_regulator_notified(b.id, clock.now(), actor=a),
            lambda a: t.breaches.notify_individuals(b.id, "We are sorry.", actor=a),
        ):
            with pytest.raises(Refused) as exc:
                attempt(actor)
            assert exc.value.reason == reason
    with t.ctx.engine.connect() as conn:
        rows = conn.execute(sa.select(breaches.c.id, breaches.c.regulator_notified_at)).all()
        assert [(r.id, r.regulator_notified_at) for r in rows] == [(b.id, None)]
        assert conn.execute(sa.select(sa.func.count()).select_from(outbox)).scalar() == 0
        a = sa.table("audit_entries", sa.column("action"), sa.column("outcome"))
        denied = conn.execute(
            sa.select(sa.func.count())
            .select_from(a)
            .where(a.c.action == "office.manage_breaches", a.c.outcome == "deny")
        ).scalar()
    assert denied == 3 * 5
