"""PostgreSQL row-level security: raw SQL as the application role reads nothing of
another tenant (P13)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import text

from troth.access import drop_app_role, enable_tenant_rls, tenant_connection
from troth.clock import ManualClock
from troth.engine import Troth
from troth.errors import ConfigError


def _home(home: Any, url: str) -> tuple[Troth, str, str]:
    t = home("phone-service", url, clock=ManualClock())
    a = t.access.tenants.create_tenant("Acme", "office@acme.example")
    b = t.access.tenants.create_tenant("Bolt", "office@bolt.example")
    for tid, ext in ((a, "1"), (b, "2"), (b, "3")):
        t.collect(
            "call_record_import",
            {"extension": ext, "destination_number": "+441234567890"},
            tenant_id=tid,
        )
    return t, a, b


def test_rls_isolates_tenants_for_the_app_role(home: Any, pg_url: str) -> None:
    t, a, b = _home(home, pg_url)
    role = f"troth_app_{uuid.uuid4().hex[:8]}"
    try:
        enable_tenant_rls(t.ctx.engine, role)
        enable_tenant_rls(t.ctx.engine, role)  # idempotent
        with tenant_connection(t.ctx.engine, a, role=role) as conn:
            assert conn.execute(text("SELECT current_user")).scalar() == role
            rows = conn.execute(text("SELECT tenant_id FROM records")).scalars().all()
            assert rows and set(rows) == {a}
            assert (
                conn.execute(
                    text("SELECT count(*) FROM records WHERE tenant_id = :b"), {"b": b}
                ).scalar()
                == 0
            )
            assert set(conn.execute(text("SELECT tenant_id FROM subjects")).scalars()) == {a}
            # Data keys follow their subject.
            keys = conn.execute(text("SELECT count(*) FROM subject_keys")).scalar()
            assert keys == 1
            # Writing into another tenant is refused by the policy's WITH CHECK.
            with pytest.raises(sa.exc.ProgrammingError, match="row-level security"):
                conn.execute(text("UPDATE subjects SET tenant_id = :b"), {"b": b})
        with tenant_connection(t.ctx.engine, b, role=role) as conn:
            assert conn.execute(text("SELECT count(*) FROM records")).scalar() == 4
        # Without a tenant set, the application role sees nothing at all.
        with t.ctx.engine.begin() as conn:
            conn.execute(text(f'SET LOCAL ROLE "{role}"'))
            assert conn.execute(text("SELECT count(*) FROM records")).scalar() == 0
            bypass = conn.execute(
                text("SELECT rolbypassrls FROM pg_roles WHERE rolname = :r"), {"r": role}
            ).scalar()
            assert bypass is False
    finally:
        t.close()
        drop_app_role(sa.create_engine(pg_url), role)


def test_rls_login_role_connecting_directly(home: Any, pg_url: str) -> None:
    t, _a, b = _home(home, pg_url)
    role = f"troth_app_{uuid.uuid4().hex[:8]}"
    try:
        enable_tenant_rls(t.ctx.engine, role, password="app-secret-pw")
        url = sa.engine.make_url(pg_url).set(username=role, password="app-secret-pw")
        eng = sa.create_engine(url)
        try:
            with eng.begin() as conn:
                conn.execute(text("SELECT set_config('troth.tenant_id', :t, true)"), {"t": b})
                got = set(conn.execute(text("SELECT tenant_id FROM records")).scalars())
                assert got == {b}
        finally:
            eng.dispose()
    finally:
        t.close()
        drop_app_role(sa.create_engine(pg_url), role)


def test_rls_needs_postgresql(home: Any) -> None:
    t = home("phone-service", clock=ManualClock())
    with pytest.raises(ConfigError, match="PostgreSQL"):
        enable_tenant_rls(t.ctx.engine, "troth_app")
    t.close()
