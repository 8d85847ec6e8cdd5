"""`troth grants revoke --as` answers as approve and refuse do (trial #20, F8): an admin of
another customer, with their right password, was told "wrong e-mail or password" and a
failed login was filed under the grant's customer (counting towards a lockout), where
approve and refuse answer the unknown grant's 404, audited ``not_a_member`` under the
customer the grant belongs to (README, "The customer pages"). SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from _http import PASSWORD
from hotel_samples import Hotels, hotels
from troth.audit.entries import list_entries
from troth.cli import _register, app
from troth.errors import AuthenticationError, NotFound, PermissionDenied

ENV = {"TROTH_PASSWORD": PASSWORD, "COLUMNS": "300"}


@pytest.fixture(scope="module", autouse=True)
def _commands() -> None:
    _register()


def _run(home: Path, *args: str, password: str = PASSWORD) -> Any:
    env = {**ENV, "TROTH_PASSWORD": password}
    return CliRunner().invoke(app, ["--home", str(home), *args], env=env, catch_exceptions=True)


@pytest.fixture
def grant(home: Any, tmp_path: Path, db_url: str) -> tuple[Hotels, Path, str]:
    """Madrid's and Roma's admins, Madrid's front desk, and a grant the vendor's admin
    asked Madrid for."""
    h = hotels(home, tmp_path, db_url)
    h.member(h.madrid, "admin@sol.example", "admin")
    h.member(h.roma, "admin@roma.example", "admin")
    h.member(h.madrid, "desk@sol.example", role="front_desk")
    where = tmp_path / "home"
    res = _run(where, "users", "add", "ops@tallyroom.example", "--vendor-admin")
    assert res.exit_code == 0, res.output
    res = _run(
        where, "grants", "request", h.madrid, "--as", "ops@tallyroom.example",
        "--reason", "bug 7", "--days", "1", "-q",
    )  # fmt: skip
    assert res.exit_code == 0, (res.output, res.exception)
    return h, where, res.output.strip()


def _denials(h: Hotels, action: str) -> list[Any]:
    found = list_entries(h.t.ctx, action=action, outcome="deny", newest_first=True, limit=1000)
    return [e.entry for e in found]


def test_another_customers_admin_is_answered_as_an_unknown_grant(grant: Any) -> None:
    h, where, gid = grant
    answers = {}
    for verb in ("approve", "refuse", "revoke"):
        res = _run(where, "grants", verb, gid, "--as", "admin@roma.example")
        # Before the fix revoke raised AuthenticationError ("wrong e-mail or password").
        assert isinstance(res.exception, NotFound), (verb, res.output, res.exception)
        answers[verb] = str(res.exception)
        [entry] = _denials(h, f"grant_{verb}")
        assert entry.reason == "not_a_member" and entry.tenant_id == h.madrid
        assert entry.actor.startswith("tenant_admin:") and entry.details["grant"] == gid
    assert len(set(answers.values())) == 1  # one answer, the unknown grant's
    # An id of no grant at all: the same answer for the three verbs.
    unknown = {
        verb: _run(where, "grants", verb, "0" * 32, "--as", "admin@roma.example").exception
        for verb in ("approve", "refuse", "revoke")
    }
    assert all(isinstance(e, NotFound) for e in unknown.values())
    assert len({str(e) for e in unknown.values()}) == 1
    # No failed login anywhere: the password was right; nothing was changed.
    assert _denials(h, "login") == []
    assert h.t.access.grants.get_grant(gid).status.value == "requested"


def test_a_wrong_password_is_a_failed_login_of_the_admins_own_customer(grant: Any) -> None:
    h, where, gid = grant
    res = _run(where, "grants", "revoke", gid, "--as", "admin@roma.example", password="wrong!")
    assert isinstance(res.exception, AuthenticationError)
    [login] = _denials(h, "login")
    assert login.tenant_id in (h.roma, None) and login.tenant_id != h.madrid
    assert _denials(h, "grant_revoke") == []


@pytest.mark.parametrize("gid", ["nope", "x" * 300, "' OR 1=1 --"])
def test_an_unknown_or_malformed_grant_id_is_unknown(grant: Any, gid: str) -> None:
    h, where, _ = grant
    for as_ in ("admin@sol.example", "admin@roma.example"):
        res = _run(where, "grants", "revoke", gid, "--as", as_)
        assert isinstance(res.exception, NotFound), (res.output, res.exception)
    assert _denials(h, "login") == []


def test_the_grants_own_admin_revokes_and_no_one_else_of_its_customer(grant: Any) -> None:
    h, where, gid = grant
    res = _run(where, "grants", "revoke", gid, "--as", "desk@sol.example")
    assert isinstance(res.exception, PermissionDenied)
    [entry] = _denials(h, "grant_revoke")
    assert entry.reason == "not_tenant_admin" and entry.tenant_id == h.madrid
    # The vendor's admin needs --vendor (it is no customer's member).
    res = _run(where, "grants", "revoke", gid, "--as", "ops@tallyroom.example")
    assert isinstance(res.exception, AuthenticationError)
    res = _run(where, "grants", "revoke", gid, "--as", "admin@sol.example")
    assert res.exit_code == 0 and "revoked" in res.output, (res.output, res.exception)


def test_the_vendor_admin_revokes_its_own_grant(grant: Any) -> None:
    h, where, gid = grant
    res = _run(where, "grants", "revoke", gid, "--as", "ops@tallyroom.example", "--vendor")
    assert res.exit_code == 0 and "revoked" in res.output, (res.output, res.exception)
    assert h.t.access.grants.get_grant(gid).status.value == "revoked"
