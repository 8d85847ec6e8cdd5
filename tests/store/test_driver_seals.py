"""The seal checks a retention run makes on the driver's own rows (no SQLAlchemy row
processing, the MAC keyed once, its JSON written item by item) agree with the seals troth
writes, byte for byte: every value and person sealed by the writer is accepted, and every
one changed outside troth refused, exactly where the reference check (``seal_matches``,
``subject_matches`` on SQLAlchemy's rows) says so. On SQLite (naive UTC times as text)
and PostgreSQL (times in the session's time zone, which need not be UTC)."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from requests_helpers import verified
from troth.db import driver_rows
from troth.dialects import dialect_for
from troth.store.mac import RowMac, json_item, mac_of
from troth.store.seals import SEAL_COLUMNS, RecordChecker, seal_key, seal_matches
from troth.store.subject_seals import (
    SubjectChecker,
    subject_matches,
    subject_seal_key,
    update_subjects,
)
from troth.store.subjects import SUBJECT_COLUMNS
from troth.store.tables import records, subjects

ORDER = {
    "name": 'Zoë "Q" O\'Brien \\ 李',
    "email": "zoe@example.com",
    "address": "1 Rue de l'Église, 75001 Paris \U0001f3e0",
    "card_number": "4111111111111111",
    "card_expiry": "12/29",
    "order_items": '2 x "Widget" \\ half-price',
}
_N = len(SEAL_COLUMNS) + 1
_PURPOSES = 1 + [c.name for c in SEAL_COLUMNS].index("purposes")
_RECORDS = sa.select(
    records.c.id,
    *(sa.cast(c, sa.Text) if c is records.c.purposes else c for c in SEAL_COLUMNS),
    records.c.seal,
).order_by(records.c.id)
_SUBJECTS = sa.select(*SUBJECT_COLUMNS, subjects.c.seal).order_by(subjects.c.id)


@given(key=st.binary(max_size=200), message=st.binary(max_size=300))
def test_the_row_mac_is_hmac_sha256(key, message):
    assert RowMac(key).digest(message) == hmac.new(key, message, hashlib.sha256).digest()


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@given(items=st.lists(_JSON, max_size=20))
def test_items_written_one_by_one_are_the_seals_json(items):
    key = hmac.new(b"k", digestmod=hashlib.sha256)
    written = ("[" + ",".join(json_item(v) for v in items) + "]").encode()
    assert hmac.new(b"k", written, hashlib.sha256).digest() == mac_of(key, items)


def test_what_json_cannot_hold_is_refused_as_the_seal_refuses_it():
    for value in (b"\x00", date(2020, 1, 1), object()):
        with pytest.raises(TypeError):
            json_item(value)


def _home(home: Any, db_url: str) -> tuple[Any, str, str]:
    """Two people: one whose account is closed (values kept, restricted until a day),
    one held and whose relationship ended (troth's own writes, sealed)."""
    t = home("itechno", db_url)
    zoe = t.collect("order_form", ORDER).subject_id
    t.requests.execute(verified(t, "close_account", ORDER["email"]))
    bo = t.collect("order_form", {**ORDER, "name": "Bo\u2028Bø", "email": "bo@example.com"})
    with t.ctx.engine.begin() as conn:
        ended = datetime(2025, 6, 30, 23, 59, 59, 999_999, tzinfo=t.ctx.clock.now().tzinfo)
        where = subjects.c.id == bo.subject_id
        update_subjects(conn, t.ctx.keys, where, legal_hold="case 7", relationship_ended_at=ended)
    return t, zoe, bo.subject_id


def _verdicts(t: Any, *, zone: str | None = None) -> tuple[dict[int, bool], dict[str, bool]]:
    """Each record's and person's verdict by the driver-row checks, asserted equal to the
    reference check's on SQLAlchemy's rows."""
    records_ok, people_ok = {}, {}
    record_check, people_check = RecordChecker(t.ctx.keys), SubjectChecker(t.ctx.keys)
    key, s_key = seal_key(t.ctx.keys), subject_seal_key(t.ctx.keys)
    with t.ctx.engine.connect() as conn:
        if zone is not None:
            conn.exec_driver_sql(f"SET TIME ZONE '{zone}'")
            conn.commit()
        for raw, row in zip(driver_rows(conn, _RECORDS), conn.execute(_RECORDS), strict=True):
            _, encoded = record_check.purposes(raw[_PURPOSES])
            verdict = record_check.matches(raw[1:_N], encoded, raw[_N])
            record = (*row[1:_PURPOSES], json.loads(row[_PURPOSES]), *row[_PURPOSES + 1 : _N])
            assert verdict == seal_matches(key, record, row[_N]), row.id
            records_ok[row.id] = verdict
        for raw, row in zip(driver_rows(conn, _SUBJECTS), conn.execute(_SUBJECTS), strict=True):
            verdict = people_check.driver_row_matches(raw)
            assert verdict == subject_matches(s_key, row[:-1], row[-1]), row.id
            assert people_check.driver_row_matches(raw) is verdict  # remembered
            people_ok[row.id] = verdict
        if zone is not None:
            conn.exec_driver_sql("RESET TIME ZONE")
            conn.commit()
    return records_ok, people_ok


def _raw(t: Any, table: Any, where: Any, **values: Any) -> list[Any]:
    """What a database writer without the key file does."""
    with t.ctx.engine.begin() as conn:
        stmt = sa.update(table).where(where).values(**values).returning(table.c.id)
        return list(conn.execute(stmt).scalars())


def test_every_row_troth_sealed_is_accepted_from_the_drivers_rows(home, db_url):
    t, zoe, bo = _home(home, db_url)
    records_ok, people_ok = _verdicts(t)
    assert records_ok and all(records_ok.values())
    assert set(people_ok) >= {zoe, bo} and all(people_ok.values())
    with t.ctx.engine.connect() as conn:
        kept = conn.execute(
            sa.select(sa.func.count()).where(records.c.restricted_until.is_not(None))
        ).scalar_one()
        sealed_secret = conn.execute(
            sa.select(sa.func.count()).where(records.c.ciphertext.is_not(None))
        ).scalar_one()
    assert kept and sealed_secret  # restricted and encrypted values among them


def test_the_session_time_zone_changes_no_verdict(home, pg_url):
    t, _, _ = _home(home, pg_url)
    for zone in ("Pacific/Chatham", "America/St_Johns"):
        records_ok, people_ok = _verdicts(t, zone=zone)
        assert all(records_ok.values()) and all(people_ok.values())


def _ids(t: Any, sid: str) -> dict[str, int]:
    with t.ctx.engine.connect() as conn:
        q = sa.select(records.c.field, records.c.id).where(records.c.subject_id == sid)
        return {field: rid for field, rid in conn.execute(q)}


def _tamper_records(t: Any, zoe: str, bo: str) -> set[int]:
    """Each decided column changed outside troth, each on its own row."""
    z, b = sorted(_ids(t, zoe).values()), _ids(t, bo)
    at = t.ctx.clock.now()
    changes: list[tuple[int, dict[str, Any]]] = [
        (z[0], {"value": '"1 Other Road"'}),
        (z[1], {"restricted_until": date(2020, 1, 1)}),
        (z[2], {"seal": None}),
        (b["name"], {"collected_at": at - timedelta(days=900)}),
        (b["email"], {"anonymised": True}),
        (b["address"], {"purposes": ["order_fulfilment", "x"]}),
        (b["card_expiry"], {"collected_at": at + timedelta(seconds=1)}),
        (b["card_number"], {"ciphertext": b"\x00" * 40}),
    ]
    bad = set()
    for rid, values in changes:
        bad |= set(_raw(t, records, records.c.id == rid, **values))
    # Not tampering: a time moved within its second (a seal holds whole seconds).
    with t.ctx.engine.connect() as conn:
        q = sa.select(records.c.collected_at).where(records.c.id == b["order_items"])
        same = conn.execute(q).scalar_one()
    _raw(t, records, records.c.id == b["order_items"], collected_at=same.replace(microsecond=5))
    return bad


def test_each_tampered_row_is_refused_as_the_reference_refuses_it(home, db_url):
    t, zoe, bo = _home(home, db_url)
    bad = _tamper_records(t, zoe, bo)
    _raw(t, subjects, subjects.c.id == bo, legal_hold=None)
    _raw(t, subjects, subjects.c.id == zoe, relationship_ended_at=datetime(2001, 1, 1, tzinfo=UTC))
    records_ok, people_ok = _verdicts(t)
    assert len(bad) == 8
    assert {rid for rid, ok in records_ok.items() if not ok} == bad
    assert not people_ok[zoe] and not people_ok[bo]


def test_the_key_order_plan_is_set_back_after_the_page(pg_url):
    engine = sa.create_engine(pg_url)
    try:
        with engine.begin() as conn:
            dialect = dialect_for(conn)
            show = (
                "SELECT current_setting('enable_sort'),"
                " current_setting('max_parallel_workers_per_gather')"
            )
            conn.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 3")
            before = tuple(conn.exec_driver_sql(show).one())
            with dialect.key_order(conn):
                assert tuple(conn.exec_driver_sql(show).one()) == ("off", "0")
            assert tuple(conn.exec_driver_sql(show).one()) == before == ("on", "3")
        with engine.connect() as conn:  # nothing outlives the transaction
            assert tuple(conn.exec_driver_sql(show).one()) != ("off", "0")
    finally:
        engine.dispose()
