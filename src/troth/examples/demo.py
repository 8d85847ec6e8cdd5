"""`troth demo`: a home with the phone-service example and realistic synthetic data.

Several customer tenants with their admins and members, thousands of callers with call
records, staff of the vendor (privacy office, support, a vendor admin), cookie choices,
data-subject requests close to their legal deadline, a support-access grant waiting for a
customer's approval, and one breach. Every figure is generated here, from a fixed seed.
"""

from __future__ import annotations

import random
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from troth.clock import ManualClock
from troth.context import Context
from troth.errors import ConfigError
from troth.gate import Actor, ActorKind

MARKER = ".troth-demo"
PASSWORD = "demo-password-1"  # noqa: S105 - printed for the demo logins, nothing else

FIRST = [
    "Ava",
    "Ben",
    "Chloe",
    "Dev",
    "Ella",
    "Finn",
    "Grace",
    "Hugo",
    "Isla",
    "Jack",
    "Kiri",
    "Liam",
    "Mia",
    "Noah",
    "Olive",
    "Priya",
    "Quinn",
    "Ravi",
    "Sofia",
    "Tane",
    "Uma",
    "Vik",
    "Wren",
    "Yusuf",
    "Zoe",
]
LAST = [
    "Adams",
    "Brown",
    "Chen",
    "Davies",
    "Evans",
    "Fraser",
    "Green",
    "Hughes",
    "Iqbal",
    "Jones",
    "King",
    "Lewis",
    "Morgan",
    "Ngata",
    "Owen",
    "Patel",
    "Quigley",
    "Reid",
    "Smith",
    "Taylor",
]
COMPANIES = ["Harbour Logistics", "Kowhai Dental", "Northwind Legal", "Tasman Surveys"]


@dataclass
class DemoInfo:
    home: Path
    tenants: dict[str, str] = field(default_factory=dict)  # name -> id
    logins: list[tuple[str, str, str]] = field(default_factory=list)  # who, email, password
    people: int = 0
    call_records: int = 0
    notes: list[str] = field(default_factory=list)


def build_demo(home: Path | str, *, people: int = 2000, seed: int = 7) -> tuple[Context, DemoInfo]:
    """Create (or re-create) the demo home and fill it. Refuses to touch a directory that
    is not an earlier demo."""
    from troth.engine import Troth
    from troth.home import init_home

    home = Path(home).resolve()
    if home.exists() and any(home.iterdir()):
        if not (home / MARKER).exists():
            raise ConfigError(f"{home} exists and is not a troth demo; choose another --home")
        shutil.rmtree(home)
    ctx = init_home(home, example="phone-service")
    (home / MARKER).write_text("made by `troth demo`; `make demo` replaces this folder\n")
    t = Troth(ctx)
    rng = random.Random(seed)
    info = DemoInfo(home=home)
    vendor_id = _demo_staff(t, info)
    # Customers (tenants), each with an admin and a member, their users and call records.
    per_tenant = max(1, people // len(COMPANIES))
    for n, company in enumerate(COMPANIES):
        _demo_tenant(t, info, rng, company, per_tenant, first=n == 0, vendor_id=vendor_id)
    _demo_requests(t, info)
    _demo_breach(t, info)
    return ctx, info


def _demo_staff(t: Any, info: DemoInfo) -> str:
    """The vendor's own staff and its admin; returns the admin's id."""
    access = t.access
    for who, email, role in (
        ("privacy officer", "privacy@phone-service.example", "privacy_office"),
        ("support agent", "support@phone-service.example", "support"),
    ):
        access.accounts.add_user(
            email, kind="staff", role=role, password=PASSWORD, display_name=who
        )
        info.logins.append((f"console ({who})", email, PASSWORD))
    vendor = access.accounts.add_user(
        "ops@phone-service.example",
        kind="vendor_admin",
        password=PASSWORD,
        display_name="vendor admin",
    )
    info.logins.append(("console (vendor admin)", "ops@phone-service.example", PASSWORD))
    return str(vendor.id)


def _demo_tenant(
    t: Any,
    info: DemoInfo,
    rng: random.Random,
    company: str,
    per_tenant: int,
    *,
    first: bool,
    vendor_id: str,
) -> None:
    """One customer: its admin and member, its users and their call records; the vendor
    asks the first one for a grant."""
    access = t.access
    domain = company.lower().split()[0] + ".example"
    tid = access.tenants.create_tenant(company, f"admin@{domain}")
    info.tenants[company] = tid
    for local, role, label in (("admin", "admin", "admin"), ("staff", "member", "member")):
        access.accounts.add_user(
            f"{local}@{domain}",
            kind="tenant_member",
            tenant_id=tid,
            tenant_role=role,
            password=PASSWORD,
            display_name=f"{company} {label}",
        )
    if first:
        info.logins.append((f"tenant admin ({company})", f"admin@{domain}", PASSWORD))
    t.collect(
        "customer_signup",
        {"company_name": company, "name": f"{company} admin", "email": f"admin@{domain}"},
        tenant_id=tid,
    )
    rows = []
    for i in range(per_tenant):
        first_name, last = rng.choice(FIRST), rng.choice(LAST)
        rows.append(
            {"name": f"{first_name} {last}", "email": f"{first_name}.{last}.{i}@{domain}".lower()}
        )
    users = t.collect_many("user_invitation", rows, tenant_id=tid)
    info.people += len(users)
    calls, ids = _demo_calls(rng, [r.subject_id for r in users])
    for s in range(0, len(calls), 2000):
        t.collect_many(
            "call_record_import",
            calls[s : s + 2000],
            subject_ids=ids[s : s + 2000],
            tenant_id=tid,
        )
    info.call_records += len(calls)
    if first:
        # The vendor asks to look at this customer's call records for a ticket.
        access.grants.request_grant(
            tid,
            by=Actor(ActorKind.vendor_admin, vendor_id),
            reason="Ticket 4711: calls to +64 9 drop after 30 s",
            ticket="4711",
            categories=["call_records"],
            duration=timedelta(days=3),
        )


def _demo_calls(
    rng: random.Random, subject_ids: list[str]
) -> tuple[list[dict[str, Any]], list[str]]:
    """One to four call records per person, and whose each one is."""
    calls: list[dict[str, Any]] = []
    ids: list[str] = []
    start = datetime(2026, 10, 1, tzinfo=UTC)
    for sid in subject_ids:
        for _ in range(rng.randint(1, 4)):
            when = start + timedelta(minutes=rng.randint(0, 60 * 24 * 50))
            calls.append(
                {
                    "extension": str(rng.randint(200, 299)),
                    "started_at": when.isoformat(),
                    "duration_seconds": rng.randint(5, 1800),
                    "cost": round(rng.uniform(0.01, 4.5), 2),
                    "destination_number": (
                        f"+64 9 {rng.randint(200, 999)} {rng.randint(1000, 9999)}"
                    ),
                }
            )
            ids.append(sid)
    return calls, ids


def _demo_requests(t: Any, info: DemoInfo) -> None:
    """A few data-subject requests, some close to their deadline."""
    try:
        service = t.requests
        opener = service.open
    except (ImportError, AttributeError):
        info.notes.append("requests: not available in this build")
        return
    tid = next(iter(info.tenants.values()))
    from sqlalchemy import select

    from troth.store.tables import records

    with t.ctx.engine.connect() as conn:
        emails = [
            v.strip('"')
            for v in conn.execute(
                select(records.c.value)
                .where(records.c.field == "email", records.c.tenant_id == tid)
                .limit(4)
            ).scalars()
        ]
    # Received some weeks ago, so the dashboard shows requests close to (and past) their
    # legal deadline: the requests are opened under a clock set back to those days.
    real_clock = t.ctx.clock
    now = real_clock.now()
    ages = (("access", 27), ("delete", 24), ("correct", 33), ("restrict", 3))
    try:
        for (kind, days), email in zip(ages, emails, strict=False):
            t.ctx.clock = ManualClock(now - timedelta(days=days))
            try:
                opener(kind, email=email, channel="email")
            except Exception as exc:  # the demo goes on; say what did not work
                info.notes.append(f"request {kind}: {exc}")
    finally:
        t.ctx.clock = real_clock


def _demo_breach(t: Any, info: DemoInfo) -> None:
    now = t.ctx.clock.now()
    try:
        t.breaches.record_breach(
            title="Lost laptop with a call-record export",
            description="A support laptop holding one customer's call-record export was stolen.",
            # The export was taken today, after the call records were loaded.
            discovered_at=now,
            occurred_from=now - timedelta(hours=6),
            occurred_until=now,
            categories=["call_records", "destination_numbers"],
            high_risk=True,
        )
    except Exception as exc:
        info.notes.append(f"breach: {exc}")
