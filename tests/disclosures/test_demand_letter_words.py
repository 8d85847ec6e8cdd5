"""The letter that tells a person their data was disclosed under a legal demand (trial #19
F8): it quoted the demand's ``reference`` (free text an officer may write the
complainant's name into: "231 Js 99/26 (complainant Cora Diaz)"), listed raw category
ids, opened "Dear customer" and came once per disclosure. Now it names who required it,
the instrument, the recipient and what went, in the policy's words, never the reference;
one letter per person, signed by the organisation as its other letters are. The person's
privacy centre and access export list the disclosure without the reference too; the
office's own views keep it."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from _http import client_for, privacy_sign_in, section
from dating_samples import Dating, dating_home
from outbox_helpers import bodies
from requests_helpers import verified
from troth.audit.entries import list_entries
from troth.clock import ManualClock
from troth.gate import SYSTEM

REFERENCE = "231 Js 99/26 (complainant Cora Diaz)"
SECRET_WORDS = ("Cora", "Diaz", "complainant", "231 Js", "99/26")


@pytest.fixture
def d(home: Any, tmp_path: Path) -> Dating:
    return dating_home(home, tmp_path)


def _letters(d: Dating, sid: str) -> list[str]:
    return [b for b in bodies(d.t, subject_id=sid) if "required by law to disclose" in b]


def _gagged_demand(d: Dating, clock: ManualClock) -> str:
    """A gagged production order naming Max's messages and identity, disclosed twice for
    him (identity, then his messages), once for Anna and once for Olly (a member of
    another community)."""
    t, office = d.t, d.staff["privacy_office"]
    t.collect("message", {"text": "see you Sunday"}, subject_id=d.max, tenant_id=d.pride)
    t.collect("message", {"text": "hi"}, subject_id=d.olly, tenant_id=d.other)
    demand = t.disclosures.record_demand(
        authority="LKA Berlin",
        instrument="production_order",
        reference=REFERENCE,
        scope="Messages of the reported member",
        categories=["identity", "messages"],
        recipient="police_de",
        gag_until=clock.now() + timedelta(days=30),
        actor=office,
    )
    for sid, cats in ((d.max, ["identity"]), (d.max, ["messages"]), (d.anna, None), (d.olly, None)):
        t.disclosures.disclose(
            sid, "police_de", "legal_requests", office, categories=cats, legal_demand_id=demand.id
        )
        clock.advance(minutes=5)
    assert all(_letters(d, sid) == [] for sid in (d.max, d.anna, d.olly))  # gagged
    return demand.id


def test_the_letter_names_the_authority_and_the_data_never_the_reference(
    d: Dating, clock: ManualClock
) -> None:
    demand = _gagged_demand(d, clock)
    assert d.t.disclosures.lift_gag(demand, actor=d.staff["privacy_office"]) == 3
    (letter,) = _letters(d, d.max)  # one letter for his two disclosures
    for word in SECRET_WORDS:
        assert word not in letter, word
    assert "Dear customer" not in letter
    assert letter.startswith("Hearthly GmbH was required by law to disclose some of your")
    assert "The law did not allow us to tell you until now." in letter
    assert "Who required it: LKA Berlin" in letter
    assert "Legal instrument: production order" in letter
    assert letter.count("Disclosed to: German police and public prosecutors") == 2
    assert "- Name and other identifiers of a person (name, username, customer number)\n" in letter
    assert "- In-app messages you sent" in letter
    assert "messages" not in letter.replace("In-app messages", "")  # no raw id
    assert letter.count("Date of disclosure: 2026-03-02") == 2  # Berlin's calendar
    assert letter.rstrip().endswith("\nHearthly GmbH")
    assert "privacy@hearthly.example" in letter
    # Each person is told only of their own: Olly's letter names none of Max's data.
    (olly,) = _letters(d, d.olly)
    assert olly.count("Disclosed to:") == 1 and "Cora" not in olly
    # The log says each disclosure was told; the mail is one per person.
    told = [e for e in list_entries(d.t.ctx) if e.entry.action == "legal_demand.notify"]
    assert sorted(e.entry.subject_id or "" for e in told) == sorted([d.max, d.max, d.anna, d.olly])
    assert d.t.disclosures.notify_due_demands() == 0  # told once


def test_the_ungagged_demand_tells_at_once_in_the_same_words(d: Dating) -> None:
    office = d.staff["privacy_office"]
    demand = d.t.disclosures.record_demand(
        authority="LKA Berlin",
        instrument="court_order",
        reference=REFERENCE,
        scope="Identity",
        categories=["identity"],
        recipient="police_de",
        actor=office,
    )
    d.t.disclosures.disclose(
        d.anna, "police_de", "legal_requests", office, legal_demand_id=demand.id
    )
    (letter,) = _letters(d, d.anna)
    assert not any(word in letter for word in SECRET_WORDS)
    assert "did not allow us" not in letter and "Legal instrument: court order" in letter


def test_an_erased_person_gets_no_letter_and_the_log_says_why(
    d: Dating, clock: ManualClock
) -> None:
    demand = _gagged_demand(d, clock)
    d.t.requests.execute(verified(d.t, "delete", "anna@example.de"))
    d.t.disclosures.lift_gag(demand, actor=d.staff["privacy_office"])
    assert _letters(d, d.anna) == []
    told = [
        e.entry.details
        for e in list_entries(d.t.ctx, subject_id=d.anna)
        if e.entry.action == "legal_demand.notify"
    ]
    assert [t.get("undeliverable") for t in told] == ["no e-mail address on record"]
    assert len(_letters(d, d.max)) == 1


def test_the_person_reads_the_disclosure_without_the_reference(
    d: Dating, clock: ManualClock
) -> None:
    """The privacy centre's list and the access export's ``disclosures`` give the
    authority and the instrument; the office's own list keeps the reference."""
    demand = _gagged_demand(d, clock)
    d.t.disclosures.lift_gag(demand, actor=d.staff["privacy_office"])
    with client_for(d.t.ctx) as c:
        privacy_sign_in(c, d.t.ctx, "max@example.de")
        page = c.get("/privacy/me").text
    assert "LKA Berlin" in page and not any(word in page for word in SECRET_WORDS)
    rid = verified(d.t, "access", "max@example.de", tenant_id=d.pride)
    done = d.t.requests.execute(rid)
    zf = zipfile.ZipFile(io.BytesIO(d.t.requests.download(done.download_token, actor=SYSTEM)))
    for name in zf.namelist():
        text = zf.read(name).decode()
        assert not any(word in text for word in SECRET_WORDS), name
    shown = json.loads(zf.read("data.json"))["disclosures"]
    assert {x["legal_demand"]["authority"] for x in shown} == {"LKA Berlin"}
    assert all("reference" not in x["legal_demand"] for x in shown)
    # The office: the reference is the demand's, and its register shows it.
    office = d.t.access.records.disclosures_for(d.staff["privacy_office"], d.max)
    assert {x["legal_demand"]["reference"] for x in office} == {REFERENCE}
    assert section(page, "acc-h")  # the page rendered whole
