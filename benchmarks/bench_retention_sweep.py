"""retention_sweep: a retention sweep of expired values on PostgreSQL (1M; quick: 100k)
vs the raw set-based DELETE of the same rows in the same batches (targets: <= 1.5x and
>= 200,000 rows/s). Data is built with INSERT ... SELECT generate_series."""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from benchmarks import report
from benchmarks._homes import bench_home
from troth.clock import ManualClock
from troth.store.seals import reseal
from troth.store.subject_seals import reseal_subjects

PG = os.environ.get("TROTH_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BATCH = 10_000
COLLECTED = datetime(2015, 1, 5, tzinfo=UTC)


def _fill(conn: sa.Connection, n: int) -> None:
    """n expired values of 100k people: collected 2015 for order fulfilment (2 years)."""
    people = min(n // 10, 100_000)
    conn.execute(
        sa.text(
            "INSERT INTO subjects (id, jurisdiction, status, created_at)"
            " SELECT lpad(to_hex(g), 32, '0'), 'gdpr', 'active', :at"
            " FROM generate_series(1, :people) g"
        ),
        {"at": COLLECTED, "people": people},
    )
    conn.execute(
        sa.text(
            "INSERT INTO records (subject_id, category, field, value, purposes, source,"
            " policy_version, location, collected_at, anonymised)"
            " SELECT lpad(to_hex(1 + g % :people), 32, '0'), 'shipping_address', 'address',"
            " '\"' || g || ' Long Road\"', '[\"order_fulfilment\"]'::json, 'subject', '1.0',"
            " 'US', :at, false FROM generate_series(1, :n) g"
        ),
        {"at": COLLECTED, "people": people, "n": n},
    )


def _schema_url(admin: sa.Engine) -> tuple[str, str]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    return schema, f"{PG}?options=-csearch_path%3D{schema}"


def run(quick: bool) -> list[str]:
    n = 100_000 if quick else 1_000_000
    try:
        admin = sa.create_engine(PG, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception:
        return [f"retention_sweep: skipped (PostgreSQL not reachable at {PG})"]
    schemas = []
    try:
        # troth: the policy's rules, batched, audited.
        schema, url = _schema_url(admin)
        schemas.append(schema)
        t = bench_home("itechno", url)
        with t.ctx.engine.begin() as conn:
            _fill(conn, n)
            # Sealed as troth's writer seals each person and value it stores (retention
            # leaves alone a person or a value whose row is unsealed: changed outside
            # troth). Not timed.
            people = list(conn.execute(sa.text("SELECT id FROM subjects")).scalars())
            reseal_subjects(conn, t.ctx.keys, people)
            values = list(conn.execute(sa.text("SELECT id FROM records")).scalars())
            reseal(conn, t.ctx.keys, values)
            conn.execute(sa.text("ANALYZE records; ANALYZE subjects"))
        assert isinstance(t.ctx.clock, ManualClock)
        t.ctx.clock.set(COLLECTED + timedelta(days=4 * 365))
        start = time.perf_counter()
        rep = t.retention.run(batch=BATCH)
        troth_s = time.perf_counter() - start
        assert rep.total == n, rep.total
        t.close()
        # baseline: the raw statements on an identical table.
        schema, url = _schema_url(admin)
        schemas.append(schema)
        b = bench_home("itechno", url)
        with b.ctx.engine.begin() as conn:
            _fill(conn, n)
            conn.execute(sa.text("ANALYZE records; ANALYZE subjects"))
        cut = COLLECTED + timedelta(days=400)
        start = time.perf_counter()
        after, done = 0, 0
        while True:
            with b.ctx.engine.begin() as conn:
                ids = (
                    conn.execute(
                        sa.text(
                            "DELETE FROM records WHERE id IN (SELECT id FROM records"
                            " WHERE id > :after AND collected_at < :cut ORDER BY id LIMIT :n)"
                            " RETURNING id"
                        ),
                        {"after": after, "cut": cut, "n": BATCH},
                    )
                    .scalars()
                    .all()
                )
            if not ids:
                break
            after, done = max(ids), done + len(ids)
        base_s = time.perf_counter() - start
        assert done == n
        b.close()
    finally:
        with admin.connect() as conn:
            for schema in schemas:
                conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
    label = f"retention_sweep ({n:,} values, PostgreSQL)"
    return [
        report(label, troth_s, base_s, "s", "<= 1.5x"),
        report(label + " rate", n / troth_s, n / base_s, "rows/s", ">= 200,000 rows/s"),
    ]
