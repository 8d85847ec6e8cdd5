"""A record changed outside troth refuses, audited, the reads that went unaudited before: a
disclosure (under a gagged demand too, where the entry names the demand so the person does
not see it while the gag runs), the person's own view in the privacy centre, and a tenant
admin's export. Nothing of the person goes out; the other people's reads go on."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from _http import client_for, privacy_sign_in
from troth.audit.entries import list_entries
from troth.gate import Actor, ActorKind
from troth.store.seals import RecordTampered
from troth.store.tables import records

SHOP = Actor(ActorKind.application, "shop", scopes=frozenset({"admin"}))
ORDER = {
    "name": "Ann Lee",
    "email": "ann@example.com",
    "address": "1 Main St",
    "card_number": "4111111111111111",
    "card_expiry": "12/29",
    "order_items": "1 widget",
}


def _relabel(t: Any, sid: str, field: str, **values: Any) -> int:
    """What a database writer without the key file does to one of ``sid``'s rows."""
    with t.ctx.engine.begin() as conn:
        rid = int(
            conn.execute(
                sa.select(records.c.id).where(records.c.subject_id == sid, records.c.field == field)
            ).scalar_one()
        )
        conn.execute(sa.update(records).where(records.c.id == rid).values(**values))
    return rid


def _entries(t: Any, action: str) -> list[Any]:
    return [e.entry for e in list_entries(t.ctx, action=action, limit=1000)]


def _disclosures(t: Any) -> int:
    from troth.disclosures.tables import disclosures

    with t.ctx.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(disclosures)).scalar_one())


def test_a_disclosure_of_a_tampered_person_is_refused_audited_and_nothing_sent(home, db_url):
    t = home("itechno", db_url)
    ann = t.collect("order_form", ORDER).subject_id
    bob = t.collect("order_form", {**ORDER, "name": "Bob", "email": "bob@example.com"}).subject_id
    # The order's items relabelled as shipping data: the shipper would receive them.
    rid = _relabel(t, ann, "order_items", category="shipping_address")
    with pytest.raises(RecordTampered, match=f"record {rid} does not match its seal"):
        t.disclosures.disclose(ann, "shipping_company", "order_fulfilment", SHOP)
    (entry,) = _entries(t, "disclose")
    assert (str(entry.outcome), entry.reason, entry.subject_id) == ("deny", "record_tampered", ann)
    assert entry.details == {"record": rid, "recipient": "shipping_company"}
    assert entry.purpose == "order_fulfilment" and "widget" not in str(entry)
    assert _disclosures(t) == 0
    pkg = t.disclosures.disclose(bob, "shipping_company", "order_fulfilment", SHOP)
    assert {v.field for v in pkg.values} == {"name", "address"}  # Bob's goes on


def test_a_refusal_under_a_gagged_demand_names_the_demand_and_stays_hidden(home, db_url):
    t = home("itechno", db_url)
    ann = t.collect("order_form", ORDER).subject_id
    demand = t.disclosures.record_demand(
        authority="District Court of Springfield",
        instrument="court_order",
        reference="CV-2026-0042",
        scope="Orders of the customer",
        categories=["identity", "contact", "shipping_address", "purchases", "billing"],
        recipient="courts_and_law_enforcement",
        gag_until=t.ctx.clock.now() + timedelta(days=90),
    )
    rid = _relabel(t, ann, "address", purposes=["order_fulfilment", "marketing"])
    with pytest.raises(RecordTampered):
        t.disclosures.disclose(
            ann,
            "courts_and_law_enforcement",
            "legal_disclosure",
            SHOP,
            legal_demand_id=demand.id,
        )
    (entry,) = _entries(t, "disclose")
    assert entry.reason == "record_tampered" and entry.details["record"] == rid
    assert entry.details["legal_demand"] == demand.id
    from troth.disclosures.gags import person_entries

    assert [e.entry.action for e in person_entries(t.ctx, ann)] == ["collect"]  # not told
    assert _disclosures(t) == 0
    from troth.disclosures.demands import demand_row

    with t.ctx.engine.connect() as conn:
        assert demand_row(conn, demand.id).status == "received"  # nothing went out under it


def test_the_privacy_centre_view_of_a_tampered_person_shows_nothing_and_is_audited(home):
    ctx = home("itechno", context=True)
    from troth.engine import Troth

    t = Troth(ctx)
    ann = t.collect("order_form", ORDER).subject_id
    with client_for(ctx) as c:
        privacy_sign_in(c, ctx, "ann@example.com")  # her page, read once (allowed)
        rid = _relabel(t, ann, "address", category="identity")
        page = c.get("/privacy/me", headers={"Accept": "text/html"})
    # 409 record_tampered, as every row changed outside troth (it was a 500 before trial
    # #16 F4 made "never a 500" hold for these too)
    assert page.status_code == 409 and page.headers["content-type"].startswith("text/html")
    assert "1 Main St" not in page.text and "Ann Lee" not in page.text
    views = [(str(e.outcome), e.reason, e.subject_id) for e in _entries(t, "privacy.view")]
    assert sorted(views) == [("allow", None, ann), ("deny", "record_tampered", ann)]
    (denied,) = [e for e in _entries(t, "privacy.view") if e.reason == "record_tampered"]
    assert denied.details == {"record": rid}


def test_a_tenant_admins_export_with_a_tampered_row_is_refused_and_audited(home, db_url):
    from troth.gate import SYSTEM

    t = home("phone-service", db_url)
    acme = t.access.tenants.create_tenant("Acme", "office@acme.example")
    bolt = t.access.tenants.create_tenant("Bolt", "office@bolt.example")
    ann = t.collect(
        "customer_signup",
        {"company_name": "Co", "name": "Ann", "email": "ann@acme.example"},
        tenant_id=acme,
    ).subject_id
    rid = _relabel(t, ann, "email", tenant_id=bolt)
    with pytest.raises(RecordTampered, match=f"record {rid} does not match its seal"):
        t.access.tenants.export_tenant(acme, by=SYSTEM)  # Ann is Acme's
    (entry,) = _entries(t, "tenant.export")
    assert (str(entry.outcome), entry.reason, entry.tenant_id) == ("deny", "record_tampered", acme)
    assert entry.details["record"] == rid and entry.subject_id == ann
    assert t.access.tenants.export_tenant(bolt, by=SYSTEM)["subjects"] == []  # not Bolt's
    cove = t.access.tenants.create_tenant("Cove", "office@cove.example")
    cy = t.collect(
        "customer_signup",
        {"company_name": "Cove", "name": "Cy", "email": "cy@cove.example"},
        tenant_id=cove,
    ).subject_id
    (only,) = t.access.tenants.export_tenant(cove, by=SYSTEM)["subjects"]
    assert only["subject_id"] == cy  # another tenant's export goes on
