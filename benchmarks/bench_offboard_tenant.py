"""offboard_tenant: a tenant of 100,000 people (quick: 5,000) leaves: ``troth tenants
offboard`` (the export, the erasure batch by batch over troth's store and the connected
shop, an audit entry per person, the certificate) vs the raw set-based statements a
developer would run for the erasure alone (a few UPDATE/DELETE over the whole tenant, no
export, no audit, constant masks where troth computes keyed hashes), in rows/s: the rows
troth found in its store and in the shop (the certificate's counts) over each time.
``offboard_erase`` is the same without the export (troth's time after the export is
handed over: the erasure, its audit entries and the certificate).

Both run over copies of the same databases (troth's store and the shop on SQLite). The
mindlink policy keeps sales values 6 years (restricted), as the baseline does by hand.
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
from benchmarks.bench_erase_queue import ENV, build_shop
from troth.clock import ManualClock
from troth.db import make_engine
from troth.engine import Troth
from troth.home import init_home
from troth.requests.service import RequestService

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import connected_schema as cs

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

_STORE = [
    """UPDATE records SET restricted_to = 'sales', restricted_until = :until
       WHERE tenant_id = :t AND purposes LIKE '%"sales"%'""",
    "DELETE FROM records WHERE tenant_id = :t AND restricted_to IS NULL",
    """DELETE FROM subject_keys WHERE subject_id IN (SELECT id FROM subjects
       WHERE tenant_id = :t) AND NOT EXISTS (SELECT 1 FROM records r WHERE r.subject_id =
       subject_keys.subject_id AND r.ciphertext IS NOT NULL)""",
    """UPDATE subjects SET email_bidx = NULL, phone_bidx = NULL, customer_id_bidx = NULL,
       status = 'erased', erased_at = :now WHERE tenant_id = :t""",
]
_MINE = "customer_id BETWEEN 1 AND :n"
_SHOP = [
    f"""DELETE FROM ticket_messages WHERE ticket_id IN (SELECT id FROM support_tickets
       WHERE {_MINE} OR email IN (SELECT email FROM customers WHERE id BETWEEN 1 AND :n))""",
    f"""UPDATE support_tickets SET email = 'h:erased', subject = '***', customer_id = NULL
       WHERE {_MINE} OR email IN (SELECT email FROM customers WHERE id BETWEEN 1 AND :n)""",
    f"""UPDATE calls SET caller = 'h:erased', customer_id = NULL, destination = CASE WHEN
       started_at <= :traffic THEN 'h:erased' ELSE destination END WHERE {_MINE}
       OR caller IN (SELECT phone FROM customers WHERE id BETWEEN 1 AND :n)""",
    f"DELETE FROM order_items WHERE order_id IN (SELECT id FROM orders WHERE {_MINE})",
    f"DELETE FROM payments WHERE order_id IN (SELECT id FROM orders WHERE {_MINE})",
    f"DELETE FROM invoices WHERE {_MINE} AND issued_at <= :tax",
    f"""UPDATE orders SET ship_name = '***', ship_address = NULL WHERE {_MINE}
       AND id IN (SELECT order_id FROM invoices WHERE {_MINE})""",
    f"""DELETE FROM orders WHERE {_MINE} AND id NOT IN (SELECT order_id FROM invoices
       WHERE {_MINE} AND order_id IS NOT NULL)""",
    f"DELETE FROM addresses WHERE {_MINE}",
    """DELETE FROM newsletter_signups WHERE email IN (SELECT email FROM customers
       WHERE id BETWEEN 1 AND :n)""",
    """UPDATE customers SET email = 'h:erased' || id, phone = NULL, name = '***',
       birth_date = NULL WHERE id BETWEEN 1 AND :n""",
]


def _people(t: Troth, tenant: str, n: int) -> None:
    for start in range(1, n + 1, 1_000):
        rows = [
            {
                "name": f"Person {i}",
                "email": cs.email_of(i),
                "address": f"{i} High Street, Leeds",
                "product": "Mindlink Pro",
                "renewal_date": "2027-01-01",
            }
            for i in range(start, min(start + 1_000, n + 1))
        ]
        t.collect_many("purchase", rows, tenant_id=tenant)


def _raw(store: sa.Engine, shop: sa.Engine, tenant: str, n: int) -> None:
    today = START.date()
    until = date(today.year + 6, today.month, today.day)
    with store.begin() as conn:
        for stmt in _STORE:
            conn.execute(sa.text(stmt), {"t": tenant, "until": until, "now": START})
    with shop.begin() as conn:
        for stmt in _SHOP:
            conn.execute(
                sa.text(stmt),
                {
                    "n": n,
                    "tax": today.replace(year=today.year - 7),
                    "traffic": today.replace(year=today.year - 1),
                },
            )


def run(quick: bool) -> list[str]:
    n = 5_000 if quick else 100_000
    with tempfile.TemporaryDirectory(prefix="troth-bench-") as tmp:
        root = Path(tmp)
        shop_url = f"sqlite:///{root}/shop.db"
        build_shop(shop_url, n)
        ctx = init_home(root / "home", example="mindlink", clock=ManualClock(START))
        t = Troth(ctx)
        folder = ctx.settings.resolved_datasets_dir
        folder.mkdir(exist_ok=True)
        cs.write_declaration(folder / "shop.yaml", ENV)
        tenant = t.access.tenants.create_tenant("Leaving Ltd", "office@leaving.example")
        _people(t, tenant, n)
        ctx.engine.dispose()
        shutil.copy(root / "shop.db", root / "shop-raw.db")
        shutil.copy(ctx.settings.home / "troth.db", root / "troth-raw.db")

        service = RequestService(ctx, environ={ENV: shop_url})
        marks: list[float] = []
        t0 = time.perf_counter()
        cert = service.offboard_tenant(
            tenant, on_export=lambda _link: marks.append(time.perf_counter())
        ).certificate
        troth_s = time.perf_counter() - t0
        export_s = marks[0] - t0
        assert cert["people"] == n, cert
        rows = sum(int(s.get("found", 0)) for s in cert["systems"])
        t.close()

        store = make_engine(f"sqlite:///{root}/troth-raw.db")
        shop = make_engine(f"sqlite:///{root}/shop-raw.db")
        t0 = time.perf_counter()
        _raw(store, shop, tenant, n)
        raw_s = time.perf_counter() - t0
        store.dispose()
        shop.dispose()
    print(
        f"# offboard_tenant: {n:,} people, {rows:,} rows, troth {troth_s:.1f}s (of which the"
        f" export {export_s:.1f}s), raw erasure statements {raw_s:.1f}s",
        file=sys.stderr,
    )
    erase_s = troth_s - export_s
    return [
        report("offboard_tenant", rows / troth_s, rows / raw_s, "rows/s", "report"),
        report("offboard_erase", rows / erase_s, rows / raw_s, "rows/s", "report"),
    ]


if __name__ == "__main__":
    print("\n".join(run(quick="--quick" in sys.argv)))
