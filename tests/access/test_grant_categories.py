"""P14: a support grant opens only what the vendor's staff member asking for it may read
(new-user trial: a staff member whose role reads no call records could ask a customer for,
and be granted, call records: a grant that showed them nothing while telling the customer
it did). Asking for a category the role never reads is refused, naming what it reads; a
grant asked for before the role (or the policy) stopped reading a category is refused at
approval alike; a category that is not the policy's, or not a name at all, is refused
with the policy's categories; another customer's grant id answers as an unknown one. On
SQLite and PostgreSQL, through Python, the CLI and the pages."""

from __future__ import annotations

import html
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from _http import PASSWORD, client_for, console_login, csrf_from
from troth.access import GrantStatus, actor_for
from troth.access.tables import support_grants
from troth.audit.entries import list_entries
from troth.clock import ManualClock
from troth.engine import Troth
from troth.errors import Conflict, NotFound, ValidationError

ROLE_READS = "role 'accounts' reads company, contact, identity"


@pytest.fixture
def world(home: Any, db_url: str) -> dict[str, Any]:
    """phone-service: customers Acme and Bolt with an admin each, a person at Acme with a
    call; the vendor's staff of the role ``accounts`` (company, contact, identity) and of
    ``support`` (call records too), and a vendor admin (no role: any category)."""
    t = Troth(home("phone-service", db_url, clock=ManualClock(), context=True))
    acc = t.access
    acme = acc.tenants.create_tenant("Acme", "office@acme.example")
    bolt = acc.tenants.create_tenant("Bolt", "office@bolt.example")
    w: dict[str, Any] = {"t": t, "acme": acme, "bolt": bolt}
    for name, tid in (("admin_a", acme), ("admin_b", bolt)):
        user = acc.accounts.add_user(
            f"{name}@example.com",
            kind="tenant_member",
            tenant_id=tid,
            tenant_role="admin",
            password=PASSWORD,
        )
        w[name] = actor_for(user)
    for role in ("accounts", "support"):
        user = acc.accounts.add_user(
            f"{role}@vendor.example", kind="staff", role=role, password=PASSWORD
        )
        w[role] = actor_for(user)
    w["vendor"] = actor_for(
        acc.accounts.add_user("ops@vendor.example", kind="vendor_admin", password=PASSWORD)
    )
    call = {"extension": "7", "destination_number": "+441234567890"}
    w["sid"] = t.collect("call_record_import", call, tenant_id=acme).subject_id
    return w


def _rows(t: Troth) -> list[Any]:
    with t.ctx.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(support_grants).order_by("id"))]


def _denied(t: Troth, action: str) -> list[Any]:
    return [
        e.entry
        for e in list_entries(t.ctx, limit=1000)
        if e.entry.action == action and e.entry.outcome == "deny"
    ]


def _ask(w: dict[str, Any], who: str, categories: Any, **kw: Any) -> Any:
    return w["t"].access.grants.request_grant(
        w["acme"],
        by=w[who],
        reason="ticket 7",
        duration=timedelta(days=1),
        categories=categories,
        **kw,
    )


def test_a_staff_member_asks_only_for_what_their_role_reads(world: dict[str, Any]) -> None:
    w, t = world, world["t"]
    both = ["identity", "call_records", "destination_numbers"]
    for asked, beyond in ((["call_records"], "call_records"), (both, both[1] + ", " + both[2])):
        with pytest.raises(ValidationError) as exc:
            _ask(w, "accounts", asked)
        assert exc.value.code == "grant_beyond_role"
        assert f"your {ROLE_READS}: a grant for {beyond} would show you nothing" in str(
            exc.value.message
        )
    assert _rows(t) == []
    denied = _denied(t, "grant_request")
    assert [(e.reason, e.tenant_id, e.actor) for e in denied] == [
        ("role_not_allowed", w["acme"], w["accounts"].label)
    ] * 2
    assert denied[0].details == {"role": "accounts", "categories": ["call_records"]}
    # What the role reads goes; asked for nothing in particular, the role's, named.
    assert _ask(w, "accounts", ["identity"]).categories == ("identity",)
    named = _ask(w, "accounts", ())
    assert named.categories == ("company", "contact", "identity")
    assert _ask(w, "support", ["call_records"]).categories == ("call_records",)
    # A vendor admin reads any category under a grant: not narrowed, not refused.
    assert _ask(w, "vendor", ["call_records"]).categories == ("call_records",)
    assert _ask(w, "vendor", ()).categories == ()


def test_a_grant_the_role_stopped_reading_is_refused_at_approval(
    world: dict[str, Any], tmp_path: Path
) -> None:
    w, t = world, world["t"]
    calls = _ask(w, "support", ["call_records", "identity"])
    names = _ask(w, "support", ["identity"])
    # The policy changes: support no longer reads call records.
    data = yaml.safe_load(t.ctx.settings.resolved_policy_file.read_text())
    data["version"], data["effective"] = "2.0", date(2026, 1, 1)
    role = next(r for r in data["roles"] if r["id"] == "support")
    role["categories"] = ["company", "contact", "identity"]
    path = tmp_path / "v2.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    t.policy.publish(path)
    assert t.ctx.policy.policy.version == "2.0"
    with pytest.raises(Conflict) as exc:
        t.access.grants.approve_grant(calls.id, by=w["admin_a"])
    assert exc.value.code == "grant_beyond_role"
    message = str(exc.value.message)
    assert "asks for call_records, which the vendor's staff member who asked" in message
    assert "role 'support' reads company, contact, identity" in message and "Refuse it" in message
    assert t.access.grants.get_grant(calls.id).status is GrantStatus.requested
    (denied,) = _denied(t, "grant_approve")
    assert (denied.reason, denied.tenant_id, denied.details["grant"]) == (
        "role_not_allowed",
        w["acme"],
        calls.id,
    )
    # The customer can still refuse it, and approve what the role still reads.
    t.access.grants.refuse_grant(calls.id, by=w["admin_a"])
    assert t.access.grants.approve_grant(names.id, by=w["admin_a"]).status is GrantStatus.approved


@pytest.mark.parametrize(
    ("categories", "says"),
    [
        ([5], "unknown category '5'"),
        ([None], "unknown category 'None'"),
        ([""], "unknown category ''"),
        (["CALL_RECORDS"], "unknown category 'CALL_RECORDS'"),
        (["x" * 5000], "unknown category 'xxxx"),
        (["identity", "dna", "call records"], "unknown categories 'dna', 'call records'"),
    ],
)
def test_a_malformed_or_unknown_category_is_refused_with_the_policys(
    world: dict[str, Any], categories: Any, says: str
) -> None:
    w, t = world, world["t"]
    for who in ("vendor", "accounts"):
        with pytest.raises(ValidationError) as exc:
            _ask(w, who, categories)
        assert says in exc.value.message
        assert "(the policy has: call_records, company, contact" in exc.value.message
        assert len(exc.value.message) < 600  # a long name is not echoed whole
    with pytest.raises(ValidationError, match="by their id"):
        _ask(w, "vendor", ["call_records"], subject_ids=[5])
    assert _rows(t) == []


def test_another_customers_grant_answers_as_an_unknown_one(world: dict[str, Any]) -> None:
    w, t = world, world["t"]
    g = _ask(w, "support", ["call_records"])
    before = _rows(t)
    for decide in (t.access.grants.approve_grant, t.access.grants.refuse_grant):
        with pytest.raises(NotFound) as theirs:
            decide(g.id, by=w["admin_b"])
        with pytest.raises(NotFound) as unknown:
            decide("0" * 32, by=w["admin_b"])
        assert theirs.value.message == unknown.value.message.replace("0" * 32, g.id)
    with pytest.raises(NotFound):
        t.access.grants.revoke_grant(g.id, by=w["admin_b"])
    with pytest.raises(NotFound) as long:
        t.access.grants.approve_grant("x" * 5000, by=w["admin_b"])
    assert len(long.value.message) < 200
    assert _rows(t) == before
    refused = [e for e in list_entries(t.ctx, limit=1000) if e.entry.reason == "not_a_member"]
    assert {e.entry.tenant_id for e in refused} == {w["acme"]}


# -- the CLI and the pages --------------------------------------------------------------------
def _cli(t: Troth, capsys: Any, *args: str) -> tuple[int, str]:
    from troth.cli import main

    try:
        main(["--home", str(t.ctx.home), *args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, " ".join((out + err).split())


def test_cli_refuses_a_grant_beyond_the_role(home: Any, capsys: Any, tmp_path: Path) -> None:
    t = Troth(home("phone-service", context=True))
    acme = t.access.tenants.create_tenant("Acme", "office@acme.example")
    t.access.accounts.add_user(
        "admin@acme.example",
        kind="tenant_member",
        tenant_id=acme,
        tenant_role="admin",
        password=PASSWORD,
    )
    for role in ("accounts", "support"):
        t.access.accounts.add_user(
            f"{role}@vendor.example", kind="staff", role=role, password=PASSWORD
        )
    ask = ["grants", "request", "Acme", "--reason", "r", "--days", "1", "--password", PASSWORD]
    code, said = _cli(t, capsys, *ask, "--as", "accounts@vendor.example", "--category",
                      "call_records")  # fmt: skip
    assert code != 0 and ROLE_READS in said and "call_records" in said
    assert _rows(t) == []
    code, said = _cli(t, capsys, *ask, "--as", "support@vendor.example", "--category",
                      "call_records", "-q")  # fmt: skip
    assert code == 0, said
    gid = said.strip()
    data = yaml.safe_load(t.ctx.settings.resolved_policy_file.read_text())
    data["version"], data["effective"] = "2.0", date(2026, 1, 1)
    next(r for r in data["roles"] if r["id"] == "support")["categories"] = ["identity"]
    path = tmp_path / "v2.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    t.policy.publish(path)
    code, said = _cli(t, capsys, "grants", "approve", gid, "--as", "admin@acme.example",
                      "--password", PASSWORD)  # fmt: skip
    assert code != 0 and "role 'support' reads identity" in said
    assert t.access.grants.get_grant(gid).status is GrantStatus.requested


def test_the_pages_refuse_a_grant_beyond_the_role(world: dict[str, Any], tmp_path: Path) -> None:
    w, t = world, world["t"]
    with client_for(t.ctx) as c:
        token = console_login(c, "accounts@vendor.example")
        form = {"tenant_id": w["acme"], "reason": "r", "hours": "4", "csrf_token": token}
        r = c.post("/console/support", data={**form, "categories": "call_records"})
        assert r.status_code == 422 and ROLE_READS in html.unescape(r.text)
        r = c.post("/console/support", data={**form, "categories": "identity, dna"})
        assert r.status_code == 422 and "unknown category 'dna'" in html.unescape(r.text)
        assert _rows(t) == []
    stale = _ask(w, "support", ["destination_numbers"])
    data = yaml.safe_load(t.ctx.settings.resolved_policy_file.read_text())
    data["version"], data["effective"] = "2.0", date(2026, 1, 1)
    next(r for r in data["roles"] if r["id"] == "support")["categories"] = ["call_records"]
    path = tmp_path / "v2.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    t.policy.publish(path)
    with client_for(t.ctx) as c:
        page = c.get("/tenant/login").text
        r = c.post(
            "/tenant/login",
            data={
                "email": "admin_a@example.com",
                "password": PASSWORD,
                "csrf_token": csrf_from(page),
            },
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        token = csrf_from(c.get("/tenant").text)
        r = c.post(f"/tenant/grants/{stale.id}/approve", data={"csrf_token": token})
        assert r.status_code == 409 and "role 'support' reads call_records" in html.unescape(r.text)
    assert t.access.grants.get_grant(stale.id).status is GrantStatus.requested


def test_emergency_access_beyond_the_role_is_refused_too(home: Any) -> None:
    def emergency(policy: dict[str, Any]) -> None:
        policy["support_access"]["emergency_access"] = True

    t = Troth(home("phone-service", edit=emergency, clock=ManualClock(), context=True))
    acme = t.access.tenants.create_tenant("Acme", "office@acme.example")
    staff = actor_for(
        t.access.accounts.add_user(
            "accounts@vendor.example", kind="staff", role="accounts", password=PASSWORD
        )
    )
    with pytest.raises(ValidationError) as exc:
        t.access.grants.emergency_access(
            acme, by=staff, reason="outage", categories=["call_records"]
        )
    assert exc.value.code == "grant_beyond_role" and ROLE_READS in exc.value.message
    assert _rows(t) == []
    assert [e.reason for e in _denied(t, "grant_emergency")] == ["role_not_allowed"]
    g = t.access.grants.emergency_access(acme, by=staff, reason="outage")
    assert g.status is GrantStatus.approved and g.categories == ("company", "contact", "identity")
