"""The vendor office's functions over HTTP, as issue 13 item 1 found them: a key bound to
customer A with scope ``admin`` published the vendor's policy, held B's person, recorded
breaches and legal demands, ran retention and read every tenant's audit entries, breaches
and demands. Each is now a 403 ``refused`` problem with its reason, audited, with nothing
changed; the office (a session of a role the policy gives the power, or a key bound to no
tenant) still works. phone-service on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from _http import PASSWORD, api_key, client_for, is_problem
from troth.audit.tables import audit_entries
from troth.breaches.tables import breaches
from troth.disclosures.tables import legal_demands
from troth.engine import Troth
from troth.policy.versions import policy_versions
from troth.retention.tables import legal_holds
from troth.store.tables import records, subjects, tenants
from troth.web.session import csrf_for_session

CALL = {"extension": "12", "duration_seconds": 30, "destination_number": "+441234567890"}
TABLES = (policy_versions, legal_holds, breaches, legal_demands, records, subjects, tenants)


def counts(ctx: Any) -> dict[str, int]:
    with ctx.engine.connect() as conn:
        return {
            t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
            for t in TABLES
        }


def denials(ctx: Any, actor_prefix: str) -> list[tuple[str, str]]:
    a = audit_entries.c
    with ctx.engine.connect() as conn:
        return [
            (r.action, r.reason)
            for r in conn.execute(
                select(a.action, a.reason)
                .where(a.outcome == "deny", a.actor.like(f"{actor_prefix}%"))
                .order_by(a.seq)
            )
        ]


def session(t: Troth, user: Any) -> dict[str, str]:
    """Headers of a console session (cookie and CSRF token) for ``user``."""
    token, _ = t.access.sessions.start_session(user)
    csrf = csrf_for_session(t.ctx, t.access.sessions.session_csrf(token))
    return {"Cookie": f"troth_session={token}", "X-CSRF-Token": csrf}


def calls(ctx: Any, b_person: str, policy_text: str) -> list[tuple[str, str, dict[str, Any]]]:
    now = ctx.clock.now()
    breach = {
        "title": "Leak",
        "description": "An export was readable.",
        "discovered_at": now.isoformat(),
        "occurred_from": (now - timedelta(days=2)).isoformat(),
        "occurred_until": (now - timedelta(days=1)).isoformat(),
        "categories": ["contact"],
    }
    demand = {"authority": "Court", "instrument": "court_order", "reference": "R", "scope": "x",
              "categories": ["identity"]}  # fmt: skip
    yaml = {"content": policy_text, "headers": {"Content-Type": "application/yaml"}}
    return [
        ("POST", "/api/v1/policy/publish", yaml),
        ("POST", "/api/v1/policy/diff", yaml),
        ("GET", "/api/v1/policy/history", {}),
        ("GET", "/api/v1/ropa", {}),
        ("GET", "/api/v1/retention/plan", {}),
        ("POST", "/api/v1/retention/run", {"json": {"dry_run": True}}),
        ("POST", "/api/v1/retention/run", {"json": {"dry_run": False}}),
        ("POST", "/api/v1/retention/holds", {"json": {"reason": "x", "subject_id": b_person}}),
        ("POST", "/api/v1/breaches", {"json": breach}),
        # GET /api/v1/breaches is no longer here: a customer's admin key (or its admins)
        # now reads the breaches affecting its own people there, with its own counts only
        # (GDPR Art. 33(2); tests/breaches/test_breach_people_regimes.py checks that
        # another customer's breach stays unknown to it).
        ("POST", "/api/v1/legal-demands", {"json": demand}),
        ("GET", "/api/v1/legal-demands", {}),
        ("GET", "/api/v1/audit", {}),
        ("GET", f"/api/v1/audit?subject_id={b_person}", {}),
        ("POST", "/api/v1/audit/verify", {}),
        ("POST", "/api/v1/tenants", {"json": {"name": "C", "primary_email": "c@c.example"}}),
    ]


def send(c: Any, method: str, url: str, extra: dict[str, Any], headers: dict[str, str]) -> Any:
    kw = dict(extra)
    kw["headers"] = {**headers, **kw.get("headers", {})}
    return c.request(method, url, **kw)


def test_tenant_bound_credentials_are_refused_every_office_function(phone: Any) -> None:
    t = Troth(phone)
    acme = t.access.tenants.create_tenant("Acme", "office@acme.example")
    bolt = t.access.tenants.create_tenant("Bolt", "office@bolt.example")
    t.collect("call_record_import", CALL, tenant_id=acme)
    b_person = t.collect("call_record_import", CALL, tenant_id=bolt).subject_id
    phone.clock.advance(timedelta(days=3))
    text = (Path(phone.home) / "policy.yaml").read_text().replace("version:", "version: '9' #", 1)
    tok, _ = t.access.tenants.invite(acme, "admin@acme.example", role="admin")
    acme_admin = t.access.tenants.accept_invitation(tok, PASSWORD)
    with client_for(phone) as c:
        creds = [
            api_key(c, ["admin"], tenant_id=acme),
            api_key(c, ["admin", "requests:admin", "use", "collect"], tenant_id=acme),
            session(t, acme_admin),
        ]
        before = counts(phone)
        for headers in creds:
            for method, url, extra in calls(phone, b_person, text):
                r = send(c, method, url, extra, headers)
                body = is_problem(r, 403, "refused")
                assert body["reason"] == "tenant_bound", (url, body)
                assert "customer" in body["detail"]
        assert counts(phone) == before  # nothing published, held, recorded or run
        n = len(calls(phone, b_person, text))
        refused = denials(phone, "application:") + denials(phone, "tenant_admin:")
        assert len(refused) == 3 * n
        assert {reason for _, reason in refused} == {"tenant_bound"}
        assert {a for a, _ in refused} >= {
            "office.publish_policy",
            "office.manage_holds",
            "office.manage_breaches",
            "office.legal_demands",
            "office.run_retention",
            "office.read_audit",
            "office.manage_tenants",
        }
        # Anonymous: 401 before anything.
        is_problem(c.get("/api/v1/audit"), 401)


def test_the_office_and_unbound_keys_keep_their_functions(phone: Any) -> None:
    t = Troth(phone)
    acme = t.access.tenants.create_tenant("Acme", "office@acme.example")
    sid = t.collect("call_record_import", CALL, tenant_id=acme).subject_id
    t.access.accounts.add_user(
        "officer@example.com", kind="staff", role="privacy_office", password=PASSWORD
    )
    t.access.accounts.add_user("agent@example.com", kind="staff", role="support", password=PASSWORD)
    officer = t.access.accounts.authenticate("officer@example.com", PASSWORD)
    agent = t.access.accounts.authenticate("agent@example.com", PASSWORD)
    with client_for(phone) as c:
        office = session(t, officer)
        unbound = api_key(c, ["admin"])
        audit_only = api_key(c, ["office:read_audit"])
        support = session(t, agent)
        for headers in (office, unbound):
            assert c.get("/api/v1/audit", headers=headers).status_code == 200
            assert c.get("/api/v1/breaches", headers=headers).status_code == 200
            assert c.get("/api/v1/legal-demands", headers=headers).status_code == 200
            r = c.post(
                "/api/v1/retention/holds",
                json={"reason": "case", "subject_id": sid},
                headers=headers,
            )
            assert r.status_code == 201, r.text
        assert c.get("/api/v1/audit", headers=audit_only).status_code == 200
        body = is_problem(c.get("/api/v1/breaches", headers=audit_only), 403, "refused")
        assert body["reason"] == "scope_missing" and "office:manage_breaches" in body["detail"]
        for url in ("/api/v1/audit", "/api/v1/breaches", "/api/v1/legal-demands"):
            body = is_problem(c.get(url, headers=support), 403, "refused")
            assert body["reason"] == "power_not_granted"
            assert "support" in body["detail"]
        # Tenants: the office creates them; the support agent may not.
        r = c.post(
            "/api/v1/tenants", json={"name": "B", "primary_email": "b@b.example"}, headers=office
        )
        assert r.status_code == 201, r.text
        is_problem(
            c.post(
                "/api/v1/tenants",
                json={"name": "C", "primary_email": "c@c.example"},
                headers=support,
            ),
            403,
            "refused",
        )
