"""The HTTP contract (issue 20, items 6 and 10): typed bodies (``dry_run`` is a JSON boolean
or the request is refused; nothing runs), ``Allow`` on every 405, ``Retry-After`` on a 429
that knows it, every status the API answers in the OpenAPI document, and the console's
number fields read as finite numbers in range."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Annotated, Any, get_args

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo
from sqlalchemy import func, select

from _http import PASSWORD, api_key, client_for, csrf_from, is_problem
from troth.access.tables import support_grants
from troth.api.router import build_router
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


def _adapter(info: FieldInfo) -> TypeAdapter[Any]:
    typed = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
    return TypeAdapter(typed)


def _dated(info: FieldInfo) -> bool:
    """Whether a field reads a date or a date-time (its JSON schema's ``format``; pydantic's
    AwareDatetime is no subclass of datetime)."""
    if any(True for _ in _models(info.annotation)):
        return False  # a model: its own fields are walked
    schema = json.dumps(_adapter(info).json_schema())
    return '"format": "date' in schema


def _models(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in get_args(annotation):
        yield from _models(arg)


def _fields(name: str, info: FieldInfo, seen: set[Any]) -> Iterator[tuple[str, FieldInfo]]:
    """``name`` and, through every model it holds, each field inside (``Model.field``)."""
    yield name, info
    for model in _models(info.annotation):
        if model not in seen:
            seen.add(model)
            for field, inner in model.model_fields.items():
                yield from _fields(f"{model.__name__}.{field}", inner, seen)


def _dated_inputs() -> dict[str, FieldInfo]:
    """Every date or date-time the HTTP API reads: body fields (nested models too), query,
    path and header parameters of every route."""
    found: dict[str, FieldInfo] = {}
    for context in iter_route_contexts(build_router().routes):
        route = context.route
        assert isinstance(route, APIRoute), route
        todo, seen = [route.dependant], set()
        while todo:
            dep = todo.pop()
            todo.extend(dep.dependencies)
            params = dep.body_params + dep.query_params + dep.path_params + dep.header_params
            for param in params:
                for name, info in _fields(f"{route.path} {param.name}", param.field_info, seen):
                    if _dated(info):
                        found[name] = info
    return found


DATED_INPUTS = _dated_inputs()


def test_the_walk_finds_the_dated_inputs_it_should() -> None:
    assert {
        "OpenIn.received_at",
        "BreachIn.discovered_at",
        "BreachIn.aware_at",
        "NotifiedIn.at",
        "DemandIn.received_at",
        "DemandIn.gag_until",
        "/policy/publish effective",
    } <= set(DATED_INPUTS), sorted(DATED_INPUTS)


@pytest.mark.parametrize("name", sorted(DATED_INPUTS))
def test_every_dated_input_is_iso_text_never_a_unix_time(name: str) -> None:
    """Lax parsing reads 1796584668 (or "1796584668", "20261201") as a Unix time: a date
    eleven months off, or 1970. Every date and date-time the API reads is ISO 8601 text."""
    adapter = _adapter(DATED_INPUTS[name])
    unix = int(datetime(2026, 12, 6, 9, 17, 48).timestamp())
    lax = (unix, unix + 0.5, unix * 1000, str(unix), f"{unix}.5", "20261206", True)
    for value in lax:
        with pytest.raises(ValidationError, match=r"write an?( ISO 8601)? date"):
            adapter.validate_python(value)
        with pytest.raises(ValidationError, match=r"write an?( ISO 8601)? date"):
            adapter.validate_json(f'"{value}"' if isinstance(value, str) else str(value).lower())
    iso = [v for v in ("2026-12-06", "2026-12-06T09:17:48+00:00") if _reads(adapter, v)]
    assert iso, f"{name} takes no ISO 8601 text"


def _reads(adapter: TypeAdapter[Any], text: str) -> bool:
    try:
        return isinstance(adapter.validate_json(f'"{text}"'), date)
    except ValidationError:
        return False


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
