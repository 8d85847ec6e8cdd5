"""erase_subject: erase one person across the 10-table shop schema holding 1M people
(quick: 50k) on PostgreSQL with troth's connector (a resumable job, one transaction) vs the
hand-written DELETE/UPDATE statements for the same effect (target: <= 1.3x).

The data is built once per size in schema ``bench_connectors_<N>`` with set-based
INSERT ... SELECT generate_series, and reused by later runs.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from benchmarks import report
from troth.clock import ManualClock
from troth.connectors import Connector, JobStore, parse_datasets
from troth.db import make_engine
from troth.keys import Keyring

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import connected_schema as cs

PG_URL = os.environ.get("TROTH_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

_FILL = [
    """INSERT INTO customers SELECT i, 'person' || i || '@example.com',
       '+4470' || lpad(i::text, 8, '0'), 'Person ' || i, date '1970-01-01' + (i % 10000),
       timestamp '2020-01-01 12:00' FROM generate_series(1, :n) i""",
    """INSERT INTO addresses SELECT i * 10 + k, i, i || ' High Street', 'Leeds',
       'LS' || k || ' ' || (i % 9) || 'AB'
       FROM generate_series(1, :n) i, generate_series(0, 1) k WHERE k <= i % 2""",
    """INSERT INTO orders SELECT i * 10 + k, i,
       CASE k WHEN 1 THEN timestamp '2025-06-01' ELSE timestamp '2017-03-01' END,
       'Person ' || i, i || ' High Street, Leeds', 20 * k
       FROM generate_series(1, :n) i, generate_series(1, 2) k WHERE i % 3 <> 0""",
    """INSERT INTO order_items SELECT o.id, l, 'SKU' || l, l, 10
       FROM orders o, generate_series(1, 2) l""",
    """INSERT INTO payments SELECT id, id, lpad(((id / 10) % 10000)::text, 4, '0'),
       'PERSON ' || (id / 10), total, placed_at FROM orders""",
    """INSERT INTO invoices SELECT id, customer_id, id, 'INV-' || id, 'Person ' || customer_id,
       customer_id || ' High Street, Leeds', total, placed_at::date FROM orders""",
    """INSERT INTO support_tickets SELECT i * 10 + k, CASE k WHEN 1 THEN i END,
       'person' || i || '@example.com', 'Help ' || (i * 10 + k), timestamp '2025-09-01'
       FROM generate_series(1, :n) i, generate_series(1, 2) k WHERE k = 1 OR i % 2 = 0""",
    """INSERT INTO ticket_messages SELECT t.id * 10 + m, t.id,
       timestamp '2025-09-01' + m * interval '1 hour', 'Message ' || m || ' from ' || t.email
       FROM support_tickets t, generate_series(1, 2) m""",
    """INSERT INTO calls SELECT i * 10 + k, CASE k WHEN 1 THEN i END,
       '+4470' || lpad(i::text, 8, '0'), '+1555' || lpad(((i * 7 + k) % 10000000)::text, 7, '0'),
       CASE k WHEN 1 THEN timestamp '2025-12-01' ELSE timestamp '2023-01-01' END, 60 * k
       FROM generate_series(1, :n) i, generate_series(1, 2) k""",
    """INSERT INTO newsletter_signups SELECT i, 'person' || i || '@example.com',
       timestamp '2024-05-01', '10.0.' || (i % 250) || '.1'
       FROM generate_series(1, :n) i WHERE i % 2 = 1""",
]


def shop_engine(people: int) -> sa.Engine | None:
    """An engine on the shop schema holding ``people`` people (built if missing), or None
    when PostgreSQL is unreachable."""
    schema = f"bench_connectors_{people}"
    try:
        admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception:
        return None
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    with admin.connect() as conn:
        ready = conn.execute(
            sa.text(
                "SELECT 1 FROM information_schema.tables WHERE table_schema = :s"
                " AND table_name = 'bench_ready'"
            ),
            {"s": schema},
        ).first()
        if ready is None:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(url)
    if ready is None:
        _build(engine, people)
    return engine


def _build(engine: sa.Engine, people: int) -> None:
    started = time.perf_counter()
    with engine.begin() as conn:
        for table in cs.md.sorted_tables:  # tables and keys first, secondary indexes after
            conn.execute(sa.schema.CreateTable(table))
        for stmt in _FILL:
            conn.execute(sa.text(stmt), {"n": people})
        for table in cs.md.sorted_tables:
            for index in table.indexes:
                index.create(conn)
        conn.execute(sa.text("CREATE TABLE bench_ready (people integer)"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("ANALYZE"))
    print(
        f"# built the shop schema for {people:,} people in {time.perf_counter() - started:.0f}s",
        file=sys.stderr,
        flush=True,
    )


def connector_for(engine: sa.Engine, workdir: Path) -> Connector:
    clock = ManualClock()
    store = JobStore(make_engine(f"sqlite:///{workdir}/troth.db"), clock)
    store.create_tables()
    return Connector(
        parse_datasets(cs.declaration()),
        store=store,
        keys=Keyring.create(workdir / "keys.json"),
        clock=clock,
        engines={"shop": engine},
    )


def pick_people(engine: sa.Engine, count: int, people: int) -> list[int]:
    """Richest-shape people (orders, two tickets, i % 6 in (2, 4)) not yet erased."""
    import random

    rng = random.Random(time.time_ns())
    out: list[int] = []
    with engine.connect() as conn:
        while len(out) < count:
            i = rng.randrange(1, people // 6) * 6 + rng.choice((2, 4))
            if i in out or i > people:
                continue
            email = conn.execute(
                sa.text("SELECT email FROM customers WHERE id = :i"), {"i": i}
            ).scalar()
            if email == cs.email_of(i):
                out.append(i)
    return out


def hand_erase(engine: sa.Engine, keys: Keyring, i: int, today: date) -> None:
    """What a careful engineer would write by hand for the same effect."""
    email, phone = cs.email_of(i), cs.phone_of(i)

    def h(value: str, length: int) -> str:
        return ("h:" + keys.mac("connector:shop", value.encode()).hex())[:length]

    p = {
        "id": i,
        "email": email,
        "phone": phone,
        "tax": today.replace(year=today.year - 7),
        "traffic": today.replace(year=today.year - 1),
    }
    with engine.begin() as conn:
        x = conn.execute
        x(
            sa.text(
                "DELETE FROM ticket_messages WHERE ticket_id IN (SELECT id FROM"
                " support_tickets WHERE customer_id = :id OR email = :email)"
            ),
            p,
        )
        x(
            sa.text(
                "UPDATE support_tickets SET email = :h, subject = '***', customer_id = NULL"
                " WHERE customer_id = :id OR email = :email"
            ),
            {**p, "h": h(email, 255)},
        )
        old = conn.execute(
            sa.text(
                "SELECT DISTINCT destination FROM calls WHERE (caller = :phone"
                " OR customer_id = :id) AND started_at <= :traffic"
            ),
            p,
        )
        dest = {d: h(d, 80) for (d,) in old}
        x(
            sa.update(cs.calls)
            .where(sa.or_(cs.calls.c.caller == phone, cs.calls.c.customer_id == i))
            .values(
                caller=h(phone, 80),
                customer_id=None,
                destination=sa.case(
                    dest, value=cs.calls.c.destination, else_=cs.calls.c.destination
                )
                if dest
                else cs.calls.c.destination,
            )
        )
        x(
            sa.text(
                "DELETE FROM order_items WHERE order_id IN"
                " (SELECT id FROM orders WHERE customer_id = :id)"
            ),
            p,
        )
        x(
            sa.text(
                "DELETE FROM payments WHERE order_id IN"
                " (SELECT id FROM orders WHERE customer_id = :id)"
            ),
            p,
        )
        x(sa.text("DELETE FROM invoices WHERE customer_id = :id AND issued_at <= :tax"), p)
        x(
            sa.text(
                "UPDATE orders SET ship_name = '***', ship_address = NULL WHERE customer_id"
                " = :id AND id IN (SELECT order_id FROM invoices WHERE customer_id = :id)"
            ),
            p,
        )
        x(
            sa.text(
                "DELETE FROM orders WHERE customer_id = :id AND id NOT IN (SELECT order_id"
                " FROM invoices WHERE customer_id = :id AND order_id IS NOT NULL)"
            ),
            p,
        )
        x(sa.text("DELETE FROM addresses WHERE customer_id = :id"), p)
        x(sa.text("DELETE FROM newsletter_signups WHERE email = :email"), p)
        x(
            sa.text(
                "UPDATE customers SET email = :h, phone = NULL, name = '***',"
                " birth_date = NULL WHERE id = :id"
            ),
            {**p, "h": h(email, 255)},
        )


def measure(pairs: list[tuple[Callable[[], Any], Callable[[], Any]]]) -> tuple[float, float]:
    """Median milliseconds of troth and baseline, run alternately."""
    ours, theirs = [], []
    for troth_call, base_call in pairs:
        t0 = time.perf_counter()
        troth_call()
        t1 = time.perf_counter()
        base_call()
        t2 = time.perf_counter()
        ours.append((t1 - t0) * 1000)
        theirs.append((t2 - t1) * 1000)
    return statistics.median(ours), statistics.median(theirs)


def run(quick: bool) -> list[str]:
    people = 50_000 if quick else 1_000_000
    engine = shop_engine(people)
    if engine is None:
        line = f"erase_subject: skipped (PostgreSQL not reachable at {PG_URL})"
        print(line, file=sys.stderr)
        return [line]
    rounds = 15 if quick else 40
    with tempfile.TemporaryDirectory() as tmp:
        connector = connector_for(engine, Path(tmp))
        today = connector.clock.now().date()
        chosen = pick_people(engine, 2 * (rounds + 3), people)
        ident = [
            {"email": cs.email_of(i), "phone": cs.phone_of(i), "customer_id": str(i)}
            for i in chosen
        ]
        # warm up: reflection, statement caches, connections
        connector.erase(ident[0])
        hand_erase(engine, connector.keys, chosen[1], today)
        connector.erase(ident[2])
        hand_erase(engine, connector.keys, chosen[3], today)
        pairs = [
            (
                lambda k=k: connector.erase(ident[k]),
                lambda k=k: hand_erase(engine, connector.keys, chosen[k + 1], today),
            )
            for k in range(4, 4 + 2 * rounds, 2)
        ]
        ours, theirs = measure(pairs)
        connector.close()
    engine.dispose()
    return [report("erase_subject", ours, theirs, "ms", "<= 1.3x")]
