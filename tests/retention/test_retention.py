"""Retention sweeps on SQLite and PostgreSQL: expiry per purpose, clocks from collection and
from the end of the relationship, delete / anonymise / crypto-shred, legal holds, legal
minimums, idempotent reruns, batches each audited."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from troth.audit.entries import list_entries
from troth.errors import NotFound, ValidationError
from troth.store.seals import reseal
from troth.store.tables import records, subject_keys, subjects

ORDER = {
    "name": "Ann Lee",
    "email": "ann@example.com",
    "address": "1 Main St",
    "card_number": "4111111111111111",
    "card_expiry": "12/29",
    "order_items": "2 widgets",
}


def _rows(t: Any, **where: Any) -> list[Any]:
    q = sa.select(records)
    for k, v in where.items():
        q = q.where(records.c[k] == v)
    with t.ctx.engine.connect() as conn:
        return list(conn.execute(q.order_by(records.c.id)))


def _end_relationship(t: Any, sid: str, when: Any) -> None:
    """The relationship ended at ``when``, written as troth writes it (the row sealed)."""
    from troth.store.subject_seals import update_subjects

    with t.ctx.engine.begin() as conn:
        update_subjects(conn, t.ctx.keys, subjects.c.id == sid, relationship_ended_at=when)


def test_nothing_expires_before_keep_for(home, db_url, clock):
    t = home("itechno", db_url)
    t.collect("order_form", ORDER)
    clock.advance(days=365)
    report = t.retention.run()
    assert report.total == 0 and not report.held
    assert len(_rows(t)) == 6


def test_collection_clock_expires_when_every_purpose_passed(home, db_url, clock):
    # order_form data serves billing (7y) and order_fulfilment (2y): it stays 7 years.
    t = home("itechno", db_url)
    t.collect("order_form", ORDER)
    clock.advance(days=3 * 365)
    assert t.retention.run().total == 0
    clock.advance(days=5 * 365)
    plan = t.retention.plan()
    assert plan.dry_run and plan.total == 6
    assert len(_rows(t)) == 6  # the dry run changed nothing
    report = t.retention.run(batch=2)
    assert report.total == 6
    assert report.done[("delete", "payment_card")] == 2
    assert report.by_purpose["billing"] == 6
    assert report.batches == 3
    assert _rows(t) == []
    # Idempotent: a rerun does nothing.
    assert t.retention.run().total == 0
    entries = [e for e in list_entries(t.ctx, limit=1000) if e.entry.action == "retention"]
    assert len(entries) == 3
    assert sum(e.entry.details["rows"] for e in entries) == 6
    # Counts, never values.
    assert "Ann" not in json.dumps([e.to_dict() for e in entries])


def test_relationship_end_clock(home, db_url, clock):
    t = home("itechno", db_url)
    r = t.collect("account_signup", {"name": "Bo", "email": "bo@example.com", "username": "bo"})
    clock.advance(days=4000)
    assert t.retention.run().total == 0  # relationship still running
    _end_relationship(t, r.subject_id, clock.now())
    clock.advance(seconds=1)
    report = t.retention.run()
    assert report.total == 3
    assert _rows(t) == []


def test_anonymise_generalises_and_detaches(home, db_url, clock):
    # A policy variant whose usage point also carries a date and a number.
    def edit(p: dict[str, Any]) -> None:
        point = next(cp for cp in p["collection_points"] if cp["id"] == "site_usage")
        point["fields"]["seen_on"] = {"category": "usage", "type": "date"}
        point["fields"]["duration"] = {"category": "usage", "type": "integer"}
        point["fields"]["ip"] = {"category": "location"}
        pi = next(x for x in p["purposes"] if x["id"] == "product_improvement")
        pi["categories"].append("location")

    t = home("itechno", db_url, edit=edit)
    r = t.collect(
        "site_usage",
        {
            "event": "download",
            "browser": "Firefox",
            "seen_on": "2026-03-02",
            "duration": 37,
            "ip": "192.0.2.7",
        },
    )
    clock.advance(days=2 * 366)
    plan = t.retention.plan()
    assert plan.total == 5
    report = t.retention.run()
    assert report.done[("anonymise", "usage")] == 3
    assert report.done[("anonymise", "location")] == 1  # identifying: dropped
    rows = {row.field: row for row in _rows(t)}
    assert set(rows) == {"event", "browser", "seen_on", "duration"}
    assert json.loads(rows["seen_on"].value) == "2026-03"
    assert json.loads(rows["duration"].value) == "30-39"
    assert json.loads(rows["event"].value) == "download"
    assert all(row.anonymised for row in rows.values())
    assert {row.subject_id for row in rows.values()} != {r.subject_id}
    assert len({row.subject_id for row in rows.values()}) == 1  # still one submission
    assert rows["event"].collected_at.day == 1
    assert t.retention.run().total == 0  # anonymised rows never expire again


def test_crypto_shred_destroys_keys(home, db_url, clock):
    def edit(p: dict[str, Any]) -> None:
        billing = next(x for x in p["purposes"] if x["id"] == "billing")
        billing["retention"] = {"keep_for": "30d", "then": "crypto_shred"}
        fulfil = next(x for x in p["purposes"] if x["id"] == "order_fulfilment")
        fulfil["retention"] = {"keep_for": "30d", "then": "crypto_shred"}

    t = home("itechno", db_url, edit=edit)
    r = t.collect("order_form", ORDER)
    with t.ctx.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(subject_keys)).scalar() == 1
    clock.advance(days=31)
    report = t.retention.run()
    assert report.done[("crypto_shred", "payment_card")] == 2
    assert report.keys_shredded == 1
    with t.ctx.engine.connect() as conn:
        left = conn.execute(
            sa.select(sa.func.count())
            .select_from(subject_keys)
            .where(subject_keys.c.subject_id == r.subject_id)
        ).scalar()
    assert left == 0 and _rows(t) == []


def test_legal_hold_on_person_overrides_and_is_reported(home, db_url, clock):
    t = home("itechno", db_url)
    a = t.collect("order_form", ORDER)
    t.collect("order_form", {**ORDER, "email": "cy@example.com", "name": "Cy"})
    hold = t.retention.place_hold(subject_id=a.subject_id, reason="Case 12/2026, court order")
    clock.advance(days=8 * 366)
    plan = t.retention.plan()
    assert plan.total == 6 and plan.held["payment_card"] == 2
    report = t.retention.run()
    assert report.total == 6
    assert sum(report.held.values()) == 6
    assert len(_rows(t, subject_id=a.subject_id)) == 6  # nothing under hold deleted
    held = [e for e in list_entries(t.ctx, limit=1000) if e.entry.action == "retention.held"]
    assert held and held[0].entry.details["held"]["identity"] == 1
    t.retention.lift_hold(hold)
    assert t.retention.run().total == 6
    assert _rows(t) == []


def test_legal_hold_on_tenant(home, db_url, clock):
    t = home("itechno", db_url)
    from troth.store.tables import tenants

    with t.ctx.engine.begin() as conn:
        conn.execute(sa.insert(tenants).values(id="acme", name="Acme", created_at=clock.now()))
    t.collect("order_form", ORDER, tenant_id="acme")
    t.collect("order_form", {**ORDER, "email": "cy@example.com"})
    t.retention.place_hold(tenant_id="acme", reason="Litigation hold")
    clock.advance(days=8 * 366)
    report = t.retention.run()
    assert report.total == 6 and sum(report.held.values()) == 6
    assert len(_rows(t, tenant_id="acme")) == 6


def test_hold_bad_input(home, db_url):
    t = home("itechno", db_url)
    with pytest.raises(ValidationError, match="exactly one"):
        t.retention.place_hold(reason="x")
    with pytest.raises(ValidationError, match="reason"):
        t.retention.place_hold(tenant_id="acme", reason=" ")
    with pytest.raises(NotFound):
        t.retention.place_hold(subject_id="nobody", reason="x")
    with pytest.raises(NotFound):
        t.retention.lift_hold("nohold")
    with pytest.raises(ValidationError, match="batch"):
        t.retention.run(batch=0)


def test_billing_kept_its_full_legal_minimum(home, db_url, clock):
    # billing: keep_for 7y = legal minimum 7y; one day short of it nothing goes.
    t = home("itechno", db_url)
    t.collect("order_form", ORDER)
    clock.advance(days=7 * 365)  # 2026-03-02 + 2555d = 2033-02-28: not yet 7 years
    assert t.retention.run().total == 0
    clock.advance(days=3)
    assert t.retention.run().total == 6


def test_request_restriction_end_deletes(home, db_url, clock):
    t = home("itechno", db_url)
    r = t.collect("order_form", ORDER)
    with t.ctx.engine.begin() as conn:
        (rid,) = conn.execute(
            sa.update(records)
            .where(records.c.subject_id == r.subject_id, records.c.field == "card_number")
            .values(
                restricted_to="billing", restricted_until=(clock.now() + timedelta(days=10)).date()
            )
            .returning(records.c.id)
        ).scalars()
        # Sealed as troth's own restriction is (a row changed without it is left alone:
        # tests/retention/test_retention_tampered_records.py).
        reseal(conn, t.ctx.keys, [rid])
    clock.advance(days=11)
    report = t.retention.run()
    assert report.total == 1 and report.done[("delete", "payment_card")] == 1


def test_progress_called_per_batch(home, db_url, clock):
    t = home("itechno", db_url)
    for i in range(3):
        t.collect("order_form", {**ORDER, "email": f"p{i}@example.com"})
    clock.advance(days=8 * 366)
    seen: list[int] = []
    report = t.retention.run(batch=5, progress=seen.append)
    assert sum(seen) == report.total == 18 and len(seen) == 4
