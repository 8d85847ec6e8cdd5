"""P14 and P13 for the records *about* a person (issue 13, items 5 and 7): the vendor's
staff read a customer's person's disclosure history (court orders included) or consents
only under that customer's grant; a grant is needed wherever the policy requires grants,
multi-tenant or not (ilign); every attempt, allowed or refused, is in the customer's
access log; a credential bound to one tenant never reaches another tenant's people."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from troth.access import actor_for
from troth.app import create_app
from troth.clock import ManualClock
from troth.engine import Troth
from troth.errors import Refused
from troth.gate import SYSTEM, Actor, ActorKind
from troth.web.session import csrf_for_session

PW = "correct horse battery staple"
CALL = {"extension": "12", "duration_seconds": 30, "destination_number": "+441234567890"}


def _home(home: Any, db_url: str, example: str) -> Troth:
    return home(example, db_url, clock=ManualClock())


@pytest.fixture
def phone(home: Any, db_url: str) -> Iterator[Troth]:
    t = _home(home, db_url, "phone-service")
    yield t
    t.close()


@pytest.fixture
def ilign(home: Any, db_url: str) -> Iterator[Troth]:
    t = _home(home, db_url, "ilign")
    yield t
    t.close()


def _customer(t: Troth, name: str) -> tuple[str, Actor]:
    tid = t.access.tenants.create_tenant(name, f"office@{name.lower()}.example")
    tok, _ = t.access.tenants.invite(tid, f"admin@{name.lower()}.example", role="admin")
    return tid, actor_for(t.access.tenants.accept_invitation(tok, PW))


def _session(t: Troth, client: TestClient, user: Any) -> dict[str, str]:
    """Sign ``user`` in as the console would; returns the CSRF header for unsafe calls."""
    token, _ = t.access.sessions.start_session(user)
    client.cookies.clear()
    client.cookies.set("troth_session", token)
    return {"X-CSRF-Token": csrf_for_session(t.ctx, t.access.sessions.session_csrf(token))}


def _court_ordered(t: Troth, tenant: str) -> str:
    """A customer's person with a call record, disclosed to the authorities under a court
    order whose gag has ended."""
    clock = t.ctx.clock
    assert isinstance(clock, ManualClock)
    sid = t.collect(
        "customer_signup",
        {"company_name": "Co", "name": "Pat", "email": "pat@acme.example"},
        tenant_id=tenant,
    ).subject_id
    t.collect("call_record_import", CALL, subject_id=sid, tenant_id=tenant)
    demand = t.disclosures.record_demand(
        authority="High Court",
        instrument="court_order",
        reference="CO-9",
        scope="call records of pat@acme.example",
        categories=["company", "contact", "identity", "call_records", "destination_numbers"],
        recipient="authorities",
    )
    t.disclosures.disclose(
        sid, "authorities", "legal_requirement", SYSTEM, legal_demand_id=demand.id
    )
    assert t.disclosures.disclosures_of(sid)  # there is a history to protect
    return sid


def test_p14_support_agent_without_grant_reads_no_disclosure_history(phone: Troth) -> None:
    t = phone
    acme, admin = _customer(t, "Acme")
    sid = _court_ordered(t, acme)
    agent = t.access.accounts.add_user(
        "agent@vendor.example", kind="staff", role="support", password=PW
    )
    with TestClient(create_app(t.ctx), raise_server_exceptions=False) as c:
        _session(t, c, agent)
        for path in ("disclosures", "consents"):
            r = c.get(f"/api/v1/subjects/{sid}/{path}")
            assert r.status_code == 403, (path, r.text)
            assert r.json()["reason"] == "no_grant"
            assert "CO-9" not in r.text and "authorities" not in r.text
        # The customer sees both attempts, refused, in its access log.
        looks = t.access.grants.vendor_accesses(acme)
        assert {(x.action, x.outcome, x.subject_id) for x in looks} >= {
            ("read_disclosures", "deny", sid),
            ("read_consents", "deny", sid),
        }
        assert all(x.actor == f"staff:{agent.id}" for x in looks)
        # Over HTTP the tenant admin sees them too.
        headers = _session(t, c, t.access.accounts.authenticate("admin@acme.example", PW, acme))
        r = c.get(f"/api/v1/tenants/{acme}/vendor-accesses", headers=headers)
        assert r.status_code == 200
        assert {i["action"] for i in r.json()["items"]} >= {"read_disclosures", "read_consents"}
        # And on the tenant pages.
        page = c.get("/tenant").text
        assert f"staff:{agent.id}" in page and "read_disclosures" in page and "deny" in page
    assert admin.tenant_id == acme


def test_p14_support_agent_with_the_customers_grant_reads_it_logged(phone: Troth) -> None:
    t = phone
    acme, admin = _customer(t, "Acme")
    bolt, _ = _customer(t, "Bolt")
    sid = _court_ordered(t, acme)
    other = t.collect(
        "customer_signup",
        {"company_name": "B", "name": "Bo", "email": "bo@bolt.example"},
        tenant_id=bolt,
    ).subject_id
    agent = t.access.accounts.add_user(
        "agent@vendor.example", kind="staff", role="support", password=PW
    )
    g = t.access.grants.request_grant(
        acme, by=actor_for(agent), reason="ticket 7", ticket="T-7", duration=timedelta(days=1)
    )
    t.access.grants.approve_grant(g.id, by=admin)
    with TestClient(create_app(t.ctx), raise_server_exceptions=False) as c:
        _session(t, c, agent)
        r = c.get(f"/api/v1/subjects/{sid}/disclosures")
        assert r.status_code == 200, r.text
        assert r.json()[0]["legal_demand"]["reference"] == "CO-9"
        # The grant is Acme's: Bolt's person stays out of reach.
        r = c.get(f"/api/v1/subjects/{other}/disclosures")
        assert r.status_code == 403 and r.json()["reason"] == "no_grant"
    [look] = [x for x in t.access.grants.vendor_accesses(acme) if x.action == "read_disclosures"]
    assert look.outcome == "allow" and look.grant_id == g.id and look.ticket == "T-7"
    # A day later the grant has ended on its own.
    clock = t.ctx.clock
    assert isinstance(clock, ManualClock)
    clock.advance(days=1, seconds=1)
    with pytest.raises(Refused) as exc:
        t.access.records.disclosures_for(actor_for(agent), sid)
    assert exc.value.reason == "grant_expired"


def test_p14_the_privacy_office_reads_a_persons_records_for_its_duties(phone: Troth) -> None:
    t = phone
    acme, _ = _customer(t, "Acme")
    sid = _court_ordered(t, acme)
    officer = t.access.accounts.add_user("dpo@vendor.example", kind="staff", role="privacy_office")
    items = t.access.records.disclosures_for(actor_for(officer), sid)
    assert items[0]["legal_demand"]["reference"] == "CO-9"
    # Still audited under the customer: the office is the vendor.
    assert any(x.action == "read_disclosures" for x in t.access.grants.vendor_accesses(acme))


def test_p13_a_tenants_credentials_never_reach_another_tenants_records(phone: Troth) -> None:
    t = phone
    acme, admin = _customer(t, "Acme")
    bolt, _ = _customer(t, "Bolt")
    theirs = _court_ordered(t, bolt)
    ours = t.collect(
        "customer_signup",
        {"company_name": "A", "name": "Al", "email": "al@acme.example"},
        tenant_id=acme,
    ).subject_id
    key, _ = t.access.keys.create_api_key("acme app", ["admin"], tenant_id=acme)
    bearer = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(t.ctx), raise_server_exceptions=False) as c:
        for path in ("disclosures", "consents"):
            assert c.get(f"/api/v1/subjects/{theirs}/{path}", headers=bearer).status_code == 404
            assert c.get(f"/api/v1/subjects/{ours}/{path}", headers=bearer).status_code == 200
        r = c.post(f"/api/v1/subjects/{theirs}/gpc", headers={**bearer, "Sec-GPC": "1"})
        assert r.status_code == 404
        headers = _session(t, c, t.access.accounts.authenticate("admin@acme.example", PW, acme))
        r = c.get(f"/api/v1/subjects/{theirs}/disclosures")
        assert r.status_code == 404 and "CO-9" not in r.text
        r = c.post(f"/api/v1/subjects/{theirs}/gpc", headers={**headers, "Sec-GPC": "1"})
        assert r.status_code == 404
        assert c.get(f"/api/v1/subjects/{ours}/disclosures").status_code == 200
    # Nothing was written for Bolt's person, and each refusal is audited with its reason.
    assert t.consent.state(theirs) == {}
    from troth.audit.entries import list_entries

    # Filed in Acme's own log, naming the id asked for; none in the person's log.
    assert not [e for e in list_entries(t.ctx, subject_id=theirs) if e.entry.outcome == "deny"]
    refused = [
        e.entry
        for e in list_entries(t.ctx, limit=1000)
        if e.entry.details.get("subject_named") == theirs and e.entry.tenant_id == acme
    ]
    assert len(refused) == 5 and {e.reason for e in refused} == {"not_a_member"}
    assert {e.action for e in refused} == {"read_disclosures", "read_consents", "change_consents"}
    assert admin.tenant_id == acme


def test_p14_ilign_support_needs_the_customers_grant_without_multi_tenant(
    ilign: Troth,
) -> None:
    t = ilign
    assert not t.ctx.policy.policy.multi_tenant
    acme, admin = _customer(t, "Acme")
    sid = t.collect(
        "customer_database", {"user_name": "Kim", "user_email": "kim@acme.example"}, tenant_id=acme
    ).subject_id
    # The CLI's `--actor staff:eng@support` (an asserted actor, holding no grant).
    eng = Actor(ActorKind.staff, "eng", role="support")
    with pytest.raises(Refused) as exc:
        t.use(sid, purpose="problem_resolution", actor=eng)
    assert exc.value.reason == "no_grant"
    [look] = t.access.grants.vendor_accesses(acme)
    assert (look.actor, look.action, look.outcome, look.subject_id) == (
        "staff:eng",
        "use",
        "deny",
        sid,
    )
    # Twin: a support engineer's account under the customer's grant reads it, logged.
    user = t.access.accounts.add_user(
        "eng@ilign.example", kind="staff", role="support", password=PW
    )
    g = t.access.grants.request_grant(
        acme,
        by=actor_for(user),
        reason="bug 12",
        categories=["customer_database"],
        duration=timedelta(days=7),
    )
    with pytest.raises(Refused):  # requested, not yet approved
        t.use(sid, purpose="problem_resolution", actor=actor_for(user))
    t.access.grants.approve_grant(g.id, by=admin)
    view = t.use(sid, purpose="problem_resolution", actor=actor_for(user))
    assert view.as_dict() == {"user_name": "Kim", "user_email": "kim@acme.example"}
    looks = t.access.grants.vendor_accesses(acme)
    assert [(x.outcome, x.grant_id) for x in looks if x.actor == f"staff:{user.id}"] == [
        ("allow", g.id),
        ("deny", None),
    ]
    # i-lign's own contacts belong to no customer: support serves them without a grant.
    own = t.collect("customer_contact", {"name": "Ann", "email": "ann@customer.example"}).subject_id
    assert t.use(own, purpose="support", actor=eng).as_dict()["name"] == "Ann"


def test_p14_ilign_customer_data_without_a_tenant_is_never_seen_without_a_grant(
    ilign: Troth,
) -> None:
    """The reproduction of issue 13 item 7 with no tenant named: a customer's database is
    the customer's (support_access.customer_categories), so collecting it without naming
    the customer is refused (audited, nothing stored), and data already filed under no
    tenant is refused to support (no grant can cover it); the legal-obligation purpose and
    the vendor's own contacts are not affected."""
    from sqlalchemy import func, select

    from troth.audit.entries import list_entries
    from troth.errors import ValidationError
    from troth.store.tables import subjects

    t = ilign
    assert t.ctx.policy.policy.support_access.customer_categories == ["customer_database"]
    with t.ctx.engine.connect() as conn:
        before = conn.execute(select(func.count()).select_from(subjects)).scalar_one()
    with pytest.raises(ValidationError, match="customer's own data: name the customer"):
        t.collect("customer_database", {"user_name": "Kim", "user_email": "kim@acme.example"})
    with t.ctx.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(subjects)).scalar_one() == before
    denied = [e.entry for e in list_entries(t.ctx) if e.entry.action == "collect"]
    assert denied[-1].outcome == "deny" and "kim" not in str(denied[-1].details).lower()
    # Data filed under no tenant by an older troth (or a bulk path): support is refused.
    acme, _ = _customer(t, "Acme")
    sid = t.collect(
        "customer_database", {"user_name": "Lee", "user_email": "lee@acme.example"}, tenant_id=acme
    ).subject_id
    from troth.store.seals import reseal
    from troth.store.subject_seals import update_subjects
    from troth.store.tables import records

    with t.ctx.engine.begin() as conn:  # as that troth wrote it: the rows sealed so
        update_subjects(conn, t.ctx.keys, subjects.c.id == sid, tenant_id=None)
        mine = records.c.subject_id == sid
        ids = list(
            conn.execute(records.select().with_only_columns(records.c.id).where(mine)).scalars()
        )
        conn.execute(records.update().where(mine).values(tenant_id=None))
        reseal(conn, t.ctx.keys, ids)
    t.ctx.engine.dispose()
    eng = Actor(ActorKind.staff, "eng", role="support")
    with pytest.raises(Refused) as exc:
        t.use(sid, purpose="problem_resolution", actor=eng)
    assert exc.value.reason == "no_grant"
    # A role that acts for the purpose but is the office is refused alike (P12 + P14).
    office = Actor(ActorKind.staff, "pat", role="privacy_office")
    with pytest.raises(Refused):
        t.use(sid, purpose="problem_resolution", actor=office)


def test_p14_cli_asserted_staff_hold_no_grant_a_signed_in_staff_member_may(
    home: Any, tmp_path: Path, db_url: str
) -> None:
    """ilign from the CLI: `--actor staff:eng@support` is a claim and holds no grant, so it
    is refused on a customer's database even while that customer has granted access to a
    real support engineer, who asks for it with `--as` and their password."""
    from typer.testing import CliRunner

    from troth.cli import _register, app

    _register()
    home_dir = tmp_path / "home"
    t = _home(home, db_url, "ilign")
    acme, _ = _customer(t, "Acme")
    sid = t.collect(
        "customer_database", {"user_name": "Kim", "user_email": "kim@acme.example"}, tenant_id=acme
    ).subject_id
    t.access.accounts.add_user("eng@ilign.example", kind="staff", role="support", password=PW)
    t.close()
    env = {"TROTH_PASSWORD": PW, "COLUMNS": "300"}

    def run(*args: str) -> Any:
        return CliRunner().invoke(app, ["--home", str(home_dir), *args], env=env)

    res = run(
        "grants",
        "request",
        acme,
        "--as",
        "eng@ilign.example",
        "--reason",
        "bug 12",
        "--days",
        "2",
    )
    assert res.exit_code == 0, res.output
    gid = res.output.split()[1]
    assert run("grants", "approve", gid, "--as", "admin@acme.example").exit_code == 0
    res = run("use", sid, "--purpose", "problem_resolution", "--actor", "staff:eng@support")
    # (troth.cli.main turns this into exit 3 and the reason.)
    assert isinstance(res.exception, Refused) and res.exception.reason == "no_grant"
    assert "Kim" not in res.output
    out = run("grants", "accesses", acme).output
    assert "staff:eng" in out and "deny" in out
