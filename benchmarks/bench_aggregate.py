"""aggregate: an aggregate-only count per group with small-cell and complementary
suppression vs the raw GROUP BY over the same rows (target: <= 2x). PostgreSQL when
reachable (1M values; quick: 100k), else SQLite; data built with INSERT ... SELECT."""

from __future__ import annotations

import os
import time
import uuid

import sqlalchemy as sa

from benchmarks import report
from benchmarks._homes import bench_home
from troth.aggregates.query import aggregate
from troth.gate import Actor, ActorKind

PG = os.environ.get("TROTH_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BI = Actor(ActorKind.application, "bi", scopes=frozenset({"aggregate"}))
RAW = (
    "SELECT value, COUNT(DISTINCT subject_id) FROM records"
    " WHERE category = 'technical' AND field = 'browser' GROUP BY value"
)


def _fill(conn: sa.Connection, n: int, pg: bool) -> None:
    """n browser values of n people; 40 browsers, three of them rare (< k)."""
    series = (
        "generate_series(1, :n) g"
        if pg
        else "(WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < :n)"
        " SELECT g FROM s)"
    )
    hexid = "lpad(to_hex(g), 32, '0')" if pg else "printf('%032x', g)"
    conn.execute(
        sa.text(
            f"INSERT INTO subjects (id, jurisdiction, status, created_at)"
            f" SELECT {hexid}, 'gdpr', 'active', CURRENT_TIMESTAMP FROM {series}"
        ),
        {"n": n},
    )
    browser = "CASE WHEN g <= 6 THEN 'Rare' || (g % 3) ELSE 'Browser' || (g % 37) END"
    json_cast = "::json" if pg else ""
    conn.execute(
        sa.text(
            "INSERT INTO records (subject_id, category, field, value, purposes, source,"
            " policy_version, location, collected_at, anonymised, collection_point)"
            f" SELECT {hexid}, 'technical', 'browser', '\"' || {browser} || '\"',"
            f" '[\"product_improvement\"]'{json_cast}, 'observed', '1.0', 'US',"
            f" CURRENT_TIMESTAMP, false, 'site_usage' FROM {series}"
        ),
        {"n": n},
    )


def _best(fn: object, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times)


def run(quick: bool) -> list[str]:
    n = 100_000 if quick else 1_000_000
    admin = None
    schema = None
    try:
        admin = sa.create_engine(PG, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        url: str | None = f"{PG}?options=-csearch_path%3D{schema}"
        backend = "PostgreSQL"
    except Exception:
        url, backend, n = None, "SQLite", min(n, 200_000)
    try:
        t = bench_home("itechno", url)
        with t.ctx.engine.begin() as conn:
            _fill(conn, n, backend == "PostgreSQL")
        with t.ctx.engine.begin() as conn:
            conn.execute(sa.text("ANALYZE"))

        def ours() -> None:
            r = aggregate(
                t.ctx, "product_improvement", "technical", "browser", ["browser"], actor=BI
            )
            # The three rare browsers are left out, labels and all.
            assert not any(str(key[0]).startswith("Rare") for key in r.cells)

        def raw() -> None:
            with t.ctx.engine.connect() as conn:
                conn.execute(sa.text(RAW)).all()

        ours()
        raw()
        troth_s, base_s = _best(ours), _best(raw)
        t.close()
    finally:
        if admin is not None:
            if schema is not None:
                with admin.connect() as conn:
                    conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            admin.dispose()
    return [
        report(f"aggregate ({n:,} values, {backend})", troth_s * 1000, base_s * 1000, "ms", "<= 2x")
    ]
