"""Trial #20 F2: the vendor's (Tallyroom's) request desk told a hotel's billing contact "We
hold no record of you" and the hotel "you decide about it", though Tallyroom keeps that
contact for its own billing (``vendor_only``, 7 years), the hotel can neither read nor
export it, and after the hotel was offboarded the answer was "0 values".

Where the customers decide about their people, a request to the organisation's own desk
now answers for what the organisation holds in the customers' records for its own
purposes, as their controller (:mod:`troth.requests.own_part`): access shows it, deletion
erases it (keeping what its own legal minimums keep, touching nothing under a legal hold),
and the letters say who is the controller of what. Nothing of the customers' own part is
read or touched; a record holding only the organisation's part is not the customer's (not
named, not told). Without purposes of its own, or where the organisation decides about
the customers' people, the desk answers as before."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from outbox_helpers import outbox_mail
from pulse_samples import pulse_world
from requests_helpers import mails_for, verified
from tallyroom_samples import (
    BILLING,
    CLAIRE,
    EVA,
    TALLYROOM,
    TallyroomWorld,
    tallyroom_world,
    without_vendor_purposes,
)
from troth.audit.entries import list_entries
from troth.clock import ManualClock
from troth.consent.state import active_purposes
from troth.errors import Refused
from troth.gate import SYSTEM, Actor, ActorKind
from troth.store.tables import records, subjects

OFFICE = Actor(ActorKind.staff, "dpo", role="privacy_office")
BILLING_CLERK = Actor(ActorKind.staff, "bill", role="billing_clerk")
FRAUD = Actor(ActorKind.staff, "fay", role="fraud_analyst")
OFFICES = {"madrid": "office@sol.example", "quebec": "office@auberge.example"}


@pytest.fixture
def w(home: Any, tmp_path: Path) -> TallyroomWorld:
    return tallyroom_world(home, tmp_path)


def _run(w: TallyroomWorld, kind: str, email: str, *, bulk: bool = False) -> Any:
    rid = verified(w.t, kind, email)
    if bulk:
        assert w.t.requests.execute_many([rid], actor=OFFICE).completed == [rid]
        return w.t.requests.get(rid)
    return w.t.requests.execute(rid, actor=OFFICE)


def _export(w: TallyroomWorld, done: Any) -> dict[str, Any]:
    zf = zipfile.ZipFile(io.BytesIO(w.t.requests.download(done.download_token, actor=SYSTEM)))
    return dict(json.loads(zf.read("data.json")))


def _letter(w: TallyroomWorld, rid: str) -> str:
    return str(mails_for(w.t, rid)[-1]["body_text"])


def _told(w: TallyroomWorld, hotel: str) -> list[str]:
    return [m["body_text"] for m in outbox_mail(w.t, to=hotel)]


def _rows(w: TallyroomWorld, sid: str) -> list[Any]:
    with w.t.ctx.engine.connect() as conn:
        q = select(records.c.field, records.c.purposes, records.c.restricted_to)
        return list(conn.execute(q.where(records.c.subject_id == sid).order_by(records.c.id)))


def _erased(w: TallyroomWorld, sid: str) -> bool:
    with w.t.ctx.engine.connect() as conn:
        q = select(subjects.c.erased_at).where(subjects.c.id == sid)
        return conn.execute(q).scalar() is not None


@pytest.mark.parametrize("bulk", [False, True])
def test_the_billing_contact_s_access_shows_what_the_vendor_holds(
    w: TallyroomWorld, bulk: bool
) -> None:
    done = _run(w, "access", BILLING["madrid"], bulk=bulk)
    assert done.subject_id is None  # nobody of the organisation's own; nothing left to a hotel
    own = done.result["own_purposes"]
    assert (own["controller"], own["purposes"], own["found"]) == (
        "Tallyroom B.V.", ["tallyroom_billing"], 3
    )  # fmt: skip
    assert own["records"] == [{"subject_id": w.people["billing_madrid"], "found": 3}]
    letter = _letter(w, done.id)
    assert "We hold no record of you" not in letter and "decide about" not in letter
    assert "3 values we hold for our own purposes (Tallyroom bills hotels" in letter
    assert "Tallyroom B.V. is their controller" in letter
    assert "Hotel Sol Madrid" not in letter and "Quebec" not in letter
    # The hotel, which neither reads nor exports that record, is not told it decides.
    assert _told(w, OFFICES["madrid"]) == [] and "customers_told" not in done.result
    assert list_entries(w.t.ctx, action="request.customer_told", limit=10) == []
    if bulk:  # the copy is the one by one's (its link went to the person)
        return
    doc = _export(w, done)
    assert doc["controller"]["name"] == "Tallyroom B.V." and "processor" not in doc
    values = doc["categories"]["hotel_account"]["values"]
    assert sorted(v["value"] for v in values) == ["Madrid SL", "VAT-madrid", BILLING["madrid"]]
    assert all(v["purposes"] == ["tallyroom_billing"] for v in values)
    assert set(doc["categories"]) == {"hotel_account"}  # nobody else's, nothing more


@pytest.mark.parametrize("bulk", [False, True])
def test_the_billing_contact_s_deletion_keeps_what_tax_law_keeps(
    w: TallyroomWorld, bulk: bool
) -> None:
    sid = w.people["billing_madrid"]
    done = _run(w, "delete", BILLING["madrid"], bulk=bulk)
    own = done.result["own_purposes"]
    assert (own["found"], own["deleted"], own["kept"]) == (3, 0, 3)
    (record,) = own["records"]
    assert record["subject_id"] == sid and record["erased"] is True
    assert record["kept_because"][0]["law"] == "Dutch tax law (AWR art. 52), 7 years"
    # Kept for the vendor's own billing only, the record erased as one: nothing else uses it.
    assert {r.restricted_to for r in _rows(w, sid)} == {"tallyroom_billing"}
    assert _erased(w, sid)
    letter = _letter(w, done.id)
    assert "troth" not in letter.lower() and "hotel_account" not in letter
    assert "of which Tallyroom B.V. is the controller: 3 values found; 0 deleted" in letter
    assert "Dutch tax law (AWR art. 52), 7 years" in letter
    assert "We hold no record of you" not in letter and "Hotel Sol Madrid" not in letter
    assert _told(w, OFFICES["madrid"]) == []
    # An erased record: asked again, the copy still shows what the law keeps.
    again = _run(w, "access", BILLING["madrid"])
    assert again.result["own_purposes"]["found"] == 3
    kept = _export(w, again)["categories"]["hotel_account"]["values"]
    assert {v["restricted_to"] for v in kept} == {"tallyroom_billing"}


def test_after_offboarding_the_vendor_still_answers_for_its_billing(
    w: TallyroomWorld, clock: ManualClock
) -> None:
    w.t.requests.offboard_tenant(w.tenants["quebec"], actor=OFFICE)
    sid = w.people["billing_quebec"]
    assert _erased(w, sid) and {r.restricted_to for r in _rows(w, sid)} == {"tallyroom_billing"}
    done = _run(w, "access", BILLING["quebec"])
    assert done.result["own_purposes"]["found"] == 3  # not "0 values in our own store"
    assert "3 values in our own store" in _letter(w, done.id)
    assert "Auberge Quebec" not in _letter(w, done.id)  # closed: neither named nor told
    assert _told(w, OFFICES["quebec"]) == []
    # Deleting keeps what the law keeps, until the minimum ends; then nothing is left.
    kept = _run(w, "delete", BILLING["quebec"])
    assert kept.result["own_purposes"]["kept"] == 3 and len(_rows(w, sid)) == 3
    clock.advance(timedelta(days=366 * 7 + 2))
    gone = _run(w, "delete", BILLING["quebec"])
    assert gone.result["own_purposes"]["deleted"] == 3 and _rows(w, sid) == []


def test_a_guest_s_access_shows_only_the_vendor_s_own_part(w: TallyroomWorld) -> None:
    done = _run(w, "access", EVA)
    own = done.result["own_purposes"]
    assert own["purposes"] == ["fraud_prevention"]
    assert sorted(r["subject_id"] for r in own["records"]) == sorted(
        [w.people["eva"], w.people["eva_qc"]]
    )
    doc = _export(w, done)
    # Her e-mail (at both hotels) and her card token, for the fraud checks only: never the
    # hotels' own (her name, stays, passport, special request), nor Claire's.
    assert set(doc["categories"]) == {"contact", "payment_card"}
    values = [v for c in doc["categories"].values() for v in c["values"]]
    assert all(v["purposes"] == ["fraud_prevention"] for v in values)
    assert sorted(str(v["value"]) for v in values).count(EVA) == 2
    assert "SE1234567" not in json.dumps(doc) and CLAIRE not in json.dumps(doc)
    assert "tok_4242" not in json.dumps(doc)  # masked for the person, as in every copy
    letter = _letter(w, done.id)
    assert "3 values we hold for our own purposes (Tallyroom checks payments for fraud" in letter
    assert "Apart from what we hold for our own purposes (above), we hold no record" in letter
    assert "on file with Hotel Sol Madrid, Auberge Quebec" in letter
    for hotel in OFFICES.values():
        (told,) = _told(w, hotel)
        assert "except what we hold in it for our own purposes" in told
        assert EVA not in told and "Eva" not in told


def test_a_guest_s_deletion_stops_the_vendor_s_use_only(w: TallyroomWorld) -> None:
    eva = w.people["eva"]
    assert w.t.use(eva, purpose="fraud_prevention", actor=FRAUD).get("email") == EVA
    done = _run(w, "delete", EVA)
    own = done.result["own_purposes"]
    assert (own["found"], own["deleted"], own["unbound"], own["kept"]) == (3, 1, 2, 0)
    assert not _erased(w, eva) and not _erased(w, w.people["eva_qc"])
    rows = {r.field: r for r in _rows(w, eva)}
    assert "card_token" not in rows  # only the vendor's fraud checks used it: deleted
    assert "fraud_prevention" not in rows["email"].purposes  # the hotel's still
    with pytest.raises(Refused):
        w.t.use(eva, purpose="fraud_prevention", actor=FRAUD)
    # The hotel's own part is untouched: its stay, its register, her special request.
    assert w.t.use(eva, purpose="stay_management", actor=SYSTEM).get("email") == EVA
    assert w.t.use(eva, purpose="police_registration", actor=SYSTEM).get("document_number")
    assert w.t.use(eva, purpose="special_requests_service", actor=SYSTEM).get("special_request")
    assert w.t.find(email=EVA, tenant_id=w.tenants["madrid"]) == eva  # still found by it
    letter = _letter(w, done.id)
    assert "3 values found; 1 deleted, 2 no longer used for them" in letter
    # Under each person, never in a hotel's log: it is the vendor's own data.
    logged = [e.entry for e in list_entries(w.t.ctx, action="request.own_part", limit=10)]
    assert sorted((e.subject_id, e.tenant_id) for e in logged) == sorted(
        [(eva, None), (w.people["eva_qc"], None)]
    )
    # Claire, at one of the same hotels, is not touched.
    assert w.t.use(w.people["claire"], purpose="fraud_prevention", actor=FRAUD).get("email")


def test_a_legal_hold_keeps_the_vendor_s_part_untouched(w: TallyroomWorld) -> None:
    w.t.retention.place_hold(reason="tax audit", actor=OFFICE, tenant_id=w.tenants["madrid"])
    before = _rows(w, w.people["eva"])
    done = _run(w, "delete", EVA)
    by = {r["subject_id"]: r for r in done.result["own_purposes"]["records"]}
    held = by[w.people["eva"]]
    assert (held["kept"], held["deleted"], held["unbound"]) == (2, 0, 0)
    assert held["kept_because"][0]["reason"] == "legal hold"
    assert _rows(w, w.people["eva"]) == before
    assert by[w.people["eva_qc"]]["unbound"] == 1  # the other hotel's is not held
    letter = _letter(w, done.id)
    assert "legal hold" in letter and "tax audit" not in letter


def test_a_customer_s_own_request_is_unchanged(w: TallyroomWorld) -> None:
    rid = verified(w.t, "access", EVA, tenant_id=w.tenants["madrid"])
    done = w.t.requests.execute(rid, actor=OFFICE)
    assert done.subject_id == w.people["eva"] and "own_purposes" not in done.result
    assert "Quebec" not in _letter(w, rid)


def test_without_purposes_of_its_own_the_desk_answers_as_before(home: Any, tmp_path: Path) -> None:
    w = tallyroom_world(home, tmp_path, without_vendor_purposes())
    done = _run(w, "access", BILLING["madrid"])
    assert "own_purposes" not in done.result
    assert "We hold no record of you for ourselves" in _letter(w, done.id)
    assert done.result["customers_told"] == ["Hotel Sol Madrid"]
    before = _rows(w, w.people["eva"])
    deleted = _run(w, "delete", EVA)
    assert "own_purposes" not in deleted.result and _rows(w, w.people["eva"]) == before
    assert w.t.use(w.people["eva"], purpose="fraud_prevention", actor=SYSTEM).get("card_token")
    assert "We hold no record of you for ourselves" in _letter(w, deleted.id)


def test_where_the_organisation_decides_the_desk_reaches_the_person_as_before(
    home: Any, tmp_path: Path
) -> None:
    w = tallyroom_world(home, tmp_path, TALLYROOM.replace("customer\n", "organisation\n", 1))
    rid = verified(w.t, "access", BILLING["madrid"])
    done = w.t.requests.execute(rid, actor=OFFICE)
    assert done.subject_id == w.people["billing_madrid"]
    assert "own_purposes" not in done.result


def test_the_vendor_s_own_consents_end_with_its_part(home: Any, tmp_path: Path) -> None:
    # pulse: an employer's employee whose heart rate and cycle logs the vendor keeps for its
    # own health tracking, with her consent.
    pw = pulse_world(home, tmp_path)
    emp = pw.people["emp"]
    with pw.t.ctx.engine.connect() as conn:
        assert {"activity_tracking", "health_insights"} <= active_purposes(conn, emp)
    rid = verified(pw.t, "delete", pw.emails["emp"])
    done = pw.t.requests.execute(rid, actor=OFFICE)
    assert done.result["own_purposes"]["deleted"] >= 3  # heart rate, cycle log, device
    with pw.t.ctx.engine.connect() as conn:
        assert not {"activity_tracking", "health_insights"} & active_purposes(conn, emp)
        cats = {
            r.category for r in conn.execute(select(records).where(records.c.subject_id == emp))
        }
    assert not cats & {"biometrics", "reproductive_health", "device"}
    assert "participation" in cats  # the employer's wellness programme is its own
    assert pw.t.use(emp, purpose="account", actor=SYSTEM).get("email")
