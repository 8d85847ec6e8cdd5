"""Operating troth over HTTP: /healthz, /readyz (503 with the failing check's name when the
key file cannot be read or the schema is behind), /metrics after a scenario (collect, a
use, a refusal, a request) with route templates, never ids or addresses, in its labels;
who may read /metrics (the metrics_access setting)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from _http import api_key, client_for, is_problem
from troth.audit import list_entries
from troth.clock import ManualClock
from troth.home import open_context

SUPPORT = {"name": "Ada Lovelace", "email": "ada@example.com", "message": "My invoice is wrong"}


def samples(body: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(scraped: dict[Any, float], name: str, **labels: str) -> float:
    return scraped.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def client(lite) -> Iterator[Any]:
    with client_for(lite) as c:
        yield c


def test_healthz_is_cheap_and_says_nothing_else(client) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    assert r.headers["cache-control"] == "no-store"
    assert len(r.headers["x-request-id"]) == 32


def test_readyz_ready_then_503_when_the_key_file_cannot_be_read(lite, client) -> None:
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.json() == {
        "status": "ready",
        "checks": {"database": "ok", "key_file": "ok", "heads_file": "ok", "migrations": "ok"},
    }
    key_file = lite.settings.resolved_key_file
    if os.geteuid() == 0:  # root reads a 0000 file: take the file away instead
        moved = key_file.with_suffix(".away")
        key_file.rename(moved)
        restore = lambda: moved.rename(key_file)  # noqa: E731
    else:
        key_file.chmod(0)
        restore = lambda: key_file.chmod(0o600)  # noqa: E731
    try:
        r = client.get("/readyz")
    finally:
        restore()
    assert r.status_code == 503
    assert r.json()["status"] == "not_ready"
    assert r.json()["checks"]["key_file"] == "fail"
    assert r.json()["checks"]["database"] == "ok"
    # Names only: no path, no setting, no message.
    assert str(lite.home) not in r.text and "keys.json" not in r.text
    assert client.get("/readyz").status_code == 200


def test_readyz_503_when_migrations_are_behind(lite, client) -> None:
    with lite.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["checks"] == {
        "database": "ok",
        "key_file": "ok",
        "heads_file": "ok",
        "migrations": "fail",
    }


def test_readyz_503_when_the_heads_file_cannot_be_written(lite, client, tmp_path) -> None:
    heads = lite.settings.resolved_heads_file
    heads.unlink()
    heads.mkdir()  # a folder where the file should be: no head can be appended
    try:
        r = client.get("/readyz")
    finally:
        heads.rmdir()
    assert r.status_code == 503 and r.json()["checks"]["heads_file"] == "fail"


def test_metrics_after_a_scenario(mindlink) -> None:
    """On SQLite and PostgreSQL (the figures read at scrape time are queries)."""
    with client_for(mindlink) as client:
        _scenario(mindlink, client)


def _scenario(lite, client) -> None:
    admin = api_key(client, ["metrics"])
    before = samples(client.get("/metrics", headers=admin).text)
    h = api_key(client, ["collect", "use"])
    r = client.post("/api/v1/collect/support_request", json={"data": SUPPORT}, headers=h)
    assert r.status_code == 201, r.text
    sid = r.json()["subject_id"]
    assert (
        client.get(f"/api/v1/subjects/{sid}", params={"purpose": "support"}, headers=h).status_code
        == 200
    )
    refused = client.get(f"/api/v1/subjects/{sid}", params={"purpose": "newsletter"}, headers=h)
    reason = is_problem(refused, 403)["reason"]
    req = client.post(
        "/api/v1/requests",
        json={"kind": "delete", "email": "ada@example.com"},
        headers=api_key(client, ["requests:admin"]),
    )
    assert req.status_code == 201, req.text
    body = client.get("/metrics", headers=admin).text
    after = samples(body)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    subject_route = "/api/v1/subjects/{subject_id}"
    assert moved("troth_http_requests_total", method="GET", route=subject_route, status="200") == 1
    assert moved("troth_http_requests_total", method="GET", route=subject_route, status="403") == 1
    assert (
        moved(
            "troth_http_requests_total",
            method="POST",
            route="/api/v1/collect/{point}",
            status="201",
        )
        == 1
    )
    assert (
        moved("troth_http_requests_total", method="POST", route="/api/v1/requests", status="201")
        == 1
    )
    assert (
        moved("troth_http_request_duration_seconds_count", method="GET", route=subject_route) == 2
    )
    # The refusal and the allows, as the audit log recorded them.
    assert moved("troth_gate_decisions_total", outcome="deny", reason=reason) == 1
    denies = [e for e in list_entries(lite) if str(e.entry.outcome) == "deny"]
    assert any(e.entry.reason == reason for e in denies)
    allows = sum(
        v - value(before, n, **dict(k))
        for (n, k), v in after.items()
        if n == "troth_gate_decisions_total" and dict(k)["outcome"] == "allow"
    )
    assert allows >= 2  # the collect and the use at least
    assert moved("troth_audit_appends_total", outcome="deny") >= 1
    # Figures read at scrape time: the request is open and due later; mail is waiting.
    assert value(after, "troth_requests_open", due="overdue") == 0
    assert (
        sum(value(after, "troth_requests_open", due=d) for d in ("today", "week", "month", "later"))
        == 1
    )
    assert value(after, "troth_outbox_messages", status="queued") >= 1
    assert value(after, "troth_audit_entries") == value(after, "troth_audit_head_entries")
    assert value(after, "troth_audit_head_age_seconds") >= 0
    # Labels carry templates and codes: never the subject's id, an address or a query.
    for needle in (sid, "ada@example.com", "Ada", "purpose=", "newsletter&"):
        assert needle not in body, needle


def test_unmatched_paths_share_one_label(client) -> None:
    admin = api_key(client, ["metrics"])
    client.get("/no/such/ada@example.com")
    body = client.get("/metrics", headers=admin).text
    assert "ada@example.com" not in body
    assert 'route="<unmatched>",status="404"' in body


def test_who_may_read_metrics(lite, client) -> None:
    is_problem(client.get("/metrics"), 401)
    for scopes in (["use"], ["requests:admin"]):
        is_problem(client.get("/metrics", headers=api_key(client, scopes)), 403, "scope_missing")
    tenant = client.app.state.troth.access.tenants.create_tenant("Acme", "office@acme.example")
    bound = api_key(client, ["metrics"], tenant_id=tenant)
    is_problem(client.get("/metrics", headers=bound), 403, "tenant_bound")
    for scopes in (["metrics"], ["admin"]):
        r = client.get("/metrics", headers=api_key(client, scopes))
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    denied = [e.entry for e in list_entries(lite) if e.entry.action == "metrics.read"]
    assert [e.reason for e in denied] == ["scope_missing", "scope_missing", "tenant_bound"]


def test_metrics_access_open_and_off(home) -> None:
    ctx = home("mindlink", clock=ManualClock(), context=True)
    try:
        for access, status in (("open", 200), ("off", 404)):
            c2 = open_context(ctx.home, metrics_access=access)
            with client_for(c2) as c:
                assert c.get("/metrics").status_code == status
            c2.engine.dispose()
    finally:
        ctx.engine.dispose()


def test_a_callers_request_id_is_kept_only_when_well_formed(client) -> None:
    r = client.get("/healthz", headers={"X-Request-Id": "abc-12345678"})
    assert r.headers["x-request-id"] == "abc-12345678"
    r = client.get("/healthz", headers={"X-Request-Id": "ada@example.com\nforged"})
    assert r.headers["x-request-id"] != "ada@example.com\nforged"
    assert len(r.headers["x-request-id"]) == 32


def test_readyz_and_metrics_on_mariadb(home, mysql_url) -> None:
    ctx = home("mindlink", mysql_url, clock=ManualClock(), context=True)
    try:
        with client_for(ctx) as c:
            _scenario(ctx, c)
            assert c.get("/readyz").json()["status"] == "ready"
    finally:
        ctx.engine.dispose()


def test_metrics_still_answer_when_the_database_figures_cannot_be_read(
    home, pg_url, caplog
) -> None:
    import sqlalchemy as sa

    made = home("mindlink", pg_url, clock=ManualClock(), context=True)
    made.engine.dispose()
    ctx = open_context(made.home, metrics_access="open")
    try:
        with client_for(ctx) as c:
            assert "troth_figures_up 1.0" in c.get("/metrics").text
            schema = pg_url.rsplit("%3D", 1)[1]
            admin_engine = sa.create_engine(pg_url.split("?")[0], isolation_level="AUTOCOMMIT")
            with admin_engine.connect() as conn:  # troth's tables are gone
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
                conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
            admin_engine.dispose()
            r = c.get("/metrics")
            assert r.status_code == 200
            assert "troth_figures_up 0.0" in r.text and "troth_http_requests_total" in r.text
            assert "troth_outbox_messages" not in r.text
            ready = c.get("/readyz")
            assert ready.status_code == 503 and ready.json()["checks"]["migrations"] == "fail"
            # A 500 elsewhere logs the route's template and the request id, not the path.
            caplog.clear()
            key = {"Authorization": "Bearer trk_" + "a" * 43}  # looked up: the tables are gone
            failed = c.get("/api/v1/subjects/ada-at-example", headers=key)
            assert failed.status_code == 500
            messages = [r.getMessage() for r in caplog.records]
            assert any(
                m.startswith("GET /api/v1/subjects/{subject_id} failed (request ") for m in messages
            ), messages
            assert not any("ada-at-example" in m for m in messages)
    finally:
        ctx.engine.dispose()
