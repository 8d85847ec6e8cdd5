"""P20: legal demands are recorded and read by those the policy gives ``legal_demands``
(a gag must not leak through the register); the twin: a support role, a customer's admin
key and that customer's admin are refused, nothing is recorded, the attempt is audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from troth.disclosures.demands import list_demands
from troth.disclosures.tables import legal_demands
from troth.errors import Refused
from troth.gate import Actor, ActorKind

OFFICE = Actor(ActorKind.staff, "pat", role="privacy_office")
DEMAND = {
    "authority": "Superior Court",
    "instrument": "production_order",
    "reference": "PO-7",
    "scope": "orders of ann@example.com",
    "categories": ["identity", "purchases"],
}


def test_p20_the_office_records_and_lists_gagged_demands(home, db_url, clock):
    t = home("itechno", db_url)
    d = t.disclosures.record_demand(
        **DEMAND, gag_until=clock.now() + timedelta(days=60), actor=OFFICE
    )
    assert [x.id for x in list_demands(t.ctx, actor=OFFICE)] == [d.id]


def test_p20_twin_no_one_else_sees_or_records_a_demand(home, db_url, clock):
    t = home("itechno", db_url)
    t.disclosures.record_demand(**DEMAND, gag_until=clock.now() + timedelta(days=60))
    tenant = t.access.tenants.create_tenant("Acme", "office@acme.example")
    for actor, reason in (
        (Actor(ActorKind.staff, "sam", role="support"), "power_not_granted"),
        (Actor(ActorKind.staff, "ada", role="accounts"), "power_not_granted"),
        (
            Actor(ActorKind.application, "k", tenant_id=tenant, scopes=frozenset({"admin"})),
            "tenant_bound",
        ),
        (Actor(ActorKind.tenant_admin, "u", tenant_id=tenant), "tenant_bound"),
        (Actor(ActorKind.application, "k2", scopes=frozenset({"use", "collect"})), "scope_missing"),
    ):
        with pytest.raises(Refused) as exc:
            list_demands(t.ctx, actor=actor)
        assert exc.value.reason == reason
        with pytest.raises(Refused) as exc:
            t.disclosures.record_demand(**{**DEMAND, "reference": "X"}, actor=actor)
        assert exc.value.reason == reason
    with t.ctx.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(legal_demands)).scalar() == 1
        a = sa.table("audit_entries", sa.column("action"), sa.column("outcome"))
        denied = conn.execute(
            sa.select(sa.func.count())
            .select_from(a)
            .where(a.c.action == "office.legal_demands", a.c.outcome == "deny")
        ).scalar()
    assert denied == 10
