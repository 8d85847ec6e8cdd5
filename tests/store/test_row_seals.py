"""Row seals (schema 0016; trial #14 F2, F3): a database writer without the key file who
re-points a blind index (``identities``) to another person, closes a data-subject request
or moves its deadline (``requests``), or changes a seller's primary e-mail (``tenants``)
gets nothing: the identity finds nobody (never the other person), the request is refused
at every step and flagged in lists, the seller's notices do not go to the new address;
each audited ``record_tampered`` and named by `troth audit verify`. troth's own writes
keep every row sealed; a home from before is sealed once by `troth db migrate`."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from troth.access.seals import bad_rows
from troth.audit import verify_log
from troth.audit.entries import list_entries
from troth.errors import NotFound, TrothError
from troth.requests.tables import requests
from troth.store.reindex import rebuild_identity_indexes
from troth.store.tables import identities, tenants

ORDER = {
    "name": "Chloe Martin",
    "email": "chloe@example.fr",
    "address": "1 rue de la Paix",
    "card_number": "4111111111111111",
    "card_expiry": "12/29",
    "order_items": "2 books",
}
SEAL = "does not match its seal"
AVA = {**ORDER, "name": "Ava Johnson", "email": "ava@example.com", "address": "Santa Monica"}


def _tampered(t: Any, action: str | None = None) -> list[Any]:
    return [
        e.entry for e in list_entries(t.ctx, action=action) if e.entry.reason == "record_tampered"
    ]


def _sql(t: Any, stmt: Any) -> None:
    """What a database writer without the key file does."""
    with t.ctx.engine.begin() as conn:
        conn.execute(stmt)


def _buyers(t: Any) -> tuple[str, str, str]:
    shop = t.access.tenants.create_tenant("Berliner Buecher", "office@bb.example")
    chloe = t.collect("order_form", ORDER, tenant_id=shop).subject_id
    ava = t.collect("order_form", AVA, tenant_id=shop).subject_id
    return shop, chloe, ava


def _all_sealed(t: Any, *, identified: bool = True) -> None:
    from troth.store.identity_seals import bad_identities

    with t.ctx.engine.connect() as conn:
        for table in (requests, tenants):
            n, bad = bad_rows(conn, t.ctx.keys, table)
            assert n and bad == [], (table.name, bad)
        n, bad = bad_identities(conn, t.ctx.keys)
        assert (n or not identified) and bad == [], bad
    report = verify_log(t.ctx)
    assert report.ok, report.problem


def test_a_repointed_identity_finds_nobody_and_never_the_other_buyer(home, db_url):
    t = home("itechno", db_url)
    shop, chloe, ava = _buyers(t)
    i = identities.c
    _sql(
        t,
        sa.update(identities)
        .where(i.subject_id == chloe, i.kind == "email")
        .values(subject_id=ava),
    )
    with pytest.raises(NotFound):
        t.find(email=ORDER["email"], tenant_id=shop)
    assert _tampered(t, "identity.lookup")
    # An access request in Chloé's name is about nobody troth knows: never Ava.
    req = t.requests.open("access", email=ORDER["email"], tenant_id=shop)
    assert req.subject_id != ava
    t.requests.verify_by_staff(req.id, staff="pat", reason="chloe confirmed")
    done = t.requests.execute(req.id)
    assert done.subject_id != ava
    assert f"identities:email:{ava}" in verify_log(t.ctx).bad_credentials
    assert not verify_log(t.ctx).ok
    # A collection in Chloé's name never joins Ava's data either.
    again = t.collect("order_form", ORDER, tenant_id=shop).subject_id
    assert again != ava
    # `troth reindex` makes the identities again from the people's own sealed values.
    rebuild_identity_indexes(t.ctx)
    assert ava == t.find(email=AVA["email"], tenant_id=shop)
    assert f"identities:email:{ava}" not in verify_log(t.ctx).bad_credentials


def test_an_identity_given_another_buyers_index_is_ignored(home, db_url):
    """The other way round: Ava's row made to carry Chloé's index (the report's first
    attempt, which only the primary key stopped) would make the address name both."""
    t = home("itechno", db_url)
    shop, chloe, ava = _buyers(t)
    h = t.ctx.keys.blind_index("email", ORDER["email"])
    i = identities.c
    _sql(t, sa.update(identities).where(i.subject_id == ava, i.kind == "email").values(bidx=h))
    assert t.find(email=ORDER["email"], tenant_id=shop) == chloe
    assert t.find(email=ORDER["email"]) == chloe  # never "two people, name the tenant"
    req = t.requests.open("delete", email=ORDER["email"], tenant_id=shop)
    assert req.subject_id == chloe
    assert f"identities:email:{ava}" in verify_log(t.ctx).bad_credentials


def test_an_inserted_identity_without_a_seal_finds_nobody(home, db_url):
    t = home("itechno", db_url)
    shop, _chloe, ava = _buyers(t)
    forged = t.ctx.keys.blind_index("email", "mallory@evil.example")
    _sql(t, sa.insert(identities).values(kind="email", bidx=forged, subject_id=ava))
    with pytest.raises(NotFound):
        t.find(email="mallory@evil.example", tenant_id=shop)
    with pytest.raises(NotFound):
        t.find(email="mallory@evil.example")


def _open(t: Any) -> str:
    t.collect("order_form", ORDER)
    req = t.requests.open("access", email=ORDER["email"])
    return str(req.id)


def test_a_request_closed_outside_troth_is_refused_and_flagged(home, db_url):
    t = home("itechno", db_url)
    rid = _open(t)
    closed = datetime(2026, 12, 7, 12, 30, tzinfo=UTC)
    _sql(
        t,
        sa.update(requests)
        .where(requests.c.id == rid)
        .values(state="completed", due_at=date(2027, 6, 30), closed_at=closed),
    )
    with pytest.raises(TrothError, match=f"request {rid} does not match its seal"):
        t.requests.get(rid)
    with pytest.raises(TrothError, match=SEAL):
        t.requests.verify_by_staff(rid, staff="pat", reason="seen")
    with pytest.raises(TrothError, match=SEAL):
        t.requests.execute(rid)
    with pytest.raises(TrothError, match=SEAL):
        t.requests.extend(rid, reason="busy")
    refusals = _tampered(t)
    assert {e.action for e in refusals} >= {"request.read", "request.verify_by_staff"}
    assert all(e.details.get("request_id") == rid for e in refusals)
    listed = {r.id: r for r in t.requests.list(include_closed=True)}
    assert listed[rid].tampered and listed[rid].to_dict()["tampered"] is True
    found, _n = t.requests.search(show="all")
    assert [r.tampered for r in found if r.id == rid] == [True]
    report = verify_log(t.ctx)
    assert not report.ok and f"requests:{rid}" in report.bad_credentials


def test_a_request_whose_deadline_alone_moved_is_named(home, db_url):
    t = home("itechno", db_url)
    rid = _open(t)
    later = t.requests.get(rid).due_at + timedelta(days=180)
    _sql(t, sa.update(requests).where(requests.c.id == rid).values(extended_due_at=later))
    with pytest.raises(TrothError, match=SEAL):
        t.requests.send_code(rid)
    assert f"requests:{rid}" in verify_log(t.ctx).bad_credentials


def test_a_tenant_whose_address_changed_gets_no_notice(home, db_url, clock):
    from troth.notices.outbox import outbox

    t = home("phone-service", db_url)
    acme = t.access.tenants.create_tenant("Acme", "office@acme.example")
    t.collect("user_invitation", {"name": "U", "email": "u@acme.example"}, tenant_id=acme)
    _sql(
        t,
        sa.update(tenants)
        .where(tenants.c.id == acme)
        .values(primary_email="attacker@evil.example"),
    )
    clock.advance(days=1)
    now = clock.now()
    b = t.breaches.record_breach(
        title="Gradebook exposed",
        description="An export was readable without login.",
        discovered_at=now,
        occurred_from=now - timedelta(days=2),
        occurred_until=now - timedelta(minutes=1),
        categories=["contact"],
    )
    out = t.breaches.notify_controllers(b.id, measures="Link revoked.")
    assert out["told"] == [] and out["tampered"] == [acme]
    with t.ctx.engine.connect() as conn:
        to = {m.to_addr for m in conn.execute(sa.select(outbox))}
    assert "attacker@evil.example" not in to
    assert [e.tenant_id for e in _tampered(t, "breach.notify_controller")] == [acme]
    (shown,) = [x for x in t.access.tenants.list_tenants() if x.id == acme]
    assert shown.tampered
    report = verify_log(t.ctx)
    assert not report.ok and f"tenants:{acme}" in report.bad_credentials


def test_a_tenant_reactivated_outside_troth_is_named(home, db_url):
    t = home("phone-service", db_url)
    acme = t.access.tenants.create_tenant("Acme", "office@acme.example")
    _sql(t, sa.update(tenants).where(tenants.c.id == acme).values(status="offboarded"))
    assert t.access.tenants.get_tenant(acme).tampered
    assert f"tenants:{acme}" in verify_log(t.ctx).bad_credentials


def test_troths_own_writes_keep_every_row_sealed(home, db_url):
    t = home("itechno", db_url)
    shop, chloe, _ava = _buyers(t)
    t.collect("order_form", {**ORDER, "email": "chloe2@example.fr"}, subject_id=chloe)
    a = t.requests.open("access", email=ORDER["email"], tenant_id=shop)
    t.requests.verify_by_staff(a.id, staff="pat", reason="seen")
    t.requests.extend(a.id, reason="many systems")
    t.requests.execute(a.id)
    c = t.requests.open("correct", email=AVA["email"], tenant_id=shop)
    t.requests.verify_by_staff(c.id, staff="pat", reason="seen")
    t.requests.set_details(c.id, changes={"email": "ava.j@example.com"})
    t.requests.execute(c.id)
    r = t.requests.open("delete", email="chloe2@example.fr", tenant_id=shop)
    t.requests.refuse(r.id, reason="manifestly unfounded")
    d = t.requests.open("delete", email=ORDER["email"], tenant_id=shop)
    t.requests.verify_by_staff(d.id, staff="pat", reason="seen")
    t.requests.execute(d.id)
    rebuild_identity_indexes(t.ctx)
    _all_sealed(t)
    t.requests.offboard_tenant(shop)
    _all_sealed(t, identified=False)  # the seller's people erased, identities with them
    assert t.access.tenants.get_tenant(shop).status == "offboarded"


def test_a_home_from_before_row_seals_is_sealed_once_by_db_migrate(
    home: Any, db_url: str, capsys: Any, monkeypatch: Any
) -> None:
    from alembic import command

    import troth
    import troth.policy.versions as versions
    from cli_runner import run
    from troth.migrations import alembic_config

    monkeypatch.setattr(versions, "ROWS_SEALED_FLAG", "not_a_flag")  # before row seals
    monkeypatch.setattr(versions, "OUTBOX_SEALED_FLAG", "nor_this")  # and outbox seals (0021)
    t = home("itechno", db_url, fresh=True)
    shop, chloe, _ava = _buyers(t)
    rid = t.requests.open("access", email=ORDER["email"], tenant_id=shop).id
    t.close()
    url = t.ctx.settings.resolved_database_url
    command.downgrade(alembic_config(url), "0015_grant_seals")  # the columns dropped
    code, _out, _ = run(capsys, "--home", str(t.ctx.home), "db", "migrate")
    assert code == 0
    again = troth.open(t.ctx.home, clock=t.ctx.clock)
    try:
        (sealed,) = [e.entry.details for e in list_entries(again.ctx, action="rows.sealed")]
        assert sealed["requests"] == 1 and sealed["tenants"] == 1
        assert sealed["identities"] >= 2
        assert again.find(email=ORDER["email"], tenant_id=shop) == chloe
        assert again.requests.get(rid).id == rid
        assert verify_log(again.ctx).ok
        _sql(again, sa.update(requests).where(requests.c.id == rid).values(seal=None))
    finally:
        again.close()
    # Once: a seal cleared afterwards is never sealed over by migrate.
    code, _out, _ = run(capsys, "--home", str(t.ctx.home), "db", "migrate")
    assert code == 0
    again = troth.open(t.ctx.home, clock=t.ctx.clock)
    try:
        with pytest.raises(TrothError, match=SEAL):
            again.requests.get(rid)
        assert verify_log(again.ctx).bad_credentials == [f"requests:{rid}"]
        assert len(list_entries(again.ctx, action="rows.sealed")) == 1
    finally:
        again.close()
