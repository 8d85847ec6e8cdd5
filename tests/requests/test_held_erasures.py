"""Erasures a legal hold prevents outside a deletion request (troth.requests.held_erasures):
a tenant's offboarding and a minor's erasure keep a held person whole, in troth and in every
connected dataset, restricted meanwhile; the erasure is recorded and carried out when the
last hold on them ends (by ``lift_hold``, or by the worker when the lift met a connected
database that was down). Neither the hold's id nor its reason reaches the tenant, the
person, the certificate, the report or the audit entries about the person."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa

import connected_schema as cs
from requests_helpers import SHOP_ENV, connect_shop, shop_db
from troth.audit.entries import list_entries
from troth.engine import Troth
from troth.errors import Refused
from troth.gate import Actor, ActorKind
from troth.store.tables import records, subjects

SYSTEM = Actor(ActorKind.system, "troth")
SECRET = "Garda investigation 2026/17"
OTHER = "Tribunal 4/2026"


def _store_of(t: Troth, sid: str) -> tuple[Any, ...]:
    with t.ctx.engine.connect() as conn:
        s = conn.execute(sa.select(subjects).where(subjects.c.id == sid)).mappings().one()
        n = conn.execute(
            sa.select(sa.func.count()).select_from(records).where(records.c.subject_id == sid)
        ).scalar()
    return (s["status"], s["erased_at"], n)


def _told(t: Troth, sid: str, *more: Any) -> str:
    """What the person and their tenant may read about them: the audit entries about the
    person (gags applied), and whatever else is given."""
    from troth.disclosures.gags import person_entries

    entries = [e.to_dict() for e in person_entries(t.ctx, sid)]
    return json.dumps([entries, *more], default=str)


def test_offboarding_keeps_a_held_person_everywhere_and_erases_them_after_the_last_lift(
    home: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = home("mindlink")
    url = shop_db(tmp_path)
    shop = connect_shop(t, url, monkeypatch, range(1, 5))
    a = t.access.tenants.create_tenant("Acme", "office@acme.example")
    sids = {i: cs.customer(t, i, a) for i in (1, 2, 3)}
    held = sids[2]
    assert t.use(held, purpose="sales", actor=SYSTEM).get("name") == "Person 2"
    h1 = t.retention.place_hold(reason=SECRET, subject_id=held)
    h2 = t.retention.place_hold(reason=OTHER, subject_id=held)
    shop_before, store_before = cs.rows_of(shop, 2), _store_of(t, held)
    assert shop_before["customers"]

    cert = t.requests.offboard_tenant(a, batch_size=2).certificate

    # The others are erased; the held person keeps everything, in troth and in the shop
    # (the shop's rows of person 2 were erased by the offboarding's connector job before).
    assert all(_store_of(t, sids[i])[0] == "erased" for i in (1, 3))
    assert cs.email_of(1) not in str(cs.snapshot(shop)["customers"])
    assert _store_of(t, held) == store_before and cs.rows_of(shop, 2) == shop_before
    assert cert["waiting_for_legal_hold"] == 1 and "legal hold" in cert["kept_because"]
    # Restricted meanwhile: no ordinary use of what is kept.
    with pytest.raises(Refused) as refused:
        t.use(held, purpose="sales", actor=SYSTEM)
    assert refused.value.reason == "restricted"
    for secret in (SECRET, OTHER, h1, h2):
        assert secret not in _told(t, held, cert)

    # One hold lifted, the other still runs: nothing happens.
    assert t.retention.lift_hold(h1)["erasures_done"] == 0
    assert _store_of(t, held) == store_before and cs.rows_of(shop, 2) == shop_before
    # The last lifted while the shop is down: the lift says what is left, nothing erased.
    monkeypatch.setenv(SHOP_ENV, shop_db(tmp_path / "gone"))
    lifted = t.retention.lift_hold(h2)
    assert lifted["erasures_done"] == 0 and len(lifted["erasures_left"]) == 1
    assert _store_of(t, held) == store_before and cs.rows_of(shop, 2) == shop_before
    # The worker's request task retries it once the shop is back.
    monkeypatch.setenv(SHOP_ENV, url)
    assert t.requests.run_due().startswith("1 erasure(s) done")
    status, erased_at, _ = _store_of(t, held)
    assert status == "erased" and erased_at is not None
    assert cs.email_of(2) not in str(cs.snapshot(shop)["customers"])
    done = [
        e.entry
        for e in list_entries(t.ctx, subject_id=held, limit=100)
        if e.entry.action == "tenant.offboard.erase"
    ]
    assert any(e.details.get("after_legal_hold") for e in done)
    assert t.requests.run_due().startswith("0 erasure(s)")
    for secret in (SECRET, OTHER, h1, h2):
        assert secret not in _told(t, held)


def test_a_held_minor_is_erased_nowhere_until_the_tenant_hold_ends(
    home: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = home("mindlink")
    shop = connect_shop(t, shop_db(tmp_path), monkeypatch)
    a = t.access.tenants.create_tenant("Acme", "office@acme.example")
    sid = cs.customer(t, 4, a)
    hold = t.retention.place_hold(reason=SECRET, tenant_id=a)
    shop_before, store_before = cs.snapshot(shop), _store_of(t, sid)

    out = t.report_minor(sid, evidence="ticket 42: parent says the buyer is 15")
    again = t.report_minor(sid, evidence="ticket 42: parent says the buyer is 15")

    # Nothing erased anywhere; the report says "legal hold", never which one nor why.
    assert cs.snapshot(shop) == shop_before and _store_of(t, sid) == store_before
    assert out["deleted"] == 0 and out["kept"] == out["found"] > 0
    assert any("legal hold" in line for line in out["summary"])
    assert again == out
    for secret in (SECRET, hold):
        assert secret not in _told(t, sid, out)
    assert [e for e in list_entries(t.ctx, subject_id=sid) if e.entry.action == "minor.erase"] == []
    with pytest.raises(Refused) as refused:
        t.use(sid, purpose="sales", actor=SYSTEM)
    assert refused.value.reason == "restricted"
    # The person's own page in the privacy centre: nothing of the hold.
    from _http import client_for, privacy_sign_in

    with client_for(t.ctx) as c:
        privacy_sign_in(c, t.ctx, cs.email_of(4))
        page = c.get("/privacy/me")
        assert page.status_code == 200
        for secret in (SECRET, hold, "legal hold", "legal_hold"):
            assert secret not in page.text
    # The tenant's hold lifted: erased everywhere, as a minor's erasure is, audited once.
    assert t.retention.lift_hold(hold)["erasures_done"] == 1
    assert _store_of(t, sid)[0] == "erased"
    assert cs.email_of(4) not in str(cs.snapshot(shop)["customers"])
    erased = [e for e in list_entries(t.ctx, subject_id=sid) if e.entry.action == "minor.erase"]
    assert len(erased) == 1 and "parent says" in erased[0].entry.details["evidence"]
    assert t.requests.run_due().startswith("0 erasure(s)")
