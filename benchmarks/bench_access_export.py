"""access_export: everything one person has in the 10-table shop schema holding 1M people
(quick: 50k) on PostgreSQL, exported by troth's connector (walk + JSON-able rows with
categories) vs the raw SELECTs a developer would write for the same rows (target: <= 1.3x).
"""

from __future__ import annotations

import random
import sys
import tempfile
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from benchmarks import report
from benchmarks.bench_erase_subject import PG_URL, connector_for, measure, shop_engine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import connected_schema as cs

RAW = [
    "SELECT * FROM customers WHERE id = :id OR email = :email OR phone = :phone",
    "SELECT * FROM addresses WHERE customer_id = :id",
    "SELECT * FROM orders WHERE customer_id = :id",
    "SELECT i.* FROM order_items i JOIN orders o ON o.id = i.order_id WHERE o.customer_id = :id",
    "SELECT p.* FROM payments p JOIN orders o ON o.id = p.order_id WHERE o.customer_id = :id",
    "SELECT * FROM invoices WHERE customer_id = :id",
    "SELECT * FROM support_tickets WHERE customer_id = :id OR email = :email",
    "SELECT m.* FROM ticket_messages m JOIN support_tickets t ON t.id = m.ticket_id"
    " WHERE t.customer_id = :id OR t.email = :email",
    "SELECT * FROM calls WHERE customer_id = :id OR caller = :phone",
    "SELECT * FROM newsletter_signups WHERE email = :email",
]


def raw_export(engine: sa.Engine, i: int) -> dict[str, list[dict[str, Any]]]:
    params = {"id": i, "email": cs.email_of(i), "phone": cs.phone_of(i)}
    with engine.connect() as conn:
        return {
            sql.split(" FROM ")[1].split()[0]: [
                dict(r) for r in conn.execute(sa.text(sql), params).mappings()
            ]
            for sql in RAW
        }


def run(quick: bool) -> list[str]:
    people = 50_000 if quick else 1_000_000
    engine = shop_engine(people)
    if engine is None:
        line = f"access_export: skipped (PostgreSQL not reachable at {PG_URL})"
        print(line, file=sys.stderr)
        return [line]
    rounds = 30 if quick else 60
    rng = random.Random(7)
    chosen = [rng.randrange(1, people // 6) * 6 + rng.choice((2, 4)) for _ in range(rounds + 2)]
    with tempfile.TemporaryDirectory() as tmp:
        connector = connector_for(engine, Path(tmp))
        ident = [
            {"email": cs.email_of(i), "phone": cs.phone_of(i), "customer_id": str(i)}
            for i in chosen
        ]
        connector.export(ident[0])
        raw_export(engine, chosen[0])
        pairs = [
            (lambda k=k: connector.export(ident[k]), lambda k=k: raw_export(engine, chosen[k]))
            for k in range(1, rounds + 1)
        ]
        ours, theirs = measure(pairs)
        connector.close()
    engine.dispose()
    return [report("access_export", ours, theirs, "ms", "<= 1.3x")]
