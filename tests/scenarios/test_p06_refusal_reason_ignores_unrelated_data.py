"""P06/P07: the reason a use is refused for, and its message, explain why the data the
purpose could reach was refused; what else the person holds (a card on file, for another
purpose) changes neither. The same reason goes into the error, the HTTP problem and the
audit entry. Found by a new user: a person who withdrew consent to the newsletter and also
had a card on file was refused with ``purpose_not_declared_for_category``, the message
saying the newsletter may not use categories the policy does give it."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from troth.app import create_app
from troth.audit.entries import list_entries
from troth.engine import Troth
from troth.errors import NotFound, Refused
from troth.gate import Actor, ActorKind

READER = Actor(ActorKind.application, "reader", scopes=frozenset({"use"}))
# A key for billing alone: it lacks the scope for the newsletter.
BILLING_KEY = Actor(ActorKind.application, "billing", scopes=frozenset({"use:sales"}))
CARD = {"card_number": "4111111111111111", "card_expiry": "12/29", "billing_postcode": "LS1"}
TRACKING = {"browser": "Firefox", "auth_id": "a-1"}


def _with_card_on_file(p: dict[str, Any]) -> None:
    """Mindlink taking a card for its sales, through a point of its own."""
    sales = next(x for x in p["purposes"] if x["id"] == "sales")
    sales["categories"].append("payment_card")
    p["collection_points"].append(
        {
            "id": "card_on_file",
            "description": "A payment card kept for renewals.",
            "subjects": ["customer"],
            "fields": {
                "card_number": {"category": "payment_card", "required": True, "mask": "last4"},
                "card_expiry": {"category": "payment_card", "required": True},
                "billing_postcode": {"category": "billing"},
            },
            "purposes": ["sales"],
        }
    )


@pytest.fixture
def t(home: Any, db_url: str) -> Troth:
    return home("mindlink", db_url, edit=_with_card_on_file)  # type: ignore[no-any-return]


def _reader(t: Troth, email: str, *, card: bool) -> str:
    sid = t.collect(
        "newsletter_signup", {"name": "Ann", "email": email}, consents=["newsletter"]
    ).subject_id
    if card:
        t.collect("card_on_file", CARD, subject_id=sid)
    return sid


def _refused(t: Troth, sid: str, purpose: str, actor: Actor) -> tuple[str, str, str | None]:
    """The refusal of a use: its reason, its message and the reason of its audit entry."""
    with pytest.raises(Refused) as exc:
        t.use(sid, purpose=purpose, actor=actor)
    entries = list_entries(t.ctx, subject_id=sid, action="use", outcome="deny", limit=1000)
    assert entries, "the refusal is audited"
    return exc.value.reason, str(exc.value), entries[-1].entry.reason


def test_withdrawn_consent_is_no_consent_with_a_card_on_file_or_not(t: Troth) -> None:
    ann = _reader(t, "ann@example.com", card=False)
    bo = _reader(t, "bo@example.com", card=True)
    for sid in (ann, bo):
        t.consent.withdraw(sid, "newsletter")
    want = "purpose 'newsletter' needs the person's consent, and there is none"
    for sid in (ann, bo):
        assert _refused(t, sid, "newsletter", READER) == ("no_consent", want, "no_consent")
    # Over HTTP, the problem document says the same.
    key, _ = t.access.keys.create_api_key("reader", ["use"])
    with TestClient(create_app(t.ctx), raise_server_exceptions=False) as c:
        for sid in (ann, bo):
            r = c.get(
                f"/api/v1/subjects/{sid}?purpose=newsletter",
                headers={"Authorization": f"Bearer {key}"},
            )
            assert r.status_code == 403, r.text
            assert (r.json()["reason"], r.json()["detail"]) == ("no_consent", want)
            assert "payment_card" not in r.text and "billing" not in r.text
    entries = list_entries(t.ctx, subject_id=bo, action="use", outcome="deny", limit=1000)
    assert [e.entry.reason for e in entries] == ["no_consent", "no_consent"]


def test_a_key_without_the_scope_is_scope_missing_with_a_card_on_file_or_not(t: Troth) -> None:
    ann = _reader(t, "ann@example.com", card=False)
    bo = _reader(t, "bo@example.com", card=True)
    # The key may see none of the newsletter's categories: the refusal names them all, as
    # the policy declares them, whatever the person holds (troth.gate.masks).
    want = (
        "the API key's scopes do not cover contact, identity, location, organisation"
        " for 'newsletter'"
    )
    for sid in (ann, bo):
        assert _refused(t, sid, "newsletter", BILLING_KEY) == (
            "scope_missing",
            want,
            "scope_missing",
        )
    # The card itself serves its own purpose to that key: the scope was the only obstacle.
    view = t.use(bo, purpose="sales", actor=BILLING_KEY)
    assert view.get("card_number")


def test_a_person_holding_none_of_the_purposes_data_is_nothing_held(t: Troth) -> None:
    """Trial 19, F10: the purpose declares its categories, the person holds none of them;
    the policy is not at fault, so the reason is ``nothing_held`` (it was
    ``purpose_not_declared_for_category``, which sent an operator to fix the policy)."""
    cy = t.collect("website_tracking", TRACKING).subject_id
    dee = t.collect("website_tracking", TRACKING).subject_id
    t.collect("card_on_file", CARD, subject_id=dee)
    why = "nothing_held"
    # The same refusal for both: it names none of what either holds (a purpose that may
    # never use a category does not learn that the person holds it: troth.gate.masks),
    # only the purpose's own categories, the same list for everyone.
    cats = ", ".join(sorted(t.ctx.policy.purpose_categories["recruitment"]))
    msg = f"this person holds nothing 'recruitment' may use ({cats}): nothing_held"
    for sid in (cy, dee):
        assert _refused(t, sid, "recruitment", READER) == (why, msg, why)
    assert "payment_card" not in msg and "technical" not in msg


def test_values_collected_for_another_purpose_are_not_of_collection_card_or_not(
    t: Troth,
) -> None:
    """The gate lets the newsletter reach a customer's name and e-mail (consented), but
    they were collected for sales: the refusal names that, not the card stored first."""
    fay = t.collect("purchase", {"name": "Fay", "email": "fay@example.com", "address": "x",
                                 "product": "P"}).subject_id  # fmt: skip
    eve = t.collect("card_on_file", CARD).subject_id
    t.collect(
        "purchase",
        {"name": "Eve", "email": "eve@example.com", "address": "y", "product": "P"},
        subject_id=eve,
    )
    for sid in (fay, eve):
        t.consent.grant(sid, "newsletter", notice_text=t.consent.notice_for("newsletter"))
    want = "none of this person's data may serve 'newsletter': purpose_not_of_collection"
    for sid in (fay, eve):
        assert _refused(t, sid, "newsletter", READER) == (
            "purpose_not_of_collection",
            want,
            "purpose_not_of_collection",
        )


def test_the_neighbours_keep_their_reasons(t: Troth) -> None:
    bo = _reader(t, "bo@example.com", card=True)
    t.consent.withdraw(bo, "newsletter")
    # A purpose the policy does not declare at all, an unknown and a malformed id.
    assert _refused(t, bo, "resale", READER)[0] == "purpose_not_declared"
    for sid in ("0" * 32, "not an id"):
        with pytest.raises(NotFound):
            t.use(sid, purpose="newsletter", actor=READER)
    # Asked for the card alone, the newsletter may not use it: that is the reason.
    with pytest.raises(Refused) as exc:
        t.use(bo, purpose="newsletter", actor=READER, categories=["payment_card"])
    assert exc.value.reason == "purpose_not_declared_for_category"
    assert str(exc.value) == "the policy does not allow purpose 'newsletter' to use payment_card"
    # Asked for the card and the e-mail, the e-mail's reason tells.
    with pytest.raises(Refused) as exc:
        t.use(bo, purpose="newsletter", actor=READER, categories=["payment_card", "contact"])
    assert exc.value.reason == "no_consent"
