"""bulk_collect: ``Troth.collect_many`` (validate, encrypt the card, blind-index the
e-mail, tag, audit) vs a raw executemany insert of the same rows, on SQLite."""

from __future__ import annotations

import json
import time

import sqlalchemy as sa

from benchmarks import report
from benchmarks._homes import bench_home, order


def run(quick: bool) -> list[str]:
    t = bench_home("itechno")
    n = 5_000 if quick else 20_000
    batch = 1_000
    rows = [order(i) for i in range(n)]
    fields_per_row = len(rows[0])
    t0 = time.perf_counter()
    for start in range(0, n, batch):
        t.collect_many("order_form", rows[start : start + batch])
    troth_s = time.perf_counter() - t0

    with t.ctx.engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE bench_raw"
                " (id INTEGER PRIMARY KEY, subject TEXT, field TEXT, value TEXT)"
            )
        )
    stmt = sa.text("INSERT INTO bench_raw (subject, field, value) VALUES (:s, :f, :v)")
    t0 = time.perf_counter()
    for start in range(0, n, batch):
        params = [
            {"s": f"s{start + i}", "f": k, "v": json.dumps(v)}
            for i, row in enumerate(rows[start : start + batch])
            for k, v in row.items()
        ]
        with t.ctx.engine.begin() as conn:
            conn.execute(stmt, params)
    raw_s = time.perf_counter() - t0
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
