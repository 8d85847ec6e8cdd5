"""The privacy centre's sentences for reads and disclosures read as English whatever form
a purpose's description takes: a verb phrase ("Provide support"), a noun phrase
("Trainers coaching members") or a sentence. The description ends the sentence after
"for this use of your data:", as consent sentences already did; nothing is spliced after
"to". The same on the page (who accessed the data, who receives it, new uses)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from _http import PASSWORD, client_for, privacy_sign_in, section
from troth.access import actor_for
from troth.access.who import Acting
from troth.audit.entry import AuditEntry, Outcome
from troth.clock import ManualClock
from troth.engine import Troth
from troth.gate import SYSTEM
from troth.web.privacy_words import Narrator

NOUN = "Trainers coaching members."  # a noun phrase: "to trainers coaching..." is broken
LEGAL = "Compliance with court orders and lawful requests"
BUYER = {
    "name": "Ann Lee",
    "email": "ann@example.com",
    "address": "1 High Street, Leeds",
    "product": "Mindlink Pro",
    "renewal_date": "2027-01-01",
}


def nouns(policy: dict[str, Any]) -> None:
    for p in policy["purposes"]:
        if p["id"] == "support":
            p["description"] = NOUN
        if p["id"] == "legal_compliance":
            p["description"] = LEGAL


@pytest.fixture
def ctx(home: Any) -> Any:
    return home("mindlink", edit=nouns, clock=ManualClock(), context=True)


def test_reads_and_disclosures_end_with_the_description_after_a_colon(ctx: Any) -> None:
    n = Narrator(ctx.policy, "s1", lambda _actor: Acting(role="support"))
    cats = ("contact", "identity")
    said = {
        (action, outcome): n.sentence(
            AuditEntry(
                action,
                "staff:u1",
                outcome,
                subject_id="s1",
                purpose="support" if action == "use" else "legal_compliance",
                categories=cats,
                details={"recipient": "law_enforcement"},
            )
        )
        for action in ("use", "disclose")
        for outcome in (Outcome.allow, Outcome.deny)
    }
    court = "Government and law enforcement officials, courts and private parties in legal process"
    assert said == {
        ("use", Outcome.allow): "Our support team read your contact and identity details for"
        " this use of your data: Trainers coaching members.",
        ("use", Outcome.deny): "Our support team asked to read your contact and identity"
        " details for this use of your data: Trainers coaching members. This was refused.",
        ("disclose", Outcome.allow): f"Our support team passed your contact and identity"
        f" details to {court} for this use of your data: {LEGAL}.",
        ("disclose", Outcome.deny): f"Our support team asked to pass your contact and identity"
        f" details to {court} for this use of your data: {LEGAL}. This was refused.",
    }
    for sentence in said.values():
        assert sentence is not None and " to trainers" not in sentence.lower()
        assert ".." not in sentence


def _read_and_disclosed(t: Troth, reference: str) -> str:
    """A buyer whose data support read and a court order had disclosed: their id."""
    sid = t.collect("purchase", BUYER).subject_id
    t.collect("support_request", {"name": "Ann Lee", "email": BUYER["email"], "message": "Hi"})
    support = t.access.accounts.add_user(
        "sue@mindlink.example", kind="staff", role="support", password=PASSWORD
    )
    t.use(sid, purpose="support", actor=actor_for(support))
    order = t.disclosures.record_demand(
        authority="Crown Court",
        instrument="production_order",
        reference=reference,
        scope="account records",
        categories=[
            "identity",
            "contact",
            "billing",
            "purchases",
            "account_history",
            "communications",
        ],
        recipient="law_enforcement",
    )  # a disclosure to an authority goes only under a recorded demand (P20)
    t.disclosures.disclose(
        sid, "law_enforcement", "legal_compliance", SYSTEM, legal_demand_id=order.id
    )
    return str(sid)


def test_the_page_reads_the_same(ctx: Any) -> None:
    _read_and_disclosed(Troth(ctx), "PO-1")
    with client_for(ctx) as c:
        privacy_sign_in(c, ctx, BUYER["email"])
        page = c.get("/privacy/me").text
    accesses = section(page, "acc-h")
    assert "for this use of your data: Trainers coaching members." in accesses
    assert f"for this use of your data: {LEGAL}." in accesses
    assert " to trainers" not in accesses.lower() and " to compliance" not in accesses.lower()


def test_sub_processors_receive_for_a_use_described_as_written(home: Any) -> None:
    def noun(policy: dict[str, Any]) -> None:
        for p in policy["purposes"]:
            if p["id"] == "provide_service":
                p["description"] = "Customer accounts, users and invitations."

    ctx = home("phone-service", edit=noun, clock=ManualClock(), context=True)
    with client_for(ctx) as c:
        body = section(c.get("/privacy").text, "sub-h")
    assert "details, for this use of your data: Customer accounts, users and invitations" in body
    assert " to customer accounts" not in body.lower()


def test_the_page_dates_everything_where_the_person_is(home: Any) -> None:
    """Collected, read, disclosed and closed are dated on the person's calendar (their
    regime's zone, else the organisation's), never UTC's: at 12:00 UTC on 31 January it is
    already 1 February in Auckland."""

    def auckland(policy: dict[str, Any]) -> None:
        policy["organisation"]["time_zone"] = "Pacific/Auckland"

    clock = ManualClock(datetime(2026, 1, 31, 12, 0, tzinfo=UTC))
    ctx = home("mindlink", edit=auckland, clock=clock, context=True)
    _read_and_disclosed(Troth(ctx), "PO-2")
    with client_for(ctx) as c:
        privacy_sign_in(c, ctx, BUYER["email"])
        page = c.get("/privacy/me").text
    assert "Collected 1 February 2026" in page and "31 January" not in page
    accesses = section(page, "acc-h")
    assert "1 Feb 2026, 01:00 NZDT" in accesses and "UTC" not in accesses
    assert '<td data-label="When">2026-02-01</td>' in page
