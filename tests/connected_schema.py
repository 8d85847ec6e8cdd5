"""A realistic connected database for connector tests and benchmarks: a shop, a help desk
and a telephony system in ten linked tables, some links without foreign keys.

Person ``i`` (1-based) has customer id ``i``, e-mail ``person{i}@example.com`` and phone
``+4470{i:08d}``. Child rows use ids ``i * 10 + k``. People with ``i % 3 == 0`` never
ordered; the others have two orders, each invoiced: the first invoice is recent (kept 7
years for tax law), the second is old enough to have passed its keep period.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

md = sa.MetaData()

customers = sa.Table(
    "customers",
    md,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("email", sa.String(255), nullable=False, index=True),
    sa.Column("phone", sa.String(32), index=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("birth_date", sa.Date),
    sa.Column("created_at", sa.DateTime, nullable=False),
)
addresses = sa.Table(
    "addresses",
    md,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False, index=True),
    sa.Column("street", sa.String(200)),
    sa.Column("city", sa.String(100)),
    sa.Column("postcode", sa.String(20)),
)
orders = sa.Table(
    "orders",
    md,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False, index=True),
    sa.Column("placed_at", sa.DateTime, nullable=False),
    sa.Column("ship_name", sa.String(200)),
    sa.Column("ship_address", sa.String(300)),
    sa.Column("total", sa.Numeric(10, 2), nullable=False),
)
order_items = sa.Table(
    "order_items",
    md,
    sa.Column("order_id", sa.Integer, sa.ForeignKey("orders.id"), primary_key=True),
    sa.Column("line_no", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("sku", sa.String(32), nullable=False),
    sa.Column("qty", sa.Integer, nullable=False),
    sa.Column("price", sa.Numeric(10, 2), nullable=False),
)
payments = sa.Table(
    "payments",
    md,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("order_id", sa.Integer, sa.ForeignKey("orders.id"), nullable=False, index=True),
    sa.Column("card_last4", sa.String(4)),
    sa.Column("card_holder", sa.String(200)),
    sa.Column("amount", sa.Numeric(10, 2), nullable=False),
    sa.Column("paid_at", sa.DateTime, nullable=False),
)
invoices = sa.Table(
    "invoices",
    md,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False, index=True),
    # No foreign key: the billing system was bolted on later.
    sa.Column("order_id", sa.Integer, index=True),
    sa.Column("number", sa.String(32), nullable=False),
    sa.Column("billing_name", sa.String(200), nullable=False),
    sa.Column("billing_address", sa.String(300), nullable=False),
    sa.Column("amount", sa.Numeric(10, 2), nullable=False),
    sa.Column("issued_at", sa.Date, nullable=False),
)
support_tickets = sa.Table(
    "support_tickets",
    md,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("customer_id", sa.Integer, index=True),  # no FK: tickets come from anyone
    sa.Column("email", sa.String(255), nullable=False, index=True),
    sa.Column("subject", sa.String(200), nullable=False),
    sa.Column("opened_at", sa.DateTime, nullable=False),
)
ticket_messages = sa.Table(
    "ticket_messages",
    md,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column(
        "ticket_id", sa.Integer, sa.ForeignKey("support_tickets.id"), nullable=False, index=True
    ),
    sa.Column("sent_at", sa.DateTime, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
)
calls = sa.Table(
    "calls",
    md,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("customer_id", sa.Integer, index=True),  # no FK: the switch knows numbers only
    sa.Column("caller", sa.String(80), nullable=False, index=True),
    sa.Column("destination", sa.String(80), nullable=False),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("duration_s", sa.Integer, nullable=False),
)
newsletter_signups = sa.Table(
    "newsletter_signups",
    md,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("email", sa.String(255), nullable=False, index=True),
    sa.Column("signed_up_at", sa.DateTime, nullable=False),
    sa.Column("ip", sa.String(45)),
)

TABLES = [t.name for t in md.sorted_tables]

DECLARATION = """\
datasets:
  - name: shop
    url_env: {url_env}
    location: GB
    description: Web shop, help desk and telephony
    tables:
      customers:
        primary_key: id
        identity: {{customer_id: id, email: email, phone: phone}}
        erase: delete_row          # rows still referenced by kept invoices are anonymised
        columns:
          id:
          email: {{category: contact, erase: hash}}
          phone: {{category: contact, erase: set_null}}
          name: {{category: identity, erase: mask, field: name}}
          birth_date: {{category: demographic, erase: set_null}}
          created_at: account_history
      addresses:
        primary_key: id
        erase: delete_row
        columns:
          customer_id:
          street: {{category: shipping_address, field: street}}
          city: shipping_address
          postcode: shipping_address
      orders:
        primary_key: id
        erase: delete_row
        columns:
          customer_id:
          placed_at: purchases
          ship_name: {{category: identity, erase: mask, field: name}}
          ship_address: {{category: shipping_address, erase: set_null}}
          total: purchases
      order_items:
        primary_key: [order_id, line_no]
        erase: delete_row
        columns:
          order_id:
          line_no:
          sku: purchases
          qty: purchases
          price: purchases
      payments:
        primary_key: id
        erase: delete_row
        columns:
          order_id:
          card_last4: payment_card
          card_holder: payment_card
          amount: billing
          paid_at: billing
      invoices:
        primary_key: id
        erase: keep
        keep:
          reason: Tax law requires invoices to be kept for 7 years
          purpose: tax_records
          keep_for: 7y
          from: issued_at
        columns:
          customer_id:
          order_id:
          number: billing
          billing_name: billing
          billing_address: billing
          amount: billing
          issued_at: billing
      support_tickets:
        primary_key: id
        identity: {{email: email}}
        columns:
          customer_id: {{erase: set_null}}
          email: {{category: contact, erase: hash}}
          subject: {{category: support, erase: mask}}
          opened_at:
      ticket_messages:
        primary_key: id
        erase: delete_row
        columns:
          ticket_id:
          sent_at: communications
          body: support
      calls:
        primary_key: id
        identity: {{phone: caller}}
        columns:
          customer_id: {{erase: set_null}}
          caller: {{category: call_records, erase: hash}}
          destination:
            category: call_records
            erase: keep
            keep:
              reason: Traffic data is kept one year for billing disputes
              keep_for: 1y
              from: started_at
              then: hash
          started_at:
          duration_s:
      newsletter_signups:
        primary_key: id
        identity: {{email: email}}
        erase: delete_row
        columns:
          email: contact
          signed_up_at: preferences
          ip: technical
    links:
      - addresses.customer_id -> customers.id
      - orders.customer_id -> customers.id
      - order_items.order_id -> orders.id
      - payments.order_id -> orders.id
      - invoices.customer_id -> customers.id
      - invoices.order_id -> orders.id
      - support_tickets.customer_id -> customers.id
      - ticket_messages.ticket_id -> support_tickets.id
      - calls.customer_id -> customers.id
"""


def declaration(url_env: str = "SHOP_DATABASE_URL") -> str:
    return DECLARATION.format(url_env=url_env)


def write_declaration(path: Path, url_env: str = "SHOP_DATABASE_URL") -> Path:
    path.write_text(declaration(url_env))
    return path


def create_schema(engine: sa.Engine) -> None:
    md.create_all(engine)


def email_of(i: int) -> str:
    return f"person{i}@example.com"


def phone_of(i: int) -> str:
    return f"+4470{i:08d}"


def rows_for(i: int) -> dict[str, list[dict[str, Any]]]:
    """Every row of person ``i``, per table (deterministic)."""
    email, phone = email_of(i), phone_of(i)
    out: dict[str, list[dict[str, Any]]] = {t: [] for t in TABLES}
    out["customers"].append(
        dict(
            id=i,
            email=email,
            phone=phone,
            name=f"Person {i}",
            birth_date=date(1970 + i % 30, 1 + i % 12, 1 + i % 28),
            created_at=datetime(2020, 1, 1, 12, 0),
        )
    )
    for k in range(1 + i % 2):
        out["addresses"].append(
            dict(
                id=i * 10 + k,
                customer_id=i,
                street=f"{i} High Street",
                city="Leeds",
                postcode=f"LS{k} {i % 9}AB",
            )
        )
    if i % 3:
        for k, issued in ((1, date(2025, 6, 1)), (2, date(2017, 3, 1))):
            oid = i * 10 + k
            out["orders"].append(
                dict(
                    id=oid,
                    customer_id=i,
                    placed_at=datetime(issued.year, issued.month, 1),
                    ship_name=f"Person {i}",
                    ship_address=f"{i} High Street, Leeds",
                    total=20 * k,
                )
            )
            for line in (1, 2):
                out["order_items"].append(
                    dict(order_id=oid, line_no=line, sku=f"SKU{line}", qty=line, price=10)
                )
            out["payments"].append(
                dict(
                    id=oid,
                    order_id=oid,
                    card_last4=f"{i % 10000:04d}",
                    card_holder=f"PERSON {i}",
                    amount=20 * k,
                    paid_at=datetime(issued.year, issued.month, 1),
                )
            )
            out["invoices"].append(
                dict(
                    id=oid,
                    customer_id=i,
                    order_id=oid,
                    number=f"INV-{oid}",
                    billing_name=f"Person {i}",
                    billing_address=f"{i} High Street, Leeds",
                    amount=20 * k,
                    issued_at=issued,
                )
            )
    # One ticket through the account; every other person also wrote in by e-mail only.
    for k, cid in ((1, i), (2, None)):
        if k == 2 and i % 2:
            continue
        tid = i * 10 + k
        out["support_tickets"].append(
            dict(
                id=tid,
                customer_id=cid,
                email=email,
                subject=f"Help {tid}",
                opened_at=datetime(2025, 9, 1),
            )
        )
        for m in (1, 2):
            out["ticket_messages"].append(
                dict(
                    id=tid * 10 + m,
                    ticket_id=tid,
                    sent_at=datetime(2025, 9, 1, m),
                    body=f"Message {m} from {email}",
                )
            )
    # Calls: one matched to the account, one known by the number only; one recent, one old.
    for k, cid, started in ((1, i, datetime(2025, 12, 1)), (2, None, datetime(2023, 1, 1))):
        out["calls"].append(
            dict(
                id=i * 10 + k,
                customer_id=cid,
                caller=phone,
                destination=f"+1555{(i * 7 + k) % 10_000_000:07d}",
                started_at=started,
                duration_s=60 * k,
            )
        )
    if i % 2:
        out["newsletter_signups"].append(
            dict(id=i, email=email, signed_up_at=datetime(2024, 5, 1), ip=f"10.0.{i % 250}.1")
        )
    return out


def customer(t: Any, i: int, tenant: str) -> str:
    """Person ``i`` buys through a mindlink home (``t``), filed under ``tenant``; their id."""
    data = {
        "name": f"Person {i}",
        "email": email_of(i),
        "address": f"{i} High Street, Leeds",
        "product": "Mindlink Pro",
        "renewal_date": "2027-01-01",
    }
    return str(t.collect("purchase", data, tenant_id=tenant).subject_id)


def rows_of(engine: sa.Engine, i: int) -> dict[str, list[tuple[Any, ...]]]:
    """Person ``i``'s rows in the shop: theirs by customer id, e-mail or phone, and the
    lines and payments of their orders."""
    shop = md.tables
    orders = sa.select(shop["orders"].c.id).where(shop["orders"].c.customer_id == i)
    out: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for name in TABLES:
            t = shop[name]
            conds = []
            if name == "customers":
                conds.append(t.c.id == i)
            if "customer_id" in t.c:
                conds.append(t.c.customer_id == i)
            if "email" in t.c:
                conds.append(t.c.email == email_of(i))
            if "caller" in t.c:
                conds.append(t.c.caller == phone_of(i))
            if "order_id" in t.c:
                conds.append(t.c.order_id.in_(orders))
            if conds:
                rows = conn.execute(sa.select(t).where(sa.or_(*conds)).order_by(*t.primary_key))
                out[name] = [tuple(r) for r in rows]
    return out


def populate(engine: sa.Engine, people: range | list[int]) -> None:
    """Insert the rows of ``people`` (small numbers: tests; benchmarks use SQL instead)."""
    per_table: dict[str, list[dict[str, Any]]] = {t: [] for t in TABLES}
    for i in people:
        for t, rows in rows_for(i).items():
            per_table[t] += rows
    with engine.begin() as conn:
        for t in TABLES:
            if per_table[t]:
                conn.execute(md.tables[t].insert(), per_table[t])


def snapshot(engine: sa.Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted: compare end states."""
    out = {}
    with engine.connect() as conn:
        for t in TABLES:
            table = md.tables[t]
            rows = conn.execute(sa.select(table)).all()
            out[t] = sorted(tuple(str(v) for v in r) for r in rows)
    return out


# -- fixtures (this module is a pytest plugin: tests/conftest.py registers it) ------------


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def shop_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database for the shop schema on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/shop.db"
    if request.param == "postgresql":
        return str(request.getfixturevalue("pg_url"))
    return str(request.getfixturevalue("mysql_url"))
