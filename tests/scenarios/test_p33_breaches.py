"""P33 (ilign): a breach is recorded, the affected people are computed from the data and the
audit log, the legal clocks (72 hours to the regulator under GDPR) are tracked, and the
affected people are told."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from troth.errors import ValidationError


def test_p33_breach_end_to_end(home, db_url, clock):
    from troth.notices.outbox import outbox

    t = home("ilign", db_url)
    a = t.collect("support_ticket", {"email": "a@example.nz", "message": "x"}).subject_id
    b = t.collect("support_ticket", {"email": "b@example.nz", "message": "y"}).subject_id
    clock.advance(days=2)
    start = clock.now()
    clock.advance(days=1)
    with pytest.raises(ValidationError, match="impossible"):
        t.breaches.record_breach(
            title="x",
            description="y",
            discovered_at=clock.now(),
            occurred_from=clock.now(),
            occurred_until=start,
            categories=["support"],
        )
    breach = t.breaches.record_breach(
        title="Help desk data exposed",
        description="Tickets readable by anyone with the link.",
        discovered_at=clock.now(),
        occurred_from=start,
        occurred_until=clock.now(),
        categories=["support"],
        regimes=["nz", "gdpr"],
        high_risk=True,
    )
    assert sorted(t.breaches.affected_subjects(breach.id)) == sorted([a, b])
    clocks = {(c["regime"], c["audience"]): c for c in t.breaches.clocks(breach.id)}
    assert (
        clocks[("gdpr", "regulator")]["due_at"]
        == (breach.aware_at + timedelta(hours=72)).isoformat()
    )
    clock.advance(hours=80)
    with pytest.raises(ValidationError, match="late_reason"):
        t.breaches.mark_regulator_notified(breach.id, clock.now())
    t.breaches.mark_regulator_notified(
        breach.id, clock.now(), late_reason="Scope unclear until day 3"
    )
    assert t.breaches.notify_individuals(breach.id, "{{ organisation }}: {{ breach.title }}") == 2
    with t.ctx.engine.connect() as conn:
        assert len(list(conn.execute(sa.select(outbox)))) == 2
    assert '"late_reason": "Scope unclear until day 3"' in t.breaches.export("json")
