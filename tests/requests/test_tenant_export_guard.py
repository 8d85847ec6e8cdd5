"""Who may make a customer's whole export, and who may take it.

Before: any staff role (``support``, ``accounts``, a role with no power at all) ran
``troth requests export-tenant TENANT --actor staff:...`` and got every person of the
customer, every category, unmasked by no grant. Now the vendor's side makes a customer's
export only with the office power ``manage_tenants`` (the power that offboards, whose export
this is), decided by troth.office inside the requests service, the refusal audited
(``office.manage_tenants``, ``power_not_granted``) and nothing made."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from cli_runner import run
from troth.audit.entries import list_entries
from troth.errors import PermissionDenied, Refused
from troth.gate import SYSTEM, Actor, ActorKind
from troth.requests.tables import request_exports

PW = "a long test password"


@pytest.fixture
def acme(home: Any, db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """A phone-service home (TROTH_HOME) with customer Acme, one of its people, and the
    vendor's staff of each role."""
    t = home("phone-service", None if db_url.startswith("sqlite") else db_url)
    monkeypatch.setenv("TROTH_HOME", str(t.ctx.home))
    monkeypatch.chdir(tmp_path)
    tid = t.access.tenants.create_tenant("Acme Ltd", "office@acme.example")
    t.collect(
        "customer_signup",
        {"company_name": "Acme", "name": "Ann", "email": "ann@acme.example"},
        tenant_id=tid,
    )
    staff = {}
    for name, role in (
        ("sue", "support"),
        ("al", "accounts"),
        ("vic", "vendor_admin"),
        ("po", "privacy_office"),
    ):
        user = t.access.accounts.add_user(f"{name}@vendor.example", role=role, password=PW)
        staff[name] = user.id
    t.tid, t.staff = tid, staff
    return t


def _exports(t: Any) -> int:
    with t.ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(request_exports)).scalar_one())


@pytest.mark.parametrize("who", ["sue", "al", "vic"])
def test_a_staff_role_without_the_power_is_refused_on_the_cli(
    acme: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path, who: str
) -> None:
    out = tmp_path / "acme.zip"
    code, stdout, err = run(
        capsys, "requests", "export-tenant", "Acme Ltd", "-o", str(out),
        "--actor", f"staff:{who}@vendor.example",
    )  # fmt: skip
    assert code == 3, stdout
    assert "power_not_granted" in err and "manage_tenants" in err
    assert not out.exists() and _exports(acme) == 0
    (denied,) = list_entries(acme.ctx, action="office.manage_tenants", outcome="deny")
    assert denied.entry.actor == f"staff:{acme.staff[who]}"
    assert denied.entry.reason == "power_not_granted"
    assert denied.entry.tenant_id == acme.tid
    assert not list_entries(acme.ctx, action="tenant.export", outcome="allow")
    assert "ann@acme.example" not in stdout + err


@pytest.mark.parametrize("role", ["support", "accounts", "vendor_admin", "no_such_role"])
def test_a_staff_role_without_the_power_is_refused_from_python(acme: Any, role: str) -> None:
    with pytest.raises(Refused) as got:
        acme.requests.export_tenant(acme.tid, actor=Actor(ActorKind.staff, "x", role=role))
    assert got.value.reason in ("power_not_granted", "role_not_allowed")
    assert _exports(acme) == 0


def test_the_privacy_office_and_troth_itself_still_export(
    acme: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "acme.zip"
    code, _, err = run(
        capsys, "requests", "export-tenant", "Acme Ltd", "-o", str(out),
        "--actor", "staff:po@vendor.example",
    )  # fmt: skip
    assert code == 0, err
    assert out.stat().st_size > 0
    code, _, err = run(capsys, "requests", "export-tenant", "Acme Ltd", "-o", str(out))
    assert code == 0, err
    assert not list_entries(acme.ctx, outcome="deny")


def test_keys_and_the_vendors_admins_stay_refused(acme: Any) -> None:
    """A key bound to no customer, even with ``admin``, and a vendor admin: as before."""
    for actor in (
        Actor(ActorKind.application, "k", scopes=frozenset({"admin"})),
        Actor(ActorKind.vendor_admin, "v"),
    ):
        with pytest.raises(PermissionDenied):
            acme.requests.export_tenant(acme.tid, actor=actor)
    assert _exports(acme) == 0
    assert SYSTEM.kind is ActorKind.system
