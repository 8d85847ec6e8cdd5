"""P09 (phone-service, itechno, ixanet): aggregates reveal no one. A group below k is not
returned, label and all; grouping only by the dimensions the policy declares; no total or
second query gives a dropped group away by subtraction; a tenant-bound actor counts only
its own tenant's people; a consent-based purpose counts exactly the people who consented."""

from __future__ import annotations

from typing import Any

import pytest

from _http import api_key, client_for, is_problem
from troth.aggregates.query import aggregate
from troth.audit.entries import list_entries
from troth.clock import ManualClock
from troth.engine import Troth
from troth.errors import Refused, ValidationError
from troth.gate import Actor, ActorKind

BI = Actor(ActorKind.application, "bi", scopes=frozenset({"aggregate"}))
CALL = {"extension": "12", "started_at": "2026-03-01T10:00:00+00:00", "duration_seconds": 60}


def _calls(t: Troth, tenant: str, n: int, seconds: int = 60) -> None:
    for i in range(n):
        call = {**CALL, "extension": str(100 + i), "duration_seconds": seconds}
        t.collect("call_record_import", call, tenant_id=tenant)


def test_p09_undeclared_dimension_refused_and_totals_need_k(home, db_url) -> None:
    t = home("phone-service", db_url)  # k = 5; service_improvement: totals only
    acme = t.access.tenants.create_tenant("Acme", "office@acme.example")
    _calls(t, acme, 4)
    for dim in ("started_at", "extension", "destination_number", "nonsense"):
        with pytest.raises(ValidationError) as exc:
            aggregate(t.ctx, "service_improvement", "call_records", "started_at", [dim], actor=BI)
        assert exc.value.code == "dimension_not_declared"
        assert "none: totals only" in exc.value.message
    # Four people (k - 1): nothing, not even the total.
    r = aggregate(t.ctx, "service_improvement", "call_records", "duration_seconds", actor=BI)
    assert r.total is None and r.cells == {} and r.other is None
    avg = aggregate(t.ctx, "service_improvement", "call_records", "duration_seconds", (), "avg", BI)
    assert avg.total is None
    # The fifth (exactly k): the total is published.
    _calls(t, acme, 1)
    r = aggregate(t.ctx, "service_improvement", "call_records", "duration_seconds", actor=BI)
    assert r.total == 5
    avg = aggregate(t.ctx, "service_improvement", "call_records", "duration_seconds", (), "avg", BI)
    assert avg.total == 60


def test_p09_tenant_bound_actor_counts_only_its_tenant(home, db_url) -> None:
    t = home("phone-service", db_url)
    acme = t.access.tenants.create_tenant("Acme", "office@acme.example")
    globex = t.access.tenants.create_tenant("Globex", "office@globex.example")
    _calls(t, acme, 6, seconds=10)
    _calls(t, globex, 3, seconds=1000)
    vendor = aggregate(t.ctx, "service_improvement", "call_records", "duration_seconds", actor=BI)
    assert vendor.total == 9
    for scopes in ({"aggregate"}, {"admin"}):
        key = Actor(ActorKind.application, "acme-bi", tenant_id=acme, scopes=frozenset(scopes))
        own = aggregate(t.ctx, "service_improvement", "call_records", "duration_seconds", actor=key)
        assert own.total == 6  # Globex's three calls are not counted
        s = aggregate(
            t.ctx, "service_improvement", "call_records", "duration_seconds", (), "sum", key
        )
        assert s.total == 60
        other = Actor(ActorKind.application, "g", tenant_id=globex, scopes=frozenset(scopes))
        few = aggregate(
            t.ctx, "service_improvement", "call_records", "duration_seconds", actor=other
        )
        assert few.total is None  # three people: below k, even for their own tenant
    # A key without the aggregate scope: refused and audited.
    weak = Actor(ActorKind.application, "w", tenant_id=acme, scopes=frozenset({"collect"}))
    with pytest.raises(Refused):
        aggregate(t.ctx, "service_improvement", "call_records", "duration_seconds", actor=weak)
    denied = [e for e in list_entries(t.ctx, limit=1000) if e.entry.action == "aggregate"]
    assert denied[-1].entry.outcome == "deny" and denied[-1].entry.tenant_id == acme


def _browsers(t: Troth, counts: dict[str, int], event: str = "download") -> None:
    rows = [{"event": event, "browser": b} for b, n in counts.items() for _ in range(n)]
    t.collect_many("site_usage", rows)


def test_p09_group_of_k_minus_one_dropped_with_its_label(home, db_url) -> None:
    t = home("itechno", db_url)  # k = 10
    _browsers(t, {"Firefox": 10, "Chrome": 10, "Lynx": 9})
    r = aggregate(t.ctx, "product_improvement", "technical", "browser", ["browser"], actor=BI)
    body = r.to_dict()
    assert "Lynx" not in str(body) and "suppressed" not in body
    # Lynx (9) is dropped; alone it would be total - the rest, so Chrome or Firefox (both
    # exactly k) goes with it; the other, exactly k, is shown.
    assert len(r.cells) == 1 and list(r.cells.values()) == [10]
    assert r.total == 29 and r.other == 19  # the dropped groups together: >= k
    assert r.other >= r.k


def test_p09_no_second_query_gives_a_dropped_group_away(home, db_url) -> None:
    t = home("itechno", db_url)  # k = 10
    _browsers(t, {"Firefox": 30, "Chrome": 12, "Lynx": 2}, event="download")
    _browsers(t, {"Firefox": 5, "Chrome": 11}, event="view")
    queries = [
        ("technical", "browser", ["browser"]),
        ("usage", "event", ["browser"]),  # another field: the same counts and mask
        ("usage", "event", ["event"]),
        ("usage", "event", []),
        ("technical", "browser", []),
    ]
    results = [aggregate(t.ctx, "product_improvement", c, f, g, actor=BI) for c, f, g in queries]
    totals = {r.total for r in results}
    assert totals == {60}  # every grouping of the same people: the same total
    by_browser = results[0]
    assert by_browser.cells == results[1].cells and by_browser.other == results[1].other
    assert ("Lynx",) not in by_browser.cells
    for r in results:
        assert all(v >= r.k for v in r.cells.values())
        # total - published = other, which is itself >= k: no dropped group on its own.
        if r.other is not None:
            assert r.other >= r.k and r.total == sum(r.cells.values()) + r.other
    # Two dimensions at once would publish margins a second query contradicts: refused.
    with pytest.raises(ValidationError, match="at most one dimension"):
        aggregate(t.ctx, "product_improvement", "usage", "event", ["event", "browser"], actor=BI)


def test_p09_consent_purpose_counts_who_consented(home, db_url) -> None:
    t = home("ixanet", db_url)  # statistics: consent-based, aggregate-only, k = 5
    visit = {"page": "/pricing", "user_agent": "Firefox", "isp": "BT", "referrer": "-"}
    yes = [
        t.collect("website_visit", {**visit, "ip_address": f"10.0.0.{i}"}, consents=["statistics"])
        for i in range(6)
    ]
    # Three more consented at collection, then withdrew (a visit without consent is
    # not even collected): they are no longer counted.
    for i in range(3):
        c = t.collect(
            "website_visit", {**visit, "ip_address": f"10.0.1.{i}"}, consents=["statistics"]
        )
        t.consent.withdraw(c.subject_id, "statistics")
    r = aggregate(t.ctx, "statistics", "technical", "page", ["page"], actor=BI)
    assert r.cells == {("/pricing",): 6} and r.total == 6  # the three others not counted
    entry = [e for e in list_entries(t.ctx, limit=1000) if e.entry.action == "aggregate"][-1]
    assert entry.entry.outcome == "allow"
    assert entry.entry.details["not_counted"] == {"no_consent": 3}
    # Two withdraw: four left, below k: nothing is shown.
    for c in yes[:2]:
        t.consent.withdraw(c.subject_id, "statistics")
    r = aggregate(t.ctx, "statistics", "technical", "page", ["page"], actor=BI)
    assert r.cells == {} and r.total is None
    # Grouping by an identifying field is not declared: refused.
    with pytest.raises(ValidationError, match="dimensions the policy declares"):
        aggregate(t.ctx, "statistics", "technical", "ip_address", ["ip_address"], actor=BI)


def test_p09_http(home: Any, db_url: str) -> None:
    ctx = home("phone-service", db_url, clock=ManualClock(), context=True)
    t = Troth(ctx)
    acme = t.access.tenants.create_tenant("Acme", "office@acme.example")
    globex = t.access.tenants.create_tenant("Globex", "office@globex.example")
    _calls(t, acme, 5)
    _calls(t, globex, 5)
    base = "/api/v1/aggregates?purpose=service_improvement&category=call_records"
    with client_for(ctx) as c:
        key = api_key(c, ["aggregate"])
        for dim in ("started_at", "extension"):
            body = is_problem(c.get(f"{base}&field=started_at&group_by={dim}", headers=key), 422)
            assert body["code"] == "dimension_not_declared"
            assert "2026-03-01" not in str(body) and "100" not in str(body)
        r = c.get(f"{base}&field=duration_seconds", headers=key)
        assert r.status_code == 200, r.text
        got: dict[str, Any] = r.json()
        assert got["total"] == 10 and got["groups"] == [] and "suppressed" not in got
        bound = api_key(c, ["admin"], tenant_id=acme)
        assert c.get(f"{base}&field=duration_seconds", headers=bound).json()["total"] == 5
    t.close()
    ctx.engine.dispose()


def test_p09_restricted_people_and_every_kind_of_actor(home, db_url) -> None:
    from troth.access import actor_for
    from troth.audit.log import transaction
    from troth.requests.execution import restrict_in_store

    t = home("phone-service", db_url)
    acc = t.access
    acme = acc.tenants.create_tenant("Acme", "office@acme.example")
    globex = acc.tenants.create_tenant("Globex", "office@globex.example")
    _calls(t, acme, 6)
    _calls(t, globex, 6)
    tok, _ = acc.tenants.invite(acme, "admin@acme.example", role="admin")
    admin = actor_for(acc.tenants.accept_invitation(tok, "correct horse battery staple"))
    q = ("service_improvement", "call_records", "duration_seconds")
    assert aggregate(t.ctx, *q, actor=admin).total == 6  # the tenant's admin: its own only
    # A person who limited the use of their data for this purpose is not counted (P26).
    sid = t.collect("call_record_import", CALL, tenant_id=acme).subject_id
    assert aggregate(t.ctx, *q, actor=admin).total == 7
    with transaction(t.ctx) as conn:
        restrict_in_store(conn, t.ctx, sid, ["service_improvement"], "req1", t.ctx.clock.now())
    assert aggregate(t.ctx, *q, actor=admin).total == 6
    entry = [e for e in list_entries(t.ctx, limit=1000) if e.entry.action == "aggregate"][-1]
    assert entry.entry.details["not_counted"] == {"restricted": 1}
    # The person, staff of a role without the purpose, an unknown role: refused, audited.
    for who, reason in (
        (Actor(ActorKind.subject, sid), "not_a_member"),
        (Actor(ActorKind.staff, "s", role="nonexistent"), "role_not_allowed"),
    ):
        with pytest.raises(Refused) as exc:
            aggregate(t.ctx, *q, actor=who)
        assert exc.value.reason == reason
    # The admin's membership revoked: refused, not an empty count.
    acc.tenants.revoke_member(acme, admin.id)
    with pytest.raises(Refused) as exc:
        aggregate(t.ctx, *q, actor=admin)
    assert exc.value.reason == "not_a_member"
