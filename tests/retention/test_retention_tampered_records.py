"""Retention never acts on a stored value changed outside troth: a kept invoice whose
restriction end was moved into the past, a value whose collection time was moved back, an
encrypted value due for crypto-shredding, one due for anonymising: each is left as it is,
counted ``skipped_tampered`` by the run and by the dry run, run after run, and ``troth
audit verify`` keeps naming it (the run never removes the evidence). SQLite and
PostgreSQL."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from requests_helpers import verified
from troth.audit import verify_log
from troth.store.tables import records

ORDER = {
    "name": "Carla",
    "email": "carla@example.com",
    "address": "3 Via Roma",
    "card_number": "4111111111111111",
    "card_expiry": "12/29",
    "order_items": "1 x Licence",
}


def _raw(t: Any, where: Any, **values: Any) -> list[int]:
    """What a database writer without the key file does to stored values."""
    with t.ctx.engine.begin() as conn:
        return list(
            conn.execute(
                sa.update(records).where(where).values(**values).returning(records.c.id)
            ).scalars()
        )


def _ids(t: Any) -> set[int]:
    with t.ctx.engine.connect() as conn:
        return set(conn.execute(sa.select(records.c.id)).scalars())


def test_a_kept_invoice_whose_restriction_end_was_moved_is_never_deleted(home, db_url, clock):
    t = home("itechno", db_url)
    sid = t.collect("order_form", ORDER).subject_id
    t.requests.execute(verified(t, "close_account", ORDER["email"]))
    # Kept for billing until 2033; a writer moves the end of one kept value to 2020.
    (bad,) = _raw(
        t,
        (records.c.subject_id == sid) & (records.c.field == "order_items"),
        restricted_until=date(2020, 1, 1),
    )
    kept = _ids(t)
    assert bad in kept and len(kept) == 3
    plan = t.retention.plan()
    assert plan.total == 0 and plan.skipped_tampered == 1
    report = t.retention.run()
    assert report.total == 0 and report.skipped_tampered == 1
    assert _ids(t) == kept  # nothing deleted: the law's invoice is still there
    check = verify_log(t.ctx)
    assert not check.ok and check.bad_records == [bad]
    assert t.retention.run().skipped_tampered == 1  # left again, run after run
    assert verify_log(t.ctx).bad_records == [bad]  # the evidence stays


def test_a_collection_time_moved_back_deletes_nothing(home, db_url, clock):
    t = home("itechno", db_url)
    ann = t.collect("order_form", ORDER).subject_id
    bob = t.collect("order_form", {**ORDER, "email": "bob@example.com"}).subject_id
    bad = _raw(
        t,
        records.c.subject_id == ann,
        collected_at=datetime(2001, 1, 1, tzinfo=clock.now().tzinfo),
    )
    assert len(bad) == 6
    assert t.retention.plan().skipped_tampered == 6
    report = t.retention.run(batch=4)
    assert report.total == 0 and report.skipped_tampered == 6
    assert set(bad) <= _ids(t)
    clock.advance(days=8 * 366)  # now Bob's are due too: his go, Ann's stay
    report = t.retention.run(batch=4)
    assert report.total == 6 and report.skipped_tampered == 6
    with t.ctx.engine.connect() as conn:
        left = set(conn.execute(sa.select(records.c.subject_id)).scalars())
    assert left == {ann} and bob not in left


def test_crypto_shredding_leaves_a_tampered_value_and_its_key(home, db_url, clock):
    def edit(p: dict[str, Any]) -> None:
        for purpose in ("billing", "order_fulfilment"):
            x = next(x for x in p["purposes"] if x["id"] == purpose)
            x["retention"] = {"keep_for": "30d", "then": "crypto_shred"}

    t = home("itechno", db_url, edit=edit)
    sid = t.collect("order_form", ORDER).subject_id
    (bad,) = _raw(
        t,
        (records.c.subject_id == sid) & (records.c.field == "card_number"),
        location="ZZ",
    )
    clock.advance(days=31)
    report = t.retention.run()
    assert report.skipped_tampered == 1 and report.keys_shredded == 0
    assert report.done[("crypto_shred", "payment_card")] == 1  # the untouched expiry only
    assert _ids(t) == {bad}
    assert verify_log(t.ctx).bad_records == [bad]


def test_anonymising_drops_nothing_tampered(home, db_url, clock):
    def edit(p: dict[str, Any]) -> None:
        point = next(cp for cp in p["collection_points"] if cp["id"] == "site_usage")
        point["fields"]["ip"] = {"category": "location"}
        pi = next(x for x in p["purposes"] if x["id"] == "product_improvement")
        pi["categories"].append("location")

    t = home("itechno", db_url, edit=edit)
    sid = t.collect(
        "site_usage", {"event": "download", "browser": "Firefox", "ip": "192.0.2.7"}
    ).subject_id
    # The identifying value (dropped by anonymising) relabelled by a writer.
    (bad,) = _raw(
        t,
        (records.c.subject_id == sid) & (records.c.field == "ip"),
        value=json.dumps("198.51.100.1"),
    )
    clock.advance(days=2 * 366)
    assert t.retention.plan().skipped_tampered == 1
    report = t.retention.run()
    assert report.skipped_tampered == 1
    assert report.total == 2  # the untouched values of the visit
    assert ("anonymise_drop", "location") not in report.done
    assert bad in _ids(t)
    assert verify_log(t.ctx).bad_records == [bad]
