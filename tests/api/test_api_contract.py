"""The HTTP contract (issue 20, items 6 and 10): typed bodies (``dry_run`` is a JSON boolean
or the request is refused; nothing runs), ``Allow`` on every 405, ``Retry-After`` on a 429
that knows it, every status the API answers in the OpenAPI document, and the console's
number fields read as finite numbers in range."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from _http import PASSWORD, api_key, client_for, csrf_from, is_problem
from troth.access.tables import support_grants
from troth.clock import ManualClock
from troth.engine import Troth
from troth.store.tables import records

SUPPORT = {"name": "Ada Lovelace", "email": "ada@example.com", "message": "Hello"}


def count(ctx: Any, table: Any) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_dry_run_is_a_json_boolean_or_nothing_runs(mindlink: Any) -> None:
    t = Troth(mindlink)
    t.collect("support_request", SUPPORT)
    mindlink.clock.advance(timedelta(days=366 * 10))  # past every keep_for of the point
    due = t.retention.plan().total
    assert due > 0
    kept = count(mindlink, records)
    with client_for(mindlink) as c:
        h = api_key(c, ["admin"])
        for lax in (0, 1, "no", "off", "false", "0", "", None, [], {}, 0.0, "true"):
            r = c.post("/api/v1/retention/run", json={"dry_run": lax}, headers=h)
            body = is_problem(r, 422, "invalid_input")
            assert body["detail"].startswith("dry_run: "), body
            assert count(mindlink, records) == kept, lax
        r = c.post("/api/v1/retention/run", json={}, headers=h)
        assert r.status_code == 200 and r.json()["dry_run"] is True
        r = c.post("/api/v1/retention/run", json={"dry_run": True}, headers=h)
        assert r.status_code == 200 and r.json()["dry_run"] is True
        assert count(mindlink, records) == kept
        r = c.post("/api/v1/retention/run", json={"dry_run": False}, headers=h)
        assert r.status_code == 200 and r.json()["dry_run"] is False
        assert count(mindlink, records) < kept


def test_other_typed_fields_refuse_lax_values(lite: Any) -> None:
    with client_for(lite) as c:
        h = api_key(c, ["admin"])
        breach = {
            "title": "t",
            "description": "d",
            "discovered_at": "2026-01-05T09:00:00+00:00",
            "occurred_from": "2026-01-04T09:00:00+00:00",
            "occurred_until": "2026-01-05T08:00:00+00:00",
            "categories": ["contact"],
        }
        for lax in ("yes", 1, "true"):
            r = c.post("/api/v1/breaches", json={**breach, "high_risk": lax}, headers=h)
            is_problem(r, 422, "invalid_input")
        # A date-time is ISO text: a number would be taken for a Unix time (s or ms).
        for unix in (1767603600, "1767603600", 1767603600000, 1767603600.5):
            r = c.post("/api/v1/breaches", json={**breach, "discovered_at": unix}, headers=h)
            body = is_problem(r, 422, "invalid_input")
            assert body["detail"].startswith("discovered_at: write an ISO 8601 date-time"), body
        r = c.post("/api/v1/breaches", json=breach, headers=h)
        assert r.status_code == 201, r.text
        yaml_h = {**h, "Content-Type": "application/yaml"}
        text = lite.settings.resolved_policy_file.read_text()
        for day in ("1767571200", "20260105"):
            r = c.post(f"/api/v1/policy/publish?effective={day}", content=text, headers=yaml_h)
            assert "write a date as YYYY-MM-DD" in is_problem(r, 422, "invalid_input")["detail"]
        req = c.post(
            "/api/v1/requests", json={"kind": "access", "email": "ada@example.com"}, headers=h
        )
        assert req.status_code == 201, req.text
        rid = req.json()["id"]
        for lax in ("30", 30.0, True):
            r = c.post(
                f"/api/v1/requests/{rid}/extend",
                json={"reason": "complex", "extend_by": lax},
                headers=h,
            )
            is_problem(r, 422, "invalid_input")


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/api/v1/retention/run", "POST"),
        ("PUT", "/api/v1/requests", "GET, HEAD, POST"),
        ("PATCH", "/api/v1/subjects/abc", "GET, HEAD"),
        ("GET", "/api/v1/retention/run", "POST"),
        ("PUT", "/console/support", "GET, HEAD, POST"),
    ],
)
def test_405_names_the_methods_allowed(lite: Any, method: str, path: str, allow: str) -> None:
    with client_for(lite) as c:
        r = c.request(method, path, headers=api_key(c, ["admin"]))
        assert r.status_code == 405
        assert r.headers["allow"] == allow
        if path.startswith("/api/"):
            is_problem(r, 405, "method_not_allowed")


def test_every_operation_documents_the_statuses_it_can_answer(lite: Any) -> None:
    with client_for(lite) as c:
        doc = c.get("/openapi.json").json()
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            documented = set(op["responses"])
            assert {"400", "401", "403", "404", "409", "413", "422", "429"} <= documented, (
                method,
                path,
                documented,
            )
    run = doc["paths"]["/api/v1/retention/run"]["post"]
    schema = doc["components"]["schemas"]["RunIn"]["properties"]["dry_run"]
    assert schema["type"] == "boolean" and "422" in run["responses"]


def test_a_locked_request_answers_429_with_its_documentation(lite: Any) -> None:
    with client_for(lite) as c:
        h = api_key(c, ["admin"])
        rid = c.post(
            "/api/v1/requests", json={"kind": "access", "email": "ada@example.com"}, headers=h
        ).json()["id"]
        statuses = [
            c.post(f"/api/v1/requests/{rid}/verify", json={"code": "000000"}, headers=h).status_code
            for _ in range(7)
        ]
        assert statuses[-1] == 429, statuses
        r = c.post(f"/api/v1/requests/{rid}/verify", json={"code": "000000"}, headers=h)
        is_problem(r, 429)


def test_console_support_hours_are_finite_numbers_in_range(home: Any) -> None:
    ctx = home("phone-service", clock=ManualClock(), context=True)
    t = Troth(ctx)
    tenant = t.access.tenants.create_tenant("Acme", "office@acme.example")
    t.access.accounts.add_user("v@vendor.example", kind="vendor_admin", password=PASSWORD)
    with client_for(ctx) as c:
        login = c.get("/console/login").text
        r = c.post(
            "/console/login",
            data={
                "email": "v@vendor.example",
                "password": PASSWORD,
                "csrf_token": csrf_from(login),
            },
        )
        assert r.status_code == 200, r.text
        token = csrf_from(c.get("/console/support").text)
        form = {"csrf_token": token, "tenant_id": tenant, "reason": "ticket 7"}
        for hours in ("nan", "inf", "-inf", "1e400", "1e300", "-1", "8785", "four"):
            r = c.post("/console/support", data={**form, "hours": hours})
            assert r.status_code == 422, (hours, r.status_code)
            assert "hours must be a number from 0 to 8784" in r.text
            assert "Traceback" not in r.text
        assert count(ctx, support_grants) == 0
        r = c.post("/console/support", data={**form, "hours": "4"}, follow_redirects=False)
        assert r.status_code == 303, r.text
        assert count(ctx, support_grants) == 1
    ctx.engine.dispose()
