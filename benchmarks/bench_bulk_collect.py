"""bulk_collect: ``Troth.collect_many`` (validate, gate, encrypt the card, blind-index the
e-mail, tag, audit) vs a raw executemany insert of the same rows (the same columns and
indexes as troth's records table, values already serialised), on SQLite."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import sqlalchemy as sa

from benchmarks import report
from benchmarks._homes import bench_home, order

COLUMNS = (
    "subject_id, tenant_id, category, field, value, ciphertext, key_version,"
    " collection_point, purposes, source, supplier, policy_version, location, collected_at,"
    " updated_at, restricted_to, restricted_until, anonymised"
)


def run(quick: bool) -> list[str]:
    t = bench_home("itechno")
    n = 5_000 if quick else 20_000
    batch = 1_000
    rows = [order(i) for i in range(n)]
    fields_per_row = len(rows[0])
    categories = {f: spec.category for f, spec in t.ctx.policy.points["order_form"].fields.items()}
    with t.ctx.engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE bench_raw AS SELECT * FROM records WHERE 0"))
        # The same indexes as troth's records table: the same rows, stored the same way.
        for cols in ("subject_id, category", "category, collected_at", "tenant_id"):
            name = "ix_bench_raw_" + cols.replace(", ", "_")
            conn.execute(sa.text(f"CREATE INDEX {name} ON bench_raw ({cols})"))
    stmt = f"INSERT INTO bench_raw ({COLUMNS}) VALUES ({', '.join(['?'] * 18)})"
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    purposes = json.dumps(["billing", "order_fulfilment"])

    def raw(start: int) -> None:
        params = [
            (
                f"s{start + i}",
                None,
                categories[k],
                k,
                json.dumps(v),
                None,
                None,
                "order_form",
                purposes,
                "subject",
                None,
                "1.0",
                "US",
                when,
                None,
                None,
                None,
                0,
            )
            for i, row in enumerate(rows[start : start + batch])
            for k, v in row.items()
        ]
        with t.ctx.engine.begin() as conn:
            conn.exec_driver_sql(stmt, params)

    troth_s = raw_s = 0.0
    # Interleave troth and the baseline batch by batch so both see the same machine load.
    for start in range(0, n, batch):
        t0 = time.perf_counter()
        t.collect_many("order_form", rows[start : start + batch])
        troth_s += time.perf_counter() - t0
        t0 = time.perf_counter()
        raw(start)
        raw_s += time.perf_counter() - t0
    t.close()
    values = n * fields_per_row
    return [
        report(
            "bulk_collect",
            values / troth_s,
            values / raw_s,
            "records/s",
            "<= 3x and >= 20,000 records/s",
        ),
    ]
