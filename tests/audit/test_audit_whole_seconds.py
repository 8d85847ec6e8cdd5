"""A home on MariaDB, whose DATETIME keeps whole seconds: every audit entry's leaf hashes the
time as stored, so a log written at times with microseconds verifies (before, a fresh
home's first entry failed verify as "modified"), and a changed entry is still caught."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from troth.audit.tables import audit_entries
from troth.audit.verify import verify_log
from troth.clock import ManualClock
from troth.engine import Troth
from troth.gate import Actor, ActorKind

ORDER = {
    "name": "Ann Lee",
    "email": "ann@example.com",
    "address": "1 Main St",
    "card_number": "4111111111111111",
    "card_expiry": "12/29",
    "order_items": "2 widgets",
}


def test_a_log_written_at_fractional_times_verifies_on_mariadb(home: Any, mysql_url: str) -> None:
    clock = ManualClock(datetime(2026, 12, 31, 23, 59, 59, 987654, tzinfo=UTC))
    ctx = home("itechno", mysql_url, clock=clock, context=True)
    try:
        t = Troth(ctx)
        sid = t.collect("order_form", ORDER).subject_id
        clock.advance(microseconds=12_345)  # across the year end, still a fraction
        t.use(sid, purpose="billing", actor=Actor(ActorKind.staff, "ada", role="accounts"))
        report = verify_log(ctx)
        assert report.ok, report.problem
        assert report.size >= 3
        with ctx.engine.begin() as conn:
            conn.execute(
                sa.update(audit_entries)
                .where(audit_entries.c.action == "use")
                .values(actor="staff:someone-else")
            )
        assert not verify_log(ctx).ok
    finally:
        ctx.engine.dispose()
