"""Trial 16, F1: an ex-employee wrote to the payroll vendor (the organisation), not to his
employer (its customer); the request to the vendor's own desk was bound to the employer's
record of him and carried out by the vendor, the employer never told, and the letters said
the employer "received your request".

Where the customers decide about their people (``tenant_controller: customer``, the
default), a request to the organisation's own desk reaches its own people only; when it
holds nothing of the person's own, the request is answered for the organisation, names the
customers who hold the address, touches nothing of theirs, and tells each of them once,
with nothing more of the person than their id among its people. Where the organisation
decides (``tenant_controller: organisation``), the desk reaches a customer's person as
before, and its letters are the organisation's."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from outbox_helpers import outbox_mail
from requests_helpers import code_of, mails_for, verified
from troth.audit.entries import list_entries
from troth.engine import Troth
from troth.errors import Conflict
from troth.gate import SYSTEM, Actor, ActorKind
from troth.store.tables import records, subjects

LUC = "luc@mail.example"
BAKERY, CLINIC = "office@bakery.example", "office@clinic.example"
ORGANISATION = "tenant_controller"


@pytest.fixture
def t(home: Any, db_url: str) -> Troth:
    return home("phone-service", db_url)


@pytest.fixture
def org_decides(home: Any, db_url: str) -> Troth:
    return home("phone-service", db_url, edit=lambda d: d.update({ORGANISATION: "organisation"}))


def _luc(t: Troth, tenant: str | None, company: str = "Co") -> str:
    data = {"company_name": company, "name": "Luc Tremblay", "email": LUC}
    return str(t.collect("customer_signup", data, tenant_id=tenant).subject_id)


def _bakery(t: Troth) -> tuple[str, str]:
    tid = t.access.tenants.create_tenant("Boulangerie", BAKERY)
    return tid, _luc(t, tid)


def _to(t: Troth, addr: str) -> list[dict[str, Any]]:
    return list(outbox_mail(t, to=addr, newest_first=True))


def _values(t: Troth, sid: str) -> int:
    with t.ctx.engine.connect() as conn:
        return int(
            conn.execute(sa.select(sa.func.count()).where(records.c.subject_id == sid)).scalar_one()
        )


def _erased(t: Troth, sid: str) -> bool:
    with t.ctx.engine.connect() as conn:
        return (
            conn.execute(sa.select(subjects.c.erased_at).where(subjects.c.id == sid)).scalar()
            is not None
        )


def _told(t: Troth) -> list[Any]:
    return [e.entry for e in list_entries(t.ctx, action="request.customer_told", limit=1000)]


@pytest.mark.parametrize("kind", ["delete", "access", "close_account"])
def test_an_address_only_a_customer_holds_is_answered_for_the_organisation(
    t: Troth, kind: str
) -> None:
    bakery, luc = _bakery(t)
    before = _values(t, luc)
    req = t.requests.open(kind, email=LUC)
    # Bound to no one of the customer's, and never the customer's request.
    assert (req.subject_id, req.tenant_id) == (None, None)
    t.requests.verify(req.id, code_of(t, req.id))
    done = t.requests.execute(req.id)
    assert done.result["also_on_file"] == [{"subject_id": luc, "held_for": "Boulangerie"}]  # type: ignore[index]
    assert done.result["customers_told"] == ["Boulangerie"]  # type: ignore[index]
    # Nothing of the customer's record was touched.
    assert _values(t, luc) == before and not _erased(t, luc)
    assert t.use(luc, purpose="provide_service", actor=SYSTEM).get("name") == "Luc Tremblay"
    # The person's letters: the organisation's, naming the customer as the one who decides.
    org = t.ctx.policy.policy.organisation.name
    letters = mails_for(t, req.id)
    assert letters and all("a customer of" not in m["subject"] for m in letters)
    assert all(m["body_text"].rstrip().endswith(org) for m in letters)
    assert all(f"Boulangerie, a customer of {org}" not in m["body_text"] for m in letters)
    done_letter = letters[-1]["body_text"]
    assert "We hold no record of you for ourselves" in done_letter
    assert "on file with Boulangerie, a customer of ours" in done_letter
    assert "We have told Boulangerie that you asked" in done_letter
    # The customer is told once, with the reference and its person's id, nothing more.
    told = _to(t, BAKERY)
    assert len(told) == 1
    body = told[0]["body_text"]
    assert req.id in body and luc in body
    assert LUC not in body and "Luc" not in body and "Tremblay" not in body
    assert told[0]["subject_id"] is None  # not a mail to (or about) the person's export
    entries = _told(t)
    assert [(e.tenant_id, e.subject_id, e.details["request_id"]) for e in entries] == [
        (bakery, luc, req.id)
    ]


def test_the_address_held_by_the_organisation_and_a_customer_reaches_its_own_only(
    t: Troth,
) -> None:
    _bakery_id, luc = _bakery(t)
    own = _luc(t, None)
    rid = verified(t, "delete", LUC)
    done = t.requests.execute(rid)
    assert done.subject_id == own and _erased(t, own)
    assert not _erased(t, luc)
    assert done.result["also_on_file"] == [{"subject_id": luc, "held_for": "Boulangerie"}]  # type: ignore[index]
    assert "customers_told" not in (done.result or {})
    letter = mails_for(t, rid)[-1]["body_text"]
    assert "also on file with Boulangerie" in letter and "We hold no record" not in letter
    # The customer is not told of a request about the organisation's own record of them.
    assert _to(t, BAKERY) == [] and _told(t) == []


def test_an_address_two_customers_hold_names_and_tells_both_once(t: Troth) -> None:
    bakery, at_bakery = _bakery(t)
    clinic = t.access.tenants.create_tenant("Clinic", CLINIC)
    at_clinic = _luc(t, clinic)
    rid = verified(t, "delete", LUC)
    report = t.requests.execute_many([rid])  # in bulk as one by one
    assert report.completed == [rid]
    rec = t.requests.get(rid)
    assert rec.subject_id is None
    assert sorted(rec.result["customers_told"]) == ["Boulangerie", "Clinic"]  # type: ignore[index]
    assert not _erased(t, at_bakery) and not _erased(t, at_clinic)
    assert len(_to(t, BAKERY)) == 1 and len(_to(t, CLINIC)) == 1
    assert at_clinic not in _to(t, BAKERY)[0]["body_text"]  # nothing of another customer
    assert at_bakery not in _to(t, CLINIC)[0]["body_text"]
    assert "Clinic" not in _to(t, BAKERY)[0]["body_text"]
    assert {(e.tenant_id, e.subject_id) for e in _told(t)} == {
        (bakery, at_bakery),
        (clinic, at_clinic),
    }
    letter = mails_for(t, rid)[-1]["body_text"]
    assert "on file with Boulangerie, Clinic, customers of ours" in letter


@pytest.mark.parametrize("kind", ["delete", "access"])
def test_in_bulk_the_customer_is_told_once_and_nothing_of_theirs_goes_out(
    t: Troth, kind: str
) -> None:
    _bakery_id, luc = _bakery(t)
    rid = verified(t, kind, LUC)
    report = t.requests.execute_many([rid])
    assert report.completed == [rid]
    again = t.requests.execute_many([rid])  # a rerun does nothing more
    assert again.completed == []
    rec = t.requests.get(rid)
    assert rec.result["customers_told"] == ["Boulangerie"]  # type: ignore[index]
    assert len(_to(t, BAKERY)) == 1 and len(_told(t)) == 1
    assert not _erased(t, luc)
    assert "We have told Boulangerie" in mails_for(t, rid)[-1]["body_text"]


def test_the_export_of_a_request_left_to_the_customer_holds_nothing_of_theirs(
    t: Troth,
) -> None:
    import io
    import json
    import zipfile

    _bakery_id, luc = _bakery(t)
    rid = verified(t, "access", LUC)
    done = t.requests.execute(rid)
    assert done.download_token
    data = t.requests.download(done.download_token, actor=SYSTEM)
    doc = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("data.json"))
    assert doc["subject"] is None and doc["categories"] == {}
    assert luc not in json.dumps(doc) and "Tremblay" not in json.dumps(doc)
    # The organisation's own answer: it is the controller of what it says.
    assert doc["controller"]["name"] == t.ctx.policy.policy.organisation.name


PURCHASE = {
    "name": "Luc Tremblay",
    "email": LUC,
    "address": "1 Main Street, Quebec",
    "product": "Mindlink Pro",
    "renewal_date": "2027-01-01",
}


def test_an_erased_own_record_and_a_customer_s_the_customer_s_stays_untouched(
    home: Any, db_url: str
) -> None:
    t = home("mindlink", db_url)  # a purchase's invoice outlives an erasure
    shop = t.access.tenants.create_tenant("Shop", "office@shop.example")
    at_shop = str(t.collect("purchase", PURCHASE, tenant_id=shop).subject_id)
    own = str(t.collect("purchase", PURCHASE).subject_id)
    first = verified(t, "delete", LUC)
    assert t.requests.execute(first).subject_id == own and _erased(t, own)
    # Access: the erased own record (what the law keeps of it), never the customer's.
    req = t.requests.open("access", email=LUC)
    assert (req.subject_id, req.tenant_id) == (own, None)
    t.requests.verify(req.id, code_of(t, req.id))
    seen = t.requests.execute(req.id)
    assert seen.result["also_on_file"] == [{"subject_id": at_shop, "held_for": "Shop"}]  # type: ignore[index]
    # Deletion: nothing living of the organisation's; the customer's record stays whole,
    # and the letter does not say the organisation holds nothing (it keeps the invoice).
    again = t.requests.open("delete", email=LUC)
    assert (again.subject_id, again.tenant_id) == (None, None)
    t.requests.verify(again.id, code_of(t, again.id))
    done = t.requests.execute(again.id)
    assert not _erased(t, at_shop)
    assert done.result["also_on_file"] == [{"subject_id": at_shop, "held_for": "Shop"}]  # type: ignore[index]
    assert "We hold no record" not in mails_for(t, again.id)[-1]["body_text"]
    # The organisation holds a record of its own: the customer is not told.
    assert _to(t, "office@shop.example") == [] and _told(t) == []


@pytest.mark.parametrize("decides", ["customer", "organisation"])
def test_a_connected_dataset_is_not_walked_for_an_address_left_to_a_customer(
    home: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, decides: str
) -> None:
    import connected_schema as cs
    from requests_helpers import connect_shop, shop_db

    t = home("mindlink", edit=lambda d: d.update({ORGANISATION: decides}))
    engine = connect_shop(t, shop_db(tmp_path), monkeypatch, people=[1, 2])
    shop = t.access.tenants.create_tenant("Shop", "office@shop.example")
    person = cs.customer(t, 1, shop)
    before = cs.rows_of(engine, 1)
    assert any(before.values())
    rid = verified(t, "delete", cs.email_of(1))
    t.requests.execute(rid)
    if decides == "customer":  # the customer's, wherever it is: nothing touched
        assert cs.rows_of(engine, 1) == before and not _erased(t, person)
    else:  # the organisation decides: its desk erases the person, everywhere
        assert cs.rows_of(engine, 1) != before and _erased(t, person)


def test_a_customer_s_own_request_is_still_the_customer_s(t: Troth) -> None:
    bakery, luc = _bakery(t)
    for actor in (SYSTEM, Actor(ActorKind.application, "k", tenant_id=bakery)):
        req = t.requests.open("access", email=LUC, tenant_id=bakery, actor=actor)
        assert (req.subject_id, req.tenant_id) == (luc, bakery)
        ack = mails_for(t, req.id)[0]
        assert ack["subject"].startswith("Boulangerie, a customer of")
    assert _to(t, BAKERY) == []  # nothing reached the vendor's desk


def test_a_caller_cannot_mark_its_request_as_the_organisation_s(t: Troth) -> None:
    bakery, _luc_id = _bakery(t)
    key = Actor(ActorKind.application, "k", tenant_id=bakery)
    req = t.requests.open(
        "access", email=LUC, actor=key, details={"received_by": "organisation", "note": "x"}
    )
    assert "received_by" not in req.details and req.details["note"] == "x"
    assert mails_for(t, req.id)[0]["subject"].startswith("Boulangerie, a customer of")


# -- where the organisation decides about the customers' people -------------------------


def test_where_the_organisation_decides_the_desk_reaches_the_customer_s_person(
    org_decides: Troth,
) -> None:
    t = org_decides
    bakery, luc = _bakery(t)
    req = t.requests.open("delete", email=LUC)
    assert (req.subject_id, req.tenant_id) == (luc, bakery)  # as before
    t.requests.verify(req.id, code_of(t, req.id))
    done = t.requests.execute(req.id)
    assert _erased(t, luc) and "customers_told" not in (done.result or {})
    # But its letters are the organisation's: the customer never received it.
    org = t.ctx.policy.policy.organisation.name
    letters = mails_for(t, req.id)
    assert letters and all("a customer of" not in m["subject"] for m in letters)
    assert all("Boulangerie" not in m["body_text"] for m in letters)
    assert all(m["body_text"].rstrip().endswith(org) for m in letters)
    assert _to(t, BAKERY) == []


def test_the_policy_key_and_the_breach_notices_key_follow_each_other(home: Any) -> None:
    def policy(name: str, **keys: Any) -> Any:
        t = home("phone-service", edit=lambda d: d.update(keys), name=name)
        p = t.ctx.policy.policy
        return p.tenant_controller, p.breach_notices.tenant_people

    assert policy("a") == ("customer", "controller")
    assert policy("b", tenant_controller="organisation") == ("organisation", "organisation")
    # The old key alone still says who the customers' people's controller is.
    assert policy("c", breach_notices={"tenant_people": "organisation"}) == (
        "organisation",
        "organisation",
    )
    # Both given: each as written (a customer may ask the organisation to tell its people).
    both = {"tenant_controller": "customer", "breach_notices": {"tenant_people": "organisation"}}
    assert policy("d", **both) == ("customer", "organisation")


# -- an offboarded customer's person (F5) -------------------------------------------------


def _offboarded_with_luc(t: Troth) -> tuple[str, str]:
    """The bakery offboarded while Luc's record is on a legal hold (so it stays)."""
    bakery, luc = _bakery(t)
    t.retention.place_hold(reason="Tribunal 4/2026", subject_id=luc)
    t.requests.offboard_tenant(bakery)
    assert not _erased(t, luc)
    return bakery, luc


def _refusals(t: Troth) -> list[Any]:
    return [
        e.entry
        for e in list_entries(t.ctx, outcome="deny", limit=1000)
        if e.entry.action == "request.open"
    ]


def test_an_offboarded_customer_s_person_is_refused_at_the_desk_where_the_org_decides(
    org_decides: Troth, capsys: pytest.CaptureFixture[str]
) -> None:
    from cli_runner import run

    t = org_decides
    bakery, luc = _offboarded_with_luc(t)
    n = len(t.requests.list(include_closed=True))
    opens: list[Callable[[], Any]] = [
        lambda: t.requests.open("access", email=LUC),
        lambda: t.requests.open("delete", email=LUC),
        lambda: t.requests.open("access", email=LUC, tenant_id=bakery),
        lambda: t.requests.open("access", subject_id=luc),
    ]
    for open_ in opens:
        with pytest.raises(Conflict) as err:
            open_()
        assert err.value.code == "tenant_offboarded"
    code, _out, err_text = run(
        capsys, "--home", str(t.ctx.home), "requests", "open", "access", "--email", LUC
    )
    assert code == 1 and "offboarded on" in err_text
    assert len(t.requests.list(include_closed=True)) == n  # nothing stored
    refused = _refusals(t)
    assert len(refused) == len(opens) + 1 and {e.tenant_id for e in refused} == {bakery}
    assert _to(t, LUC) == []  # no letter to the person


def test_an_offboarded_customer_s_person_is_refused_by_the_api(org_decides: Troth) -> None:
    from _http import api_key, client_for, is_problem

    t = org_decides
    _offboarded_with_luc(t)
    with client_for(t.ctx) as c:
        office = api_key(c, ["requests"])
        r = c.post("/api/v1/requests", json={"kind": "access", "email": LUC}, headers=office)
        body = is_problem(r, 409, "tenant_offboarded")
        assert "offboarded on" in body["detail"]


def test_an_offboarded_customer_is_neither_named_nor_told_where_customers_decide(
    t: Troth,
) -> None:
    _bakery_id, luc = _offboarded_with_luc(t)
    before = len(_to(t, BAKERY))
    rid = verified(t, "delete", LUC)
    done = t.requests.execute(rid)
    assert done.subject_id is None and not _erased(t, luc)
    assert "also_on_file" not in (done.result or {})
    assert "Boulangerie" not in mails_for(t, rid)[-1]["body_text"]
    assert len(_to(t, BAKERY)) == before and _told(t) == []


def test_an_offboarded_customer_s_held_rows_in_a_connected_dataset_stay(
    home: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import connected_schema as cs
    from requests_helpers import connect_shop, shop_db

    t = home("mindlink")
    engine = connect_shop(t, shop_db(tmp_path), monkeypatch, people=[1])
    shop = t.access.tenants.create_tenant("Shop", "office@shop.example")
    person = cs.customer(t, 1, shop)
    t.retention.place_hold(reason="Tribunal 4/2026", subject_id=person)
    t.requests.offboard_tenant(shop)
    before = cs.rows_of(engine, 1)
    assert any(before.values()) and not _erased(t, person)  # held: kept everywhere
    rid = verified(t, "delete", cs.email_of(1))
    done = t.requests.execute(rid)
    assert cs.rows_of(engine, 1) == before and not _erased(t, person)
    assert "also_on_file" not in (done.result or {}) and _told(t) == []
    assert "Shop" not in mails_for(t, rid)[-1]["body_text"]


def test_an_e_mailed_request_for_an_offboarded_customer_s_person_is_left_to_the_office(
    org_decides: Troth, tmp_path: Any
) -> None:
    t = org_decides
    _offboarded_with_luc(t)
    eml = tmp_path / "m.eml"
    eml.write_text(
        f"From: {LUC}\nTo: privacy@vendor.example\nSubject: Access request\n"
        "Message-ID: <a1@mail.example>\nDate: Mon, 07 Dec 2026 10:00:00 +0000\n\n"
        "Please send me a copy of my data.\n"
    )
    report = t.requests.ingest(tmp_path)
    assert report.opened == []
    assert len(report.unrecognised) == 1 and "offboarded" in str(report.unrecognised[0].problem)


def test_the_customer_mail_names_the_kind_and_the_day(t: Troth) -> None:
    _bakery(t)
    rid = verified(t, "delete", LUC)
    t.requests.execute(rid)
    body = _to(t, BAKERY)[0]["body_text"]
    assert re.search(r"received a request \(deletion\) on \d{4}-\d{2}-\d{2}", body)
    assert _to(t, BAKERY)[0]["subject"].startswith("A request about one of your people")
