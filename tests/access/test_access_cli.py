"""The access commands: users, keys api, tenants, grants (CLI over a real home)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from troth.audit.entries import list_entries
from troth.cli import _register, app
from troth.clock import ManualClock
from troth.engine import Troth
from troth.errors import AuthenticationError, NotFound, PermissionDenied
from troth.home import open_context

PW = "correct horse battery staple"


@pytest.fixture(scope="module", autouse=True)
def _commands() -> None:
    _register()


def run(home: Path, *args: str, input: str | None = None, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    env = {"COLUMNS": "300", **(env or {})}  # wide enough that tables do not wrap
    return CliRunner().invoke(
        app, ["--home", str(home), *args], input=input, env=env, catch_exceptions=True
    )


def ok(home: Path, *args: str, **kw: object) -> str:
    res = run(home, *args, **kw)  # type: ignore[arg-type]
    assert res.exit_code == 0, (res.output, res.exception)
    return str(res.output)


def test_users_keys_tenants_grants(home: Any, tmp_path: Path, db_url: str) -> None:
    home_dir = tmp_path / "home"
    home("phone-service", db_url, clock=ManualClock(), context=True).engine.dispose()
    env = {"TROTH_PASSWORD": PW}
    out = ok(
        home_dir, "users", "add", "ann@vendor.example", "--role", "accounts", input=f"{PW}\n{PW}\n"
    )
    assert "added staff ann@vendor.example" in out
    ok(home_dir, "users", "add", "ops@vendor.example", "--vendor-admin", env=env)
    assert "ops@vendor.example" in ok(home_dir, "users", "list")

    out = ok(
        home_dir,
        "keys",
        "api",
        "create",
        "shop",
        "--scope",
        "collect",
        "--scope",
        "use:provide_service",
    )
    key = re.search(r"trk_\S+", out)
    assert key and "not shown again" in out
    listed = ok(home_dir, "keys", "api", "list")
    assert key.group(0) not in listed and "shop" in listed
    kid = re.search(r"API key (\w+)", out)
    assert kid
    ok(home_dir, "keys", "api", "revoke", kid.group(1))
    assert "shop" not in ok(home_dir, "keys", "api", "list")

    tid = re.search(
        r"id (\w+)", ok(home_dir, "tenants", "create", "Acme", "--email", "office@acme.example")
    )
    assert tid
    a = tid.group(1)
    assert "Acme" in ok(home_dir, "tenants", "list")
    link = ok(
        home_dir, "tenants", "invite", a, "boss@acme.example", "--role", "admin", "--show-link"
    )
    assert "/invitations#" in link  # the code after "#": never sent to the server
    # The code is asked for (hidden), never a command-line argument; the whole link works.
    ok(home_dir, "tenants", "accept", env={**env, "TROTH_CODE": link.strip()})
    assert "boss@acme.example" in ok(home_dir, "tenants", "members", a)

    out = ok(
        home_dir,
        "grants",
        "request",
        a,
        "--as",
        "ops@vendor.example",
        "--reason",
        "bug 7",
        "--days",
        "2",
        "--category",
        "call_records",
        env=env,
    )
    gid = re.search(r"grant (\w+)", out)
    assert gid
    # The vendor cannot approve its own request: approving needs the customer's admin.
    res = run(home_dir, "grants", "approve", gid.group(1), "--as", "ops@vendor.example", env=env)
    assert isinstance(res.exception, AuthenticationError | PermissionDenied)
    # An empty --as is nobody's login, never the operator acting for the customer; nor
    # does it invite or revoke as the operator (which leaving --as out does).
    for args in (
        ("grants", "approve", gid.group(1), "--as", ""),
        ("tenants", "invite", a, "x@acme.example", "--as", ""),
        ("tenants", "revoke", a, "boss@acme.example", "--as", ""),
    ):
        res = run(home_dir, *args, env=env)
        assert isinstance(res.exception, AuthenticationError), args
    # An admin of another customer, with their right password: the grant is not theirs,
    # answered as an unknown id (404) and audited under Acme, as the README says.
    bolt = re.search(
        r"id (\w+)", ok(home_dir, "tenants", "create", "Bolt", "--email", "office@bolt.example")
    )
    assert bolt
    link = ok(
        home_dir, "tenants", "invite", bolt.group(1), "boss@bolt.example", "--role", "admin",
        "--show-link",
    )  # fmt: skip
    ok(home_dir, "tenants", "accept", env={**env, "TROTH_CODE": link.strip()})
    res = run(home_dir, "grants", "approve", gid.group(1), "--as", "boss@bolt.example", env=env)
    assert isinstance(res.exception, NotFound), (res.output, res.exception)
    t = Troth(open_context(home_dir))
    assert t.access.grants.get_grant(gid.group(1)).decided_at is None
    [entry] = [
        e.entry
        for e in list_entries(t.ctx, limit=500)
        if e.entry.action == "grant_approve" and e.entry.outcome.value == "deny"
    ]
    assert entry.reason == "not_a_member" and entry.tenant_id == a
    t.close()
    assert "approved" in ok(
        home_dir, "grants", "approve", gid.group(1), "--as", "boss@acme.example", env=env
    )
    assert "bug 7" in ok(home_dir, "grants", "list", "--tenant", a)
    ok(home_dir, "grants", "accesses", a)
    ok(home_dir, "tenants", "invite", a, "m@acme.example", "--as", "boss@acme.example", env=env)
    ok(home_dir, "users", "disable", "ann@vendor.example")
    assert "disabled" in ok(home_dir, "users", "list")
    assert "key-encryption key v2" in ok(home_dir, "keys", "rotate")
