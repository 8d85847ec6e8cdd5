"""The privacy office's and operators' operations over HTTP: retention, breaches, legal
demands, tenants and support access, policy administration and aggregates. Each group:
the good path, a key without the scope (403), an unknown id (404), bad input (422) with
nothing changed."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from _http import api_key, client_for, is_problem
from troth.breaches.tables import breaches as breaches_table
from troth.disclosures.tables import legal_demands
from troth.engine import Troth
from troth.policy.versions import policy_versions
from troth.store.tables import tenants

SUPPORT = {"name": "Ada Lovelace", "email": "ada@example.com", "message": "Hello"}


def rows(ctx, table) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


# -- retention ---------------------------------------------------------------------------
def test_retention_plan_run_and_holds(lite) -> None:
    sid = Troth(lite).collect("support_request", SUPPORT).subject_id
    with client_for(lite) as c:
        admin = api_key(c, ["admin"])
        plan = c.get("/api/v1/retention/plan", headers=admin)
        assert plan.status_code == 200 and plan.json()["dry_run"] is True
        # A later day: what a run then would do (noon in the organisation's zone).
        later = c.get("/api/v1/retention/plan", params={"as_of": "2090-06-30"}, headers=admin)
        assert later.status_code == 200 and later.json()["at"].startswith("2090-06-30T")
        assert later.json()["total"] >= plan.json()["total"]
        past = c.get("/api/v1/retention/plan", params={"as_of": "2001-01-01"}, headers=admin)
        assert "before today" in is_problem(past, 422, "invalid_input")["detail"]
        is_problem(c.get("/api/v1/retention/plan?as_of=2090-02-30", headers=admin), 422)
        run = c.post("/api/v1/retention/run", json={"dry_run": True}, headers=admin)
        assert run.status_code == 200 and run.json()["dry_run"] is True
        real = c.post("/api/v1/retention/run", json={"dry_run": False}, headers=admin)
        assert real.status_code == 200 and real.json()["dry_run"] is False
        body = {"reason": "litigation hold, case 12", "subject_id": sid}
        hold = c.post(
            "/api/v1/retention/holds", json=body, headers={**admin, "Idempotency-Key": "h1"}
        )
        assert hold.status_code == 201, hold.text
        again = c.post(
            "/api/v1/retention/holds", json=body, headers={**admin, "Idempotency-Key": "h1"}
        )
        assert again.json()["id"] == hold.json()["id"]
        assert again.headers["Idempotent-Replayed"] == "true"
        lifted = c.delete(f"/api/v1/retention/holds/{hold.json()['id']}", headers=admin)
        assert lifted.status_code == 204
        is_problem(c.delete(f"/api/v1/retention/holds/{hold.json()['id']}", headers=admin), 404)
        # bad input: both or neither of subject and tenant; an unknown field
        is_problem(c.post("/api/v1/retention/holds", json={"reason": "x"}, headers=admin), 422)
        is_problem(c.post("/api/v1/retention/run", json={"dry": True}, headers=admin), 422)
        weak = api_key(c, ["collect"])
        # The office's functions are refused by the domain (troth.office): code refused.
        body = is_problem(c.get("/api/v1/retention/plan", headers=weak), 403, "refused")
        assert body["reason"] == "scope_missing" and "office:run_retention" in body["detail"]
        as_of = c.get("/api/v1/retention/plan?as_of=2090-06-30", headers=weak)
        assert is_problem(as_of, 403, "refused")["reason"] == "scope_missing"
        # Refused before the day is looked at: a past day tells a weak key nothing either.
        past = c.get("/api/v1/retention/plan?as_of=2001-01-01", headers=weak)
        assert is_problem(past, 403, "refused")["reason"] == "scope_missing"
        body = is_problem(
            c.post("/api/v1/retention/run", json={"dry_run": False}, headers=weak),
            403,
            "refused",
        )
        assert body["reason"] == "scope_missing"
        is_problem(c.get("/api/v1/retention/plan"), 401)


# -- breaches (SQLite and PostgreSQL) ------------------------------------------------------
def test_breach_flow(mindlink) -> None:
    Troth(mindlink).collect("support_request", SUPPORT)
    mindlink.clock.advance(timedelta(days=1, hours=12))
    now = mindlink.clock.now()
    body = {
        "title": "Help desk export leaked",
        "description": "A support export was readable without login.",
        "discovered_at": now.isoformat(),
        "occurred_from": (now - timedelta(days=2)).isoformat(),
        "occurred_until": (now - timedelta(days=1)).isoformat(),
        "categories": ["contact"],
    }
    with client_for(mindlink) as c:
        admin = api_key(c, ["admin"])
        r = c.post("/api/v1/breaches", json=body, headers={**admin, "Idempotency-Key": "b1"})
        assert r.status_code == 201, r.text
        b = r.json()
        assert b["affected_count"] >= 1 and b["clocks"], b
        again = c.post("/api/v1/breaches", json=body, headers={**admin, "Idempotency-Key": "b1"})
        assert again.json()["id"] == b["id"] and rows(mindlink, breaches_table) == 1
        listed = c.get("/api/v1/breaches?limit=1", headers=admin).json()
        assert [x["id"] for x in listed["items"]] == [b["id"]] and listed["next_cursor"] is None
        one = c.get(f"/api/v1/breaches/{b['id']}", headers=admin).json()
        assert one["clocks"][0]["status"] and "affected_count" in one
        told = c.post(
            f"/api/v1/breaches/{b['id']}/regulator-notified",
            json={"at": now.isoformat()},
            headers=admin,
        )
        assert told.status_code == 200 and told.json()["regulator_notified_at"], told.text
        tpl = "{{ organisation }} tells you about {{ breach.title }}."
        n = c.post(f"/api/v1/breaches/{b['id']}/notify", json={"template": tpl}, headers=admin)
        assert n.status_code == 200 and n.json()["queued"] >= 1, n.text
        n2 = c.post(f"/api/v1/breaches/{b['id']}/notify", json={"template": tpl}, headers=admin)
        assert n2.json()["queued"] == 0
        # bad windows: 422 problem, nothing stored
        bad = {**body, "occurred_until": (now - timedelta(days=3)).isoformat()}
        is_problem(c.post("/api/v1/breaches", json=bad, headers=admin), 422)
        future = {**body, "discovered_at": (now + timedelta(days=1)).isoformat()}
        is_problem(c.post("/api/v1/breaches", json=future, headers=admin), 422)
        naive = {**body, "discovered_at": "2024-01-01T00:00:00"}
        is_problem(c.post("/api/v1/breaches", json=naive, headers=admin), 422, "invalid_input")
        assert rows(mindlink, breaches_table) == 1
        is_problem(c.get("/api/v1/breaches/nope", headers=admin), 404)
        is_problem(
            c.post(
                "/api/v1/breaches/nope/regulator-notified",
                json={"at": now.isoformat()},
                headers=admin,
            ),
            404,
        )
        is_problem(
            c.post("/api/v1/breaches/nope/notify", json={"template": tpl}, headers=admin), 404
        )
        weak = api_key(c, ["use"])
        for r in (
            c.get("/api/v1/breaches", headers=weak),
            c.post("/api/v1/breaches", json=body, headers=weak),
        ):
            assert is_problem(r, 403, "refused")["reason"] == "scope_missing"
        assert rows(mindlink, breaches_table) == 1


# -- legal demands -------------------------------------------------------------------------
def test_legal_demands(lite) -> None:
    body = {
        "authority": "Metropolitan Police",
        "instrument": "court_order",
        "reference": "CO-2024-17",
        "scope": "contact details of one account",
        "categories": ["contact"],
    }
    with client_for(lite) as c:
        admin = api_key(c, ["admin"])
        r = c.post("/api/v1/legal-demands", json=body, headers={**admin, "Idempotency-Key": "d"})
        assert r.status_code == 201, r.text
        assert r.json()["instrument"] == "court_order"
        page = c.get("/api/v1/legal-demands", headers=admin).json()
        assert [d["id"] for d in page["items"]] == [r.json()["id"]]
        for bad in ({**body, "instrument": "a_polite_request"}, {**body, "instrument": " "}):
            is_problem(c.post("/api/v1/legal-demands", json=bad, headers=admin), 422)
        is_problem(c.get("/api/v1/legal-demands?cursor=zzz", headers=admin), 422, "invalid_cursor")
        weak = api_key(c, ["disclose"])
        is_problem(c.post("/api/v1/legal-demands", json=body, headers=weak), 403)
        is_problem(c.get("/api/v1/legal-demands", headers=weak), 403)
    assert rows(lite, legal_demands) == 1


# -- tenants and support access -------------------------------------------------------------
def test_tenants_members_grants(lite) -> None:
    with client_for(lite) as c:
        admin = api_key(c, ["admin"])
        body = {"name": "Acme", "primary_email": "dpo@acme.example"}
        r = c.post("/api/v1/tenants", json=body, headers={**admin, "Idempotency-Key": "t"})
        assert r.status_code == 201, r.text
        tid = r.json()["id"]
        other = c.post(
            "/api/v1/tenants",
            json={"name": "Other", "primary_email": "dpo@other.example"},
            headers=admin,
        ).json()["id"]
        assert {x["id"] for x in c.get("/api/v1/tenants", headers=admin).json()["items"]} == {
            tid,
            other,
        }
        inv = c.post(
            f"/api/v1/tenants/{tid}/invitations",
            json={"email": "bob@acme.example", "role": "admin"},
            headers={**admin, "Idempotency-Key": "i"},
        )
        assert inv.status_code == 201, inv.text
        assert "token" not in inv.text.lower() or "token_hash" not in inv.json()
        members = c.get(f"/api/v1/tenants/{tid}/members", headers=admin)
        assert members.status_code == 200 and members.json()["items"] == []
        assert c.get(f"/api/v1/tenants/{tid}/grants", headers=admin).json()["items"] == []
        acc = c.get(f"/api/v1/tenants/{tid}/vendor-accesses", headers=admin)
        assert acc.status_code == 200 and acc.json()["items"] == []
        # a key bound to a tenant reads its own tenant only
        own = api_key(c, ["admin"], tenant_id=tid)
        assert [x["id"] for x in c.get("/api/v1/tenants", headers=own).json()["items"]] == [tid]
        assert c.get(f"/api/v1/tenants/{tid}/grants", headers=own).status_code == 200
        is_problem(c.get(f"/api/v1/tenants/{other}/grants", headers=own), 404)
        is_problem(c.get(f"/api/v1/tenants/{other}/vendor-accesses", headers=own), 404)
        # A key bound to a tenant is never the vendor office (issue 13): refused, not 404.
        refused = is_problem(c.post("/api/v1/tenants", json=body, headers=own), 403, "refused")
        assert refused["reason"] == "tenant_bound"
        # unknown ids, bad input, missing scope
        is_problem(c.get("/api/v1/tenants/nope/members", headers=admin), 404)
        is_problem(c.delete(f"/api/v1/tenants/{tid}/members/nobody", headers=admin), 404)
        is_problem(
            c.post("/api/v1/tenants", json={"name": "", "primary_email": "x@y.z"}, headers=admin),
            422,
        )
        is_problem(
            c.post("/api/v1/tenants", json={"name": "B", "primary_email": "nope"}, headers=admin),
            422,
        )
        is_problem(
            c.post(
                f"/api/v1/tenants/{tid}/invitations",
                json={"email": "c@acme.example", "role": "owner"},
                headers=admin,
            ),
            422,
        )
        weak = api_key(c, ["use"])
        is_problem(c.get("/api/v1/tenants", headers=weak), 403)
        is_problem(c.get(f"/api/v1/tenants/{tid}/grants", headers=weak), 403)
        is_problem(c.post("/api/v1/tenants", json=body, headers=weak), 403)
    assert rows(lite, tenants) == 2


# -- policy administration and the ROPA -----------------------------------------------------
def test_policy_diff_publish_history_ropa(lite) -> None:
    text = lite.settings.resolved_policy_file.read_text()
    changed = text.replace("version:", "version: '99' #", 1)
    yaml = {"Content-Type": "application/yaml"}
    with client_for(lite) as c:
        admin = api_key(c, ["admin"])
        h = {**admin, **yaml}
        d = c.post("/api/v1/policy/diff", content=changed, headers=h)
        assert d.status_code == 200, d.text
        assert d.json()["new_version"] == "99"
        broken = "version: '100'\npurposes:\n  - id: x\n    legal_basis: magic\n"
        bad = is_problem(c.post("/api/v1/policy/diff", content=broken, headers=h), 422)
        assert bad["code"] == "policy_invalid"
        assert any(i.startswith("policy.yaml:") for i in bad["issues"]), bad
        before = rows(lite, policy_versions)
        is_problem(c.post("/api/v1/policy/publish", content=broken, headers=h), 422)
        is_problem(c.post("/api/v1/policy/publish", content=b"", headers=h), 422)
        scan = is_problem(c.post("/api/v1/policy/diff", content="a: \x9e", headers=h), 422)
        assert scan["code"] == "policy_invalid" and scan["issues"][0].startswith("policy.yaml:1")
        assert rows(lite, policy_versions) == before
        pub = c.post("/api/v1/policy/publish", content=changed, headers=h)
        assert pub.status_code == 200, pub.text
        assert pub.json()["version"] == "99"
        hist = c.get("/api/v1/policy/history", headers=admin).json()
        assert hist[0]["version"] == "99"
        assert c.get("/api/v1/ropa", headers=admin).json()
        csv = c.get("/api/v1/ropa?format=csv", headers=admin)
        assert csv.headers["content-type"].startswith("text/csv") and "," in csv.text
        html = c.get("/api/v1/ropa?format=html", headers=admin)
        assert html.headers["content-type"].startswith("text/html")
        is_problem(c.get("/api/v1/ropa?format=pdf", headers=admin), 422)
        weak = api_key(c, ["use"])
        is_problem(c.post("/api/v1/policy/diff", content=changed, headers={**weak, **yaml}), 403)
        is_problem(c.post("/api/v1/policy/publish", content=changed, headers={**weak, **yaml}), 403)
        is_problem(c.get("/api/v1/policy/history", headers=weak), 403)
        is_problem(c.get("/api/v1/ropa", headers=weak), 403)


# -- aggregates ----------------------------------------------------------------------------
def test_aggregates(lite) -> None:
    t = Troth(lite)
    for i in range(12):
        t.collect(
            "newsletter_signup",
            {
                "name": f"P{i}",
                "email": f"p{i}@example.com",
                "organisation": "Acme",
                "job_title": "engineer",
            },
            consents=["newsletter"],
        )
    q = "purpose=signup_statistics&category=organisation&field=job_title&group_by=organisation"
    with client_for(lite) as c:
        use = api_key(c, ["aggregate:signup_statistics", "aggregate:newsletter"])
        r = c.get(f"/api/v1/aggregates?{q}", headers=use)
        assert r.status_code == 200, r.text
        assert r.json()["groups"] == [{"group": ["Acme"], "value": 12}], r.json()
        admin = api_key(c, ["admin"])
        assert c.get(f"/api/v1/aggregates?{q}", headers=admin).status_code == 200
        # not aggregate-only, unknown purpose, bad measure, no group_by
        is_problem(
            c.get(
                "/api/v1/aggregates?purpose=newsletter&category=contact&field=email&group_by=email",
                headers=use,
            ),
            422,
        )
        is_problem(c.get(f"/api/v1/aggregates?{q.replace('signup_', 'nope_')}", headers=admin), 422)
        is_problem(c.get(f"/api/v1/aggregates?{q}&measure=median", headers=use), 422)
        # No group_by: the total alone (group_by is optional since dimensions are declared).
        total = c.get(f"/api/v1/aggregates?{q.split('&group_by')[0]}", headers=use).json()
        assert total["total"] == 12 and total["groups"] == [], total
        # A dimension the policy does not declare, or two dimensions: refused.
        undeclared = q.replace("group_by=organisation", "group_by=job_title")
        body = is_problem(c.get(f"/api/v1/aggregates?{undeclared}", headers=use), 422)
        assert body["code"] == "dimension_not_declared"
        is_problem(c.get(f"/api/v1/aggregates?{q}&group_by=job_title", headers=use), 422)
        is_problem(c.get("/api/v1/aggregates?purpose=a&category=b&field=c", headers=admin), 422)
        is_problem(c.get(f"/api/v1/aggregates?{q}", headers=api_key(c, ["use"])), 403)


def test_breach_review_over_http_and_in_the_console(mindlink) -> None:
    """The officer reviews the affected list (API and console page) and takes people off it
    before anyone is told; bad ids and reasons are refused and nothing changes."""
    from _http import PASSWORD as PW
    from _http import csrf_from

    t = Troth(mindlink)
    t.access.accounts.add_user(
        "officer@example.com", kind="staff", role="privacy_office", password=PW
    )
    a = t.collect("support_request", SUPPORT).subject_id
    b = t.collect("support_request", {**SUPPORT, "email": "bo@example.com"}).subject_id
    mindlink.clock.advance(timedelta(days=1, hours=12))
    now = mindlink.clock.now()
    body = {
        "title": "Help desk export leaked",
        "description": "A support export was readable without login.",
        "discovered_at": now.isoformat(),
        "occurred_from": (now - timedelta(days=2)).isoformat(),
        "occurred_until": (now - timedelta(days=1)).isoformat(),
        "categories": ["support"],
    }
    with client_for(mindlink) as c:
        admin = api_key(c, ["admin"])
        unknown = {**body, "systems": ["zendesk"]}
        p = is_problem(c.post("/api/v1/breaches", json=unknown, headers=admin), 422)
        assert "zendesk" in p["detail"] and "troth" in p["detail"]
        scoped = {**body, "subject_ids": ["x" * 32]}
        is_problem(c.post("/api/v1/breaches", json=scoped, headers=admin), 422)
        assert rows(mindlink, breaches_table) == 0
        bid = c.post("/api/v1/breaches", json=body, headers=admin).json()["id"]
        review = c.get(f"/api/v1/breaches/{bid}/affected?limit=1", headers=admin).json()
        assert len(review["items"]) == 1 and review["next_cursor"]
        assert review["preview"] == {
            "to_notify": 2,
            "reachable": 2,
            "unreachable": 0,
            "already_notified": 0,
            "left_to_controller": 0,
        }
        rest = c.get(
            f"/api/v1/breaches/{bid}/affected",
            params={"cursor": review["next_cursor"]},
            headers=admin,
        ).json()
        assert {x["subject_id"] for x in review["items"] + rest["items"]} == {a, b}
        is_problem(
            c.post(f"/api/v1/breaches/{bid}/exclude", json={"subject_ids": [b]}, headers=admin),
            422,
        )
        weak = api_key(c, ["use"])
        is_problem(c.get(f"/api/v1/breaches/{bid}/affected", headers=weak), 403)
        # A key bound to a customer is never the vendor's office, whatever its scopes: the
        # affected list answers it with its own people only, and a breach of none of them
        # is the 404 of an unknown one (trial 16, G1: it was refused tenant_bound even for
        # its own people); the review's writes stay the office's.
        acme = c.app.state.troth.access.tenants.create_tenant("Acme", "office@acme.example")  # type: ignore[attr-defined]
        bound = api_key(c, ["admin"], tenant_id=acme)
        is_problem(c.get(f"/api/v1/breaches/{bid}/affected", headers=bound), 404)
        for r in (
            c.post(
                f"/api/v1/breaches/{bid}/exclude",
                json={"subject_ids": [b], "reason": "x"},
                headers=bound,
            ),
        ):
            assert is_problem(r, 403)["reason"] == "tenant_bound"
        assert t.breaches.get(bid).affected_count == 2
        is_problem(
            c.post(
                f"/api/v1/breaches/{bid}/exclude",
                json={"subject_ids": [b], "reason": "x"},
                headers=weak,
            ),
            403,
        )
        out = c.post(
            f"/api/v1/breaches/{bid}/exclude",
            json={"subject_ids": [b], "reason": "encrypted copy"},
            headers=admin,
        )
        assert out.status_code == 200 and out.json()["affected_count"] == 1, out.text

        # The console: the officer sees the list and takes the remaining person off it.
        login = c.get("/console/login").text
        c.post(
            "/console/login",
            data={"email": "officer@example.com", "password": PW, "csrf_token": csrf_from(login)},
        )
        page = c.get(f"/console/breaches/{bid}")
        assert page.status_code == 200 and a in page.text and b not in page.text
        assert 'id="to-notify">1 (0 without an address)' in page.text
        bad = c.post(
            f"/console/breaches/{bid}/exclude",
            data={f"p_{a}": "on", "reason": "", "csrf_token": csrf_from(page.text)},
        )
        assert bad.status_code == 422 and "why" in bad.text
        done = c.post(
            f"/console/breaches/{bid}/exclude",
            data={
                f"p_{a}": "on",
                "reason": "not in the export",
                "csrf_token": csrf_from(page.text),
            },
        )
        assert done.status_code == 200 and "Nobody is affected" in done.text
        assert t.breaches.get(bid).affected_count == 0
