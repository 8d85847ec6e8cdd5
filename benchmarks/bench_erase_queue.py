"""erase_queue: throughput of 1,000 queued erasures (quick: 100): verified deletion requests
executed by ``RequestService.execute_many`` (batches of 500, set-based) over troth's store
(SQLite) with a connected shop dataset (a SQLite file, 10 people per person erased), vs
the hand-written DELETE/UPDATE statements for the same people, run in a loop over copies
of both databases (target: <= 2x).

troth does per request what the baseline does not: the state moves and events, the audit
entries, the letter to the person; per batch, the connector job (plan, progress, report)
and the identity walk. The shop is built with set-based INSERT ... SELECT over a
recursive sequence; troth's people with ``collect_many``; the queue with one executemany.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

import sqlalchemy as sa

from benchmarks import report
from benchmarks.bench_erase_subject import hand_erase
from troth.clock import ManualClock
from troth.db import make_engine
from troth.engine import Troth
from troth.home import init_home
from troth.keys import Keyring
from troth.requests import _contact
from troth.requests.deadlines import due_date
from troth.requests.service import RequestService
from troth.requests.tables import requests
from troth.store.ids import new_id

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import connected_schema as cs

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ENV = "SHOP_DATABASE_URL"

# The shop's rows for people 1..:n, as bench_erase_subject's _FILL, in SQLite's dialect.
_SEQ = "WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < :n) "
_FILL = [
    _SEQ
    + """INSERT INTO customers SELECT i, 'person' || i || '@example.com',
       '+4470' || printf('%08d', i), 'Person ' || i, date('1970-01-01', '+' || (i % 10000)
       || ' days'), '2020-01-01 12:00:00.000000' FROM seq""",
    _SEQ
    + """INSERT INTO addresses SELECT i * 10 + k, i, i || ' High Street', 'Leeds',
       'LS' || k || ' ' || (i % 9) || 'AB' FROM seq, (SELECT 0 AS k UNION ALL SELECT 1)
       WHERE k <= i % 2""",
    _SEQ
    + """INSERT INTO orders SELECT i * 10 + k, i,
       CASE k WHEN 1 THEN '2025-06-01 00:00:00.000000' ELSE '2017-03-01 00:00:00.000000' END,
       'Person ' || i, i || ' High Street, Leeds', 20 * k
       FROM seq, (SELECT 1 AS k UNION ALL SELECT 2) WHERE i % 3 <> 0""",
    """INSERT INTO order_items SELECT o.id, l, 'SKU' || l, l, 10
       FROM orders o, (SELECT 1 AS l UNION ALL SELECT 2)""",
    """INSERT INTO payments SELECT id, id, printf('%04d', (id / 10) % 10000),
       'PERSON ' || (id / 10), total, placed_at FROM orders""",
    """INSERT INTO invoices SELECT id, customer_id, id, 'INV-' || id, 'Person ' || customer_id,
       customer_id || ' High Street, Leeds', total, substr(placed_at, 1, 10) FROM orders""",
    _SEQ
    + """INSERT INTO support_tickets SELECT i * 10 + k, CASE k WHEN 1 THEN i END,
       'person' || i || '@example.com', 'Help ' || (i * 10 + k), '2025-09-01 00:00:00.000000'
       FROM seq, (SELECT 1 AS k UNION ALL SELECT 2) WHERE k = 1 OR i % 2 = 0""",
    """INSERT INTO ticket_messages SELECT t.id * 10 + m, t.id,
       printf('2025-09-01 %02d:00:00.000000', m), 'Message ' || m || ' from ' || t.email
       FROM support_tickets t, (SELECT 1 AS m UNION ALL SELECT 2)""",
    _SEQ
    + """INSERT INTO calls SELECT i * 10 + k, CASE k WHEN 1 THEN i END,
       '+4470' || printf('%08d', i), '+1555' || printf('%07d', (i * 7 + k) % 10000000),
       CASE k WHEN 1 THEN '2025-12-01 00:00:00.000000' ELSE '2023-01-01 00:00:00.000000' END,
       60 * k FROM seq, (SELECT 1 AS k UNION ALL SELECT 2)""",
    _SEQ
    + """INSERT INTO newsletter_signups SELECT i, 'person' || i || '@example.com',
       '2024-05-01 00:00:00.000000', '10.0.' || (i % 250) || '.1' FROM seq WHERE i % 2 = 1""",
]

# troth's part of one erasure by hand (mindlink: sales values kept 6 years, restricted).
_STORE = [
    """UPDATE records SET restricted_to = 'sales', restricted_until = :until
       WHERE subject_id = :sid AND purposes LIKE '%"sales"%'""",
    "DELETE FROM records WHERE subject_id = :sid AND restricted_to IS NULL",
    """DELETE FROM subject_keys WHERE subject_id = :sid AND NOT EXISTS (SELECT 1 FROM
       records WHERE subject_id = :sid AND ciphertext IS NOT NULL)""",
    """UPDATE subjects SET email_bidx = NULL, phone_bidx = NULL, customer_id_bidx = NULL,
       status = 'erased', erased_at = :now WHERE id = :sid""",
    """UPDATE requests SET state = 'completed', closed_at = :now, updated_at = :now
       WHERE id = :rid""",
]


def build_shop(url: str, people: int) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        for table in cs.md.sorted_tables:  # tables first, secondary indexes after the fill
            conn.execute(sa.schema.CreateTable(table))
        for stmt in _FILL:
            conn.execute(sa.text(stmt), {"n": people})
        for table in cs.md.sorted_tables:
            for index in table.indexes:
                index.create(conn)
    engine.dispose()


def build_queue(t: Troth, chosen: list[int], kind: str = "delete") -> list[str]:
    """The people in troth (bulk collect) and one verified request of ``kind`` each."""
    ctx, now = t.ctx, t.ctx.clock.now()
    sids: list[str] = []
    for start in range(0, len(chosen), 1_000):
        rows = [
            {
                "name": f"Person {i}",
                "email": cs.email_of(i),
                "address": f"{i} High Street, Leeds",
                "product": "Mindlink Pro",
                "renewal_date": "2027-01-01",
            }
            for i in chosen[start : start + 1_000]
        ]
        sids += [r.subject_id for r in t.collect_many("purchase", rows)]
    regime = ctx.policy.default_jurisdiction
    queue = []
    for i, sid in zip(chosen, sids, strict=True):
        rid = new_id()
        queue.append(
            {
                "id": rid,
                "kind": kind,
                "state": "verified",
                "subject_id": sid,
                "email_bidx": ctx.keys.blind_index("email", cs.email_of(i)),
                "contact": _contact.seal_contact(ctx.keys, rid, cs.email_of(i)),
                "regime": regime.value,
                "channel": "api",
                "on_behalf": False,
                "received_at": now,
                "acknowledged_at": now,
                "due_at": due_date(regime, now.date()),
                "verified_at": now,
                "verified_by": "bench",
                "verification": "staff",
                "details": {},
                "code_attempts": 0,
                "codes_sent": 0,
                "updated_at": now,
            }
        )
    with ctx.engine.begin() as conn:
        conn.execute(requests.insert(), queue)
    return [str(q["id"]) for q in queue]


def hand_queue(
    store: sa.Engine,
    shop: sa.Engine,
    keys: Keyring,
    work: list[tuple[int, str, str]],
    now: datetime,
) -> None:
    """The baseline: per person, troth's rows by hand, then the shop's (bench_erase_subject)."""
    today = now.date()
    until = date(today.year + 6, today.month, today.day)
    for i, sid, rid in work:
        with store.begin() as conn:
            for stmt in _STORE:
                conn.execute(sa.text(stmt), {"sid": sid, "rid": rid, "now": now, "until": until})
        hand_erase(shop, keys, i, today)


def run(quick: bool) -> list[str]:
    n = 100 if quick else 1_000
    people = 10 * n
    chosen = [k * 10 + 4 for k in range(n)]  # spread over the shop, every shape of person
    with tempfile.TemporaryDirectory(prefix="troth-bench-") as tmp:
        root = Path(tmp)
        shop_url = f"sqlite:///{root}/shop.db"
        build_shop(shop_url, people)
        ctx = init_home(root / "home", example="mindlink", clock=ManualClock(START))
        t = Troth(ctx)
        folder = ctx.settings.resolved_datasets_dir
        folder.mkdir(exist_ok=True)
        cs.write_declaration(folder / "shop.yaml", ENV)
        queue = build_queue(t, chosen)
        with ctx.engine.connect() as conn:
            sids = list(
                conn.execute(
                    sa.select(requests.c.subject_id).where(requests.c.id.in_(queue))
                ).scalars()
            )
            by_rid = {
                rid: sid
                for rid, sid in conn.execute(sa.select(requests.c.id, requests.c.subject_id))
            }
        assert len(sids) == n
        ctx.engine.dispose()
        # The baseline runs over copies of both databases, as they are before the queue.
        shutil.copy(root / "shop.db", root / "shop-hand.db")
        shutil.copy(ctx.settings.home / "troth.db", root / "troth-hand.db")

        service = RequestService(ctx, environ={ENV: shop_url})
        t0 = time.perf_counter()
        bulk = service.execute_many(queue)
        troth_s = time.perf_counter() - t0
        assert not bulk.failed, bulk.failed
        done = sum(1 for rid in queue if service.get(rid).state.value == "completed")
        assert done == n, f"{done} of {n} erasures completed"
        t.close()

        store = make_engine(f"sqlite:///{root}/troth-hand.db")
        shop = make_engine(f"sqlite:///{root}/shop-hand.db")
        work = [(i, by_rid[rid], rid) for i, rid in zip(chosen, queue, strict=True)]
        t0 = time.perf_counter()
        hand_queue(store, shop, ctx.keys, work, START)
        hand_s = time.perf_counter() - t0
        store.dispose()
        shop.dispose()
    return [report("erase_queue", n / troth_s, n / hand_s, "erasures/s", "<= 2x")]


if __name__ == "__main__":
    print("\n".join(run(quick="--quick" in sys.argv)))
