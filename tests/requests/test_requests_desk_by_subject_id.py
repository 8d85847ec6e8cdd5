"""A request to the organisation's own desk that names a customer's person by subject id.

Before: where the customers decide about their people (``tenant_controller: customer``,
the default), a request opened at the organisation's desk by e-mail was left to the
customer (opened for no one, nothing of theirs touched, the customer told once, the
letters the organisation's), but one naming the same person by subject id (the office's
``requests open --subject``, an API key of the organisation's own with ``subject_id``)
was bound to the customer: its letters said "Boulangerie, a customer of ... received your
request", the vendor's desk erased the customer's record, and the customer was never told.
Where the organisation decides, its letters still said the customer received it.

Now the subject-id path is the e-mail path: where the customers decide, the request is
the organisation's own, opened for no one (the record it named kept as troth's mark),
carried out touching nothing of the customer's, its letters the organisation's ("We hold
no record of you for ourselves ... We have told Boulangerie"), and the customer told once
(audited ``request.customer_told``); where the organisation decides, it reaches the person
and its letters are the organisation's. A customer's own request (its key, a tenant named)
is the customer's as before."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from _http import api_key, client_for
from cli_runner import run
from outbox_helpers import outbox_mail
from requests_helpers import code_of, mails_for
from troth.audit.entries import list_entries
from troth.engine import Troth
from troth.gate import SYSTEM, Actor, ActorKind
from troth.store.tables import subjects

LUC = "luc@mail.example"
BAKERY = "office@bakery.example"
OFFICE = Actor(ActorKind.staff, "po", role="privacy_office")


@pytest.fixture
def t(home: Any, db_url: str) -> Troth:
    return home("phone-service", None if db_url.startswith("sqlite") else db_url)


def _bakery(t: Troth) -> tuple[str, str]:
    tid = t.access.tenants.create_tenant("Boulangerie", BAKERY)
    data = {"company_name": "Co", "name": "Luc Tremblay", "email": LUC}
    return tid, str(t.collect("customer_signup", data, tenant_id=tid).subject_id)


def _erased(t: Troth, sid: str) -> bool:
    with t.ctx.engine.connect() as conn:
        found = conn.execute(sa.select(subjects.c.erased_at).where(subjects.c.id == sid))
        return found.scalar() is not None


def _to_bakery(t: Troth) -> list[dict[str, Any]]:
    return list(outbox_mail(t, to=BAKERY, newest_first=True))


def _told(t: Troth) -> list[Any]:
    return [e.entry for e in list_entries(t.ctx, action="request.customer_told", limit=100)]


def _left_to_the_customer(t: Troth, rid: str, luc: str, bakery: str, *, letters: bool) -> None:
    req = t.requests.get(rid)
    assert (req.subject_id, req.tenant_id) == (None, None)
    done = t.requests.execute(rid)
    assert done.result["customers_told"] == ["Boulangerie"]  # type: ignore[index]
    assert done.result["also_on_file"] == [{"subject_id": luc, "held_for": "Boulangerie"}]  # type: ignore[index]
    assert not _erased(t, luc)
    assert t.use(luc, purpose="provide_service", actor=SYSTEM).get("name") == "Luc Tremblay"
    told = _to_bakery(t)
    assert len(told) == 1 and rid in told[0]["body_text"] and luc in told[0]["body_text"]
    assert LUC not in told[0]["body_text"] and "Tremblay" not in told[0]["body_text"]
    assert [(e.tenant_id, e.subject_id) for e in _told(t)] == [(bakery, luc)]
    sent = mails_for(t, rid)
    assert bool(sent) is letters
    org = t.ctx.policy.policy.organisation.name
    for m in sent:
        assert (
            "a customer of" not in m["subject"]
            and f"Boulangerie, a customer of {org}" not in (m["body_text"])
        )
    if letters:
        assert "We hold no record of you for ourselves" in sent[-1]["body_text"]
        assert "We have told Boulangerie that you asked" in sent[-1]["body_text"]


def test_the_office_naming_a_customers_person_leaves_it_to_the_customer(t: Troth) -> None:
    bakery, luc = _bakery(t)
    req = t.requests.open("delete", subject_id=luc, email=LUC, actor=OFFICE)
    t.requests.verify(req.id, code_of(t, req.id))
    _left_to_the_customer(t, req.id, luc, bakery, letters=True)
    # Nothing more on a second run, nor a second mail to the customer.
    assert len(_to_bakery(t)) == 1


def test_the_cli_without_an_address_tells_the_customer_once(
    t: Troth, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bakery, luc = _bakery(t)
    monkeypatch.setenv("TROTH_HOME", str(t.ctx.home))
    code, out, err = run(capsys, "requests", "open", "delete", "--subject", luc, "-q")
    assert code == 0, err
    rid = out.strip()
    t.requests.verify_by_staff(rid, staff="po", reason="passport seen")
    _left_to_the_customer(t, rid, luc, bakery, letters=False)


def test_an_organisation_key_naming_a_customers_person_over_http(t: Troth) -> None:
    bakery, luc = _bakery(t)
    with client_for(t.ctx) as c:
        # A key that may only open requests is told nothing of whose person it named.
        opener = api_key(c, ["requests"])
        r = c.post("/api/v1/requests", json={"kind": "delete", "subject_id": luc}, headers=opener)
        assert r.status_code == 201, r.text
        assert r.json()["details"] == {} and r.json()["subject_id"] is None
        key = api_key(c, ["requests:admin"])
        r = c.post("/api/v1/requests", json={"kind": "access", "subject_id": luc}, headers=key)
    assert r.status_code == 201, r.text
    assert (r.json()["subject_id"], r.json()["tenant_id"]) == (None, None)
    assert r.json()["details"] == {"left_to": luc}  # the desk sees the record it named
    rid = r.json()["id"]
    t.requests.verify_by_staff(rid, staff="po", reason="passport seen")
    _left_to_the_customer(t, rid, luc, bakery, letters=False)


def test_a_customers_own_request_by_subject_id_is_still_the_customers(t: Troth) -> None:
    bakery, luc = _bakery(t)
    for actor, named in (
        (SYSTEM, bakery),
        (Actor(ActorKind.application, "k", tenant_id=bakery), None),
    ):
        req = t.requests.open("access", subject_id=luc, email=LUC, tenant_id=named, actor=actor)
        assert (req.subject_id, req.tenant_id) == (luc, bakery)
        assert mails_for(t, req.id)[0]["subject"].startswith("Boulangerie, a customer of")
    assert _to_bakery(t) == [] and _told(t) == []


def test_where_the_organisation_decides_its_desk_reaches_the_person_in_its_own_name(
    home: Any,
) -> None:
    t = home("phone-service", edit=lambda d: d.update({"tenant_controller": "organisation"}))
    _bakery_id, luc = _bakery(t)
    req = t.requests.open("delete", subject_id=luc, email=LUC, actor=OFFICE)
    assert req.subject_id == luc
    t.requests.verify(req.id, code_of(t, req.id))
    t.requests.execute(req.id)
    assert _erased(t, luc)
    org = t.ctx.policy.policy.organisation.name
    for m in mails_for(t, req.id):
        assert "a customer of" not in m["subject"], m["subject"]
        assert m["body_text"].rstrip().endswith(org)
    assert _to_bakery(t) == []
