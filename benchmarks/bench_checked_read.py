"""checked_read: a purpose-checked, audited, decrypting read of one person through
``Troth.use`` vs its hand-written equivalent (a raw SQLAlchemy select of the same rows plus
a raw insert of one audit row, in one transaction), on SQLite."""

from __future__ import annotations

import json
import statistics
import time

import sqlalchemy as sa

from benchmarks import report
from benchmarks._homes import bench_home, order
from troth.gate import Actor, ActorKind
from troth.store.tables import records


def run(quick: bool) -> list[str]:
    t = bench_home("itechno")
    people = [r.subject_id for r in t.collect_many("order_form", [order(i) for i in range(500)])]
    actor = Actor(ActorKind.staff, "ada", role="accounts")
    n = 300 if quick else 2000
    log = sa.table(
        "bench_audit",
        sa.column("at", sa.Float),
        sa.column("actor", sa.String),
        sa.column("subject_id", sa.String),
        sa.column("purpose", sa.String),
        sa.column("details", sa.Text),
    )
    with t.ctx.engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE bench_audit (seq INTEGER PRIMARY KEY, at REAL, actor TEXT,"
                " subject_id TEXT, purpose TEXT, details TEXT)"
            )
        )

    def troth_read(sid: str) -> None:
        t.use(sid, purpose="billing", actor=actor)

    def raw_read(sid: str) -> None:
        with t.ctx.engine.begin() as conn:
            rows = conn.execute(
                sa.select(records.c.field, records.c.value, records.c.ciphertext).where(
                    records.c.subject_id == sid
                )
            ).all()
            conn.execute(
                log.insert().values(
                    at=time.time(),
                    actor="staff:ada",
                    subject_id=sid,
                    purpose="billing",
                    details=json.dumps({"fields": [r[0] for r in rows]}),
                )
            )

    out: dict[str, list[float]] = {"troth": [], "raw": []}
    # Interleave the two so both see the same machine load.
    for i in range(n):
        sid = people[i % len(people)]
        for name, fn in (("troth", troth_read), ("raw", raw_read)):
            t0 = time.perf_counter()
            fn(sid)
            out[name].append((time.perf_counter() - t0) * 1e6)
    t.close()
    troth_us = statistics.median(out["troth"])
    raw_us = statistics.median(out["raw"])
    return [report("checked_read", troth_us, raw_us, "us (median)", "<= 1.5x")]
