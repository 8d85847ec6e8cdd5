"""P30 (mindlink, ixanet): data is kept only as long as its purpose needs (which may run past
the end of the relationship), or longer where the law requires; then it is deleted or
anonymised, automatically, with a record of what was done."""

from __future__ import annotations

import sqlalchemy as sa

from troth.audit.entries import list_entries
from troth.store.tables import records, subjects


def test_p30_relationship_end_then_delete_with_record(home, db_url, clock):
    t = home("mindlink", db_url)
    sid = t.collect("contact_form", {"email": "ann@example.com", "message": "hello"}).subject_id
    held = t.collect("contact_form", {"email": "bo@example.com", "message": "hi"}).subject_id
    t.retention.place_hold(subject_id=held, reason="Tribunal case 4/2026")
    clock.advance(days=366)
    plan = t.retention.plan()  # enquiries: 1 year after collection
    assert plan.total == 2 and sum(plan.held.values()) == 2
    report = t.retention.run()
    assert report.total == 2 and sum(report.held.values()) == 2
    with t.ctx.engine.connect() as conn:
        left = {r.subject_id for r in conn.execute(sa.select(records.c.subject_id))}
    assert left == {held} and sid not in left
    assert t.retention.run().total == 0
    done = [e for e in list_entries(t.ctx, limit=1000) if e.entry.action == "retention"]
    assert done and done[0].entry.details["rows"] == 2


def test_p30_clock_runs_from_relationship_end(home, db_url, clock):
    # ixanet customer service: kept 2 years past the end of the relationship.
    t = home("ixanet", db_url)
    sid = t.collect(
        "support_email", {"email": "c@example.ca", "message": "x"}, consents=["customer_service"]
    ).subject_id
    clock.advance(days=5 * 365)
    assert t.retention.run().total == 0  # still a customer
    from troth.store.subject_seals import update_subjects

    with t.ctx.engine.begin() as conn:  # the relationship ends, as troth records it
        update_subjects(conn, t.ctx.keys, subjects.c.id == sid, relationship_ended_at=clock.now())
    clock.advance(days=365)
    assert t.retention.run().total == 0  # past the relationship, inside the purpose's need
    clock.advance(days=400)
    assert t.retention.run().total == 2
