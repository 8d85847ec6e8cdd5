"""The privacy centre tells a person each consent event as a sentence about them: one they
made themself is theirs ("You gave consent ...", never "We gave consent for us to ..."),
one someone else recorded says who recorded it and never that the person gave it ("We
recorded that you agreed ...", "Our support team recorded that you agreed by phone ...":
trial #18 F1), an import is "our earlier records", and the purpose is the
policy's own description after "this use of your data:", which reads well whether it is a
verb phrase ("Send the email newsletter"), a noun phrase ("Commercial prospecting") or a
sentence of its own ("Trainers coach members ..."). The entries are real: recorded by the
ledger, read back from the audit log as the page reads them."""

from __future__ import annotations

from typing import Any

import pytest

from _http import client_for, privacy_sign_in, section
from troth.access.who import Acting
from troth.audit.log import transaction
from troth.clock import ManualClock
from troth.consent import ConsentKind, ConsentLedger, ConsentMethod
from troth.consent.unsubscribe import unsubscribe_subject
from troth.engine import Troth
from troth.web.privacy_words import Narrator

NEWS = "this use of your data: Send the email newsletter and blog posts."
CONTESTS = "this use of your data: Run contests, surveys and promoted activities."
PERSONAL = (
    "this use of your data: Personalise the Services and target product offerings and"
    " communications."
)
PERSON = {"name": "Ada Lovelace", "email": "ada@example.com", "message": "Please help"}


def told(t: Troth, sid: str) -> list[str]:
    """The consent sentences the person's page shows, oldest first."""
    narrator = Narrator(t.ctx.policy, sid, lambda _actor: Acting(role="support"))
    entries = t.disclosures.person_entries(sid, limit=200)
    consent = sorted(
        (x for x in entries if x.entry.action.startswith("consent.")), key=lambda x: x.seq
    )
    return [a.sentence for a in narrator.accesses(consent)]


def test_every_consent_event_kind_in_words(home: Any, db_url: str) -> None:
    t = home("mindlink", None if db_url.startswith("sqlite") else db_url, clock=ManualClock())
    ledger = ConsentLedger(t.ctx)
    # Ticked on the collection form (recorded by the collector: system), then the others.
    sid = t.collect("support_request", PERSON, consents=["newsletter"]).subject_id
    ledger.grant(sid, "contests_and_surveys", method="staff", actor="staff:u1", channel="phone")
    ledger.withdraw(sid, "contests_and_surveys")
    ledger.grant(sid, "analytics", method="import")
    ledger.record_cookie_choices(sid, {"analytics": True, "marketing": False})
    ledger.record_gpc(sid, signal="1")
    unsubscribe_subject(t.ctx, sid, "newsletter", ConsentMethod.web_form)
    ledger.grant(sid, "contests_and_surveys", method="email_link")
    with transaction(t.ctx) as conn:
        ledger.record_opt_out(conn, sid, "contests_and_surveys", kind=ConsentKind.withdraw,
                              method=ConsentMethod.request, actor="staff:u1",
                              at=t.ctx.clock.now(), details={"request_id": "r1"})  # fmt: skip
    ledger.grant(sid, "service_updates")
    with transaction(t.ctx) as conn:
        ledger.end_all(conn, sid, method=ConsentMethod.request, actor="system:troth",
                       at=t.ctx.clock.now(), details={"why": "erasure"})  # fmt: skip
    assert told(t, sid) == [
        f"We recorded that you agreed to {NEWS}",
        f"Our support team recorded that you agreed by phone to {CONTESTS}",
        f"You withdrew consent to {CONTESTS}",
        "Our earlier records show that you gave consent to this use of your data: Analyse"
        " and improve the performance of the Services.",
        "You allowed analytics cookies.",
        "You refused marketing cookies.",
        f"Your browser's Global Privacy Control signal opted you out of {PERSONAL}",
        f"You unsubscribed from our newsletter list, which ended {NEWS}",
        f"You gave consent to {CONTESTS}",
        f"At your request, we stopped {CONTESTS}",
        "You gave consent to this use of your data: Additional emails about changes to our"
        " service and improvements to our products.",
        "When your data was erased, we ended this use of your data: Analyse and improve the"
        " performance of the Services.",
        "When your data was erased, we ended this use of your data: Additional emails about"
        " changes to our service and improvements to our products.",
    ]


@pytest.mark.parametrize(
    ("example", "point", "data", "purpose", "sentence"),
    [
        (
            "itechno",
            "newsletter_signup",
            {"email": "ann@example.com"},
            "product_news",
            "We recorded that you agreed to this use of your data: Information about product"
            " upgrades,"
            " new products, services, newsletters and research on future product ideas.",
        ),
        (
            "ixanet",
            None,
            None,
            "marketing",
            "We recorded that you agreed to this use of your data: Commercial prospecting and"
            " marketing.",
        ),
    ],
)
def test_purposes_of_other_policies(
    home: Any, example: str, point: str | None, data: Any, purpose: str, sentence: str
) -> None:
    t = home(example, clock=ManualClock())
    if point is None:  # the example's first collection point that serves the purpose
        cp = next(c for c in t.ctx.policy.policy.collection_points if purpose in c.purposes)
        point, data = cp.id, {f: _sample(s) for f, s in cp.fields.items() if s.required}
    sid = t.collect(point, data, consents=[purpose]).subject_id
    assert told(t, sid) == [sentence]
    ConsentLedger(t.ctx).withdraw(sid, purpose)
    # Collected by troth (the form): "We recorded"; withdrawn by the person: theirs.
    assert told(t, sid)[-1] == sentence.replace(
        "We recorded that you agreed", "You withdrew consent"
    )


def _sample(spec: Any) -> Any:
    kind = str(getattr(spec.type, "value", spec.type))
    return {
        "email": "ann@example.com",
        "phone": "+15551234567",
        "integer": 1,
        "number": 1.5,
        "boolean": True,
        "date": "1990-01-01",
        "datetime": "2026-01-01T00:00:00+00:00",
    }.get(kind, "x")


def test_a_description_that_is_a_sentence_of_its_own_on_the_page(home: Any) -> None:
    """The new user's case: "Trainers coach members ..." read "We gave consent for us to
    trainers coach members ..."."""

    def coaching(policy: dict[str, Any]) -> None:
        for p in policy["purposes"]:
            if p["id"] == "newsletter":
                p["description"] = "Trainers coach members using their health and workout data."

    ctx = home("mindlink", edit=coaching, clock=ManualClock(), context=True)
    Troth(ctx).collect("support_request", PERSON, consents=["newsletter"])
    with client_for(ctx) as c:
        privacy_sign_in(c, ctx, PERSON["email"])
        page = " ".join(section(c.get("/privacy/me").text, "acc-h").split())
    assert (
        "We recorded that you agreed to this use of your data: Trainers coach members using"
        " their health and workout data." in page
    )
    assert "We gave consent" not in page and "for us to" not in page
