"""A value troth never writes, put into one of its tables by a database writer (trial #16
F4: ``UPDATE legal_demands SET gag_until=''`` crashed `troth audit verify`, `troth
disclosures list` and two endpoints with ``ValueError: Invalid isoformat string``): an
empty or garbled time, a number in a date, an impossible date, text that is not JSON, a
list where a document belongs, a state no troth knows. Whatever reads it is refused
(``TamperedValue``, ``record_tampered``, 409; the CLI's one red line), audited once by the
edge that answered, and `troth audit verify` names the row and column and goes on checking
the rest. Where troth decides on the log's record of a row (a demand's gag, a policy
version's dates) or on its seal (an API key, a customer), it does as for any row changed
outside troth. SQLite holds anything in any column; PostgreSQL only in its text and JSON
columns, tested there too."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from troth.audit import verify_log
from troth.audit.entries import list_entries
from troth.audit.unreadable import audit_refusal
from troth.engine import Troth
from troth.errors import AuthenticationError, TamperedValue
from troth.gate import Actor, ActorKind
from troth.notices.outbox import list_outbox

OFFICE = Actor(ActorKind.staff, "pat", role="privacy_office")
SHOP = Actor(ActorKind.application, "shop", scopes=frozenset({"admin"}))
ANN = {
    "name": "Ann Lee",
    "email": "ann@example.com",
    "address": "1 Main St",
    "card_number": "4111111111111111",
    "card_expiry": "12/29",
    "order_items": "1 widget",
}


@dataclass
class World:
    """One of each row the cases below change: a person and their values, a legal demand
    under a running gag and a disclosure under it, a request, a breach, an account, a
    consent event, a customer and an API key."""

    t: Troth
    ann: str
    demand: str
    disclosure: str
    request: str
    breach: str
    user: str
    tenant: str
    key: str
    key_id: str

    def row(self, table: str) -> str:
        """The id of this world's row of ``table`` (the first, where it has several)."""
        by_table = {
            "legal_demands": self.demand,
            "disclosures": self.disclosure,
            "requests": self.request,
            "breaches": self.breach,
            "users": self.user,
            "tenants": self.tenant,
            "api_keys": self.key_id,
            "subjects": self.ann,
        }
        if table in by_table:
            return by_table[table]
        with self.t.ctx.engine.connect() as conn:
            pk = sa.Table(table, sa.MetaData(), autoload_with=conn).primary_key.columns
            return str(conn.execute(sa.select(*pk).order_by(*pk).limit(1)).scalar_one())


def _world(t: Troth) -> World:
    ann = t.collect("order_form", ANN).subject_id
    t.consent.grant(ann, "product_news")
    now = t.ctx.clock.now()
    demand = t.disclosures.record_demand(
        authority="District Court",
        instrument="court_order",
        reference="CV-1",
        scope="orders",
        categories=["identity", "contact", "shipping_address", "purchases", "billing"],
        recipient="courts_and_law_enforcement",
        gag_until=now + timedelta(days=60),
    ).id
    disclosure = t.disclosures.disclose(
        ann, "courts_and_law_enforcement", "legal_disclosure", OFFICE, legal_demand_id=demand
    ).id
    request = t.requests.open("access", email=ANN["email"]).id
    breach = t.breaches.record_breach(
        title="Laptop lost",
        description="An unencrypted laptop was lost.",
        occurred_from=now - timedelta(days=2),
        occurred_until=now - timedelta(days=1),
        discovered_at=now,
        categories=["contact"],
        subject_ids=[ann],
    ).id
    user = t.access.accounts.add_user("sam@itechno.example", role="support").id
    tenant = t.access.tenants.create_tenant("Acme", "office@acme.example")
    key, made = t.access.keys.create_api_key("shop", ["admin"])
    return World(t, ann, demand, disclosure, request, breach, user, tenant, key, made.id)


def _write(w: World, table: str, column: str, value: str, row: str | None = None) -> str:
    """What a database writer without the key file does: ``value`` as SQL, in one row."""
    row = row or w.row(table)
    with w.t.ctx.engine.begin() as conn:
        pk = sa.Table(table, sa.MetaData(), autoload_with=conn).primary_key.columns.values()[0]
        done = conn.execute(
            sa.text(f"UPDATE {table} SET {column} = {value} WHERE {pk.name} = :row"),
            {"row": row},
        )
        assert done.rowcount == 1
    return row


Read = Callable[[World], Any]
CASES: list[Any] = [
    # (table, column, the value as SQL, the read it refuses, PostgreSQL can hold it too)
    (
        "disclosures",
        "at",
        "'garbage'",
        lambda w: w.t.disclosures.disclosures_of(w.ann, include_gagged=True),
        False,
    ),
    # The request itself (every step on it) is refused; a list shows it flagged instead
    # (tests/audit/test_lists_with_an_unreadable_row.py).
    ("requests", "due_at", "''", lambda w: w.t.requests.get(w.request), False),
    ("requests", "received_at", "12345", lambda w: w.t.requests.get(w.request), False),
    ("requests", "details", "'not json'", lambda w: w.t.requests.get(w.request), False),
    ("requests", "state", "'bogus'", lambda w: w.t.requests.get(w.request), True),
    (
        "records",
        "collected_at",
        "'2026-02-31 09:00:00.000000'",
        lambda w: w.t.use(w.ann, purpose="order_fulfilment", actor=SHOP),
        False,
    ),
    (
        "records",
        "purposes",
        "'\"order_fulfilment\"'",
        lambda w: w.t.use(w.ann, purpose="order_fulfilment", actor=SHOP),
        True,
    ),
    (
        "subjects",
        "created_at",
        "''",
        lambda w: w.t.use(w.ann, purpose="order_fulfilment", actor=SHOP),
        False,
    ),
    ("breaches", "keep_until", "'2026-13-01'", lambda w: w.t.breaches.list_breaches(), False),
    ("breaches", "systems", "'{}'", lambda w: w.t.breaches.list_breaches(), True),
    ("consent_events", "kind", "'bogus'", lambda w: w.t.consent.history(w.ann), True),
    ("users", "kind", "'bogus'", lambda w: w.t.access.accounts.list_users(), True),
    ("outbox", "headers", "'[]'", lambda w: list_outbox(w.t.ctx), True),
]


def _ids(case: Any) -> str:
    return f"{case[0]}.{case[1]}={case[2]}"


def _cases(pg: bool) -> list[Any]:
    return [pytest.param(*c[:4], id=_ids(c)) for c in CASES if c[4] or not pg]


def _refused_and_named(w: World, table: str, column: str, read: Read) -> TamperedValue:
    with pytest.raises(TamperedValue) as refused:
        read(w)
    exc = refused.value
    assert (exc.code, exc.status) == ("record_tampered", 409)
    assert exc.details == {"table": table, "column": column}
    assert f"{table}.{column}" in exc.message and "troth audit verify" in exc.message
    return exc


def _check(home: Any, db_url: str | None, table: str, column: str, value: str, read: Read) -> None:
    w = _world(home("itechno", db_url))
    assert verify_log(w.t.ctx).ok
    row = _write(w, table, column, value)
    exc = _refused_and_named(w, table, column, read)
    # Named by verify, which goes on to check the rest: a customer's address changed
    # outside troth in the same home is named too.
    _write(w, "tenants", "primary_email", "'thief@example.org'")
    report = verify_log(w.t.ctx)
    assert not report.ok
    assert f"{table}:{row} ({column})" in report.bad_values
    assert f"tenants:{w.tenant}" in report.bad_credentials
    assert value.strip("'") not in str(report.problem) or len(value) < 3  # never the value
    # Audited once (per process, for the same rows), naming the row, never the value.
    audit_refusal(w.t.ctx, exc, "GET /test")
    audit_refusal(w.t.ctx, exc, "GET /test")
    (entry,) = [e.entry for e in list_entries(w.t.ctx, action="stored_value")]
    assert (str(entry.outcome), entry.reason) == ("deny", "record_tampered")
    assert entry.details == {"table": table, "column": column, "rows": [row], "during": "GET /test"}


@pytest.mark.parametrize(("table", "column", "value", "read"), _cases(pg=False))
def test_a_value_troth_never_writes_is_refused_audited_once_and_named(
    home, table, column, value, read
):
    _check(home, None, table, column, value, read)


@pytest.mark.parametrize(("table", "column", "value", "read"), _cases(pg=True))
def test_on_postgresql_a_text_or_json_column_is_refused_and_named(
    home, pg_url, table, column, value, read
):
    _check(home, pg_url, table, column, value, read)


# -- where troth decides on a row's seal or on the log's record of it ------------------------
def test_an_api_key_holding_one_is_refused_as_any_key_changed_outside_troth(home):
    from _http import client_for

    w = _world(home("itechno"))
    _write(w, "api_keys", "scopes", "'not json'")
    assert w.t.access.keys.peek_api_key(w.key) is None
    with pytest.raises(AuthenticationError) as refused:
        w.t.access.keys.resolve_api_key(w.key)
    assert refused.value.code == "record_tampered"
    with client_for(w.t.ctx) as c:
        r = c.get("/api/v1/requests", headers={"Authorization": f"Bearer {w.key}"})
    assert (r.status_code, r.json()["code"]) == (401, "record_tampered")
    denied = [e.entry for e in list_entries(w.t.ctx, action="api_key")]
    assert [e.reason for e in denied] == ["record_tampered", "record_tampered"]
    report = verify_log(w.t.ctx)
    assert f"api_keys:{w.key_id} (scopes)" in report.bad_values
    assert f"api_keys:{w.key_id}" in report.bad_credentials


def test_a_customer_holding_one_is_listed_as_changed_outside_troth(home):
    w = _world(home("itechno"))
    _write(w, "tenants", "created_at", "'garbage'")
    listed = {x.id: x for x in w.t.access.tenants.list_tenants()}
    assert listed[w.tenant].tampered and listed[w.tenant].created_at is None
    assert w.t.access.tenants.get_tenant(w.tenant).tampered
    report = verify_log(w.t.ctx)
    assert f"tenants:{w.tenant} (created_at)" in report.bad_values
    assert f"tenants:{w.tenant}" in report.bad_credentials


def test_a_policy_versions_garbled_dates_are_the_logs_and_the_home_opens(home):
    t = home("itechno")
    version = t.policy.version
    (before,) = t.policy.versions()
    with t.ctx.engine.begin() as conn:
        conn.execute(sa.text("UPDATE policy_versions SET effective = 'garbage', published_at = ''"))
    reopened = Troth.open(t.ctx.settings.home)
    try:
        assert reopened.policy.version == version
        (after,) = reopened.policy.versions()
        assert (after["effective"], after["published_at"]) == (
            before["effective"],
            before["published_at"],
        )
        logged = [e.entry for e in list_entries(reopened.ctx, action="policy.version")]
        assert [e.reason for e in logged] == ["record_tampered"]
        report = verify_log(reopened.ctx)
        named = {f"policy_versions:{version} ({c})" for c in ("effective", "published_at")}
        assert named <= set(report.bad_values) and version in report.bad_versions
    finally:
        reopened.close()


def test_retention_leaves_a_record_it_cannot_read_and_verify_names_it(home):
    w = _world(home("itechno"))
    row = _write(w, "records", "purposes", "'not json'")
    w.t.retention.plan()
    w.t.retention.run()
    with w.t.ctx.engine.connect() as conn:
        kept = conn.execute(sa.text("SELECT purposes FROM records WHERE id = :r"), {"r": row})
        assert kept.scalar_one() == "not json"
    assert f"records:{row} (purposes)" in verify_log(w.t.ctx).bad_values
