"""The privacy centre in plain words: who accessed the data as sentences from the policy
(never staff ids, actor labels or internal action names), records with their fields
together, card numbers masked to the last four digits on the page and in every export,
a confirmation after each action, and purposes described instead of their ids."""

from __future__ import annotations

import io
import json
import re
import zipfile
from typing import Any

import pytest
import sqlalchemy as sa

from _http import PASSWORD, client_for, privacy_sign_in, section
from troth.access import actor_for
from troth.clock import ManualClock
from troth.engine import Troth

ORDER = {
    "name": "Ann Lee",
    "email": "ann@example.com",
    "phone": "+15551234567",
    "address": "1 Main St",
    "zip_code": "10001",
    "card_number": "4111 1111 1111 4242",
    "card_expiry": "12/29",
    "order_items": "2 widgets",
}
CARD_DIGITS = "4111111111114242"
SUPPORT = {"name": "Ada Lovelace", "email": "ada@example.com", "message": "Please help"}


def digits(text: str) -> str:
    return re.sub(r"\D", "", text)


@pytest.fixture
def itechno(home: Any) -> Any:
    return home("itechno", clock=ManualClock(), context=True)


def test_who_accessed_reads_as_sentences_without_ids(lite: Any) -> None:
    t = Troth(lite)
    sid = t.collect("support_request", SUPPORT).subject_id
    support = t.access.accounts.add_user(
        "sue@mindlink.example", kind="staff", role="support", password=PASSWORD
    )
    accounts = t.access.accounts.add_user(
        "al@mindlink.example", kind="staff", role="accounts", password=PASSWORD
    )
    t.use(sid, purpose="support", actor=actor_for(support))
    with pytest.raises(Exception):  # accounts act for sales only: refused (and audited)
        t.use(sid, purpose="support", actor=actor_for(accounts))
    with client_for(lite) as c:
        privacy_sign_in(c, lite, "ada@example.com")
        page = c.get("/privacy/me").text
    accesses = section(page, "acc-h")
    assert (
        "Our support team read your contact, identity and support details for this use of"
        " your data: Provide support and answer feedback; keep a record of communications."
        in accesses
    )
    assert "Our accounts team asked to read" in accesses and "This was refused." in accesses
    assert "We recorded your contact, identity and support details" in accesses
    assert "You signed in to the privacy centre." in accesses
    for internal in (
        "staff:",
        "subject:",
        "system:",
        "mail.queued",
        "privacy.view",
        support.id,
        sid,
        "account_management",
        "role_not_allowed",
    ):
        assert internal not in accesses, internal
    assert "systems,." not in page and "from all our systems." in page


def test_records_keep_their_fields_together_and_cards_are_masked(itechno: Any) -> None:
    t = Troth(itechno)
    sid = t.collect("order_form", ORDER).subject_id
    itechno.clock.advance(days=1)
    t.collect("order_form", {**ORDER, "order_items": "1 gadget", "card_number": "5500005555555559"})
    with client_for(itechno) as c:
        csrf = privacy_sign_in(c, itechno, "ann@example.com")
        page = c.get("/privacy/me").text
        held = section(page, "held-h")
        records = held.split('<article class="record">')[1:]
        assert len(records) == 2  # one per order, not one row per field
        newest, oldest = records
        assert "1 gadget" in newest and "2 widgets" in oldest
        for r in records:
            assert "The order form" in r and "Bill customers for their orders" in r
            assert "1 Main St" in r and "12/29" in r
        assert "•••• 4242" in oldest and "•••• 5559" in newest
        assert CARD_DIGITS not in digits(page) and "5500005555555559" not in digits(page)
        # The JSON export and the ZIP export mask it too.
        exported = c.get("/privacy/me/export.json").text
        cards = [v["value"] for v in json.loads(exported)["values"] if v["field"] == "card_number"]
        assert sorted(cards) == ["•••• 4242", "•••• 5559"]
        assert CARD_DIGITS not in digits(exported)
        r = c.post("/privacy/me/export", data={"csrf_token": csrf})
        assert r.status_code == 200 and r.content[:2] == b"PK"
        with zipfile.ZipFile(io.BytesIO(r.content)) as z:
            for name in z.namelist():
                text = z.read(name).decode("utf-8", "replace")
                assert CARD_DIGITS not in digits(text), name
                assert "5500005555555559" not in digits(text), name
            assert "4242" in z.read("data.json").decode()
    # The stored value is untouched: the accounts role, which may, still reads it whole.
    accounts = t.access.accounts.add_user(
        "acc@itechno.example", kind="staff", role="accounts", password=PASSWORD
    )
    values = t.use(sid, purpose="billing", actor=actor_for(accounts))
    assert "5500005555555559" in str(values)


def test_every_action_is_confirmed(lite: Any) -> None:
    t = Troth(lite)
    t.collect("support_request", SUPPORT)
    with client_for(lite) as c:
        csrf = privacy_sign_in(c, lite, "ada@example.com")
        r = c.post(
            "/privacy/me/consents",
            data={"purpose": "newsletter", "action": "grant", "csrf_token": csrf},
            follow_redirects=False,
        )
        assert r.status_code == 303
        assert r.headers["location"] == "/privacy/me?done=consent-given#consents"
        page = c.get(r.headers["location"]).text
        assert 'role="status"' in page and "your consent is recorded" in page
        assert "You agreed." in section(page, "consents-h")
        r = c.post(
            "/privacy/me/consents",
            data={"purpose": "newsletter", "action": "withdraw", "csrf_token": csrf},
        )
        assert "Your consent is withdrawn" in r.text
        told = " ".join(section(r.text, "acc-h").split())
        assert (
            "You gave consent to this use of your data: Send the email newsletter and blog posts."
            in told
        )
        assert (
            "You withdrew consent to this use of your data: Send the email newsletter and blog"
            " posts." in told
        )
        r = c.post(
            "/privacy/me/requests",
            data={"kind": "correct", "details": "My name is Ada King", "csrf_token": csrf},
        )
        assert "Your request is sent" in r.text and "We received your request." in r.text
        # An unknown "done" says nothing (and echoes nothing).
        page = c.get("/privacy/me?done=<script>").text
        assert (
            'id="done"' not in page
            and "<script>"
            not in page.split("<main", 1)[1].split('<script src="/static/privacy.js">')[0]
        )


def test_public_page_describes_purposes_instead_of_ids(home: Any) -> None:
    ctx = home("phone-service", clock=ManualClock(), context=True)
    with client_for(ctx) as c:
        page = c.get("/privacy").text
    ctx.engine.dispose()
    subs = section(page, "sub-h")
    body = subs.split("<tbody>")[1]
    assert "provide_service" not in body and "call_records" not in body, body
    assert "details, for this use of your data: Run customer accounts, users and invitations" in (
        body
    )


def test_two_collections_in_the_same_instant_are_two_records(lite: Any) -> None:
    """A batch stored at one moment (a manual clock, a bulk import) still reads as one
    record per collection, each with its own fields."""
    from troth.store.values import read_values
    from troth.web.privacy_words import records

    t = Troth(lite)
    sid = t.collect("support_request", SUPPORT).subject_id
    again = t.collect("support_request", {**SUPPORT, "message": "Still broken"}).subject_id
    assert again == sid
    with lite.engine.connect() as conn:
        found = records(lite.policy, read_values(conn, lite, sid))
    assert len(found) == 2
    messages = sorted(
        f.value for r in found for f in r.fields if f.value in ("Please help", "Still broken")
    )
    assert messages == ["Please help", "Still broken"]
    for r in found:
        assert len({f.label for f in r.fields}) == len(r.fields)  # no field twice
        assert r.title == "A support request, feedback, call or live chat"


def test_unsubscribe_from_the_centre_withdraws_that_list_only(lite: Any) -> None:
    """POST /privacy/me/unsubscribe (consent.unsubscribe_subject): the list's purpose is
    withdrawn for the signed-in person, like the one-click link; an unknown list is a 404
    that changes nothing, and a form without the person's CSRF token is refused."""
    t = Troth(lite)
    sid = t.collect("support_request", SUPPORT).subject_id
    t.consent.grant(sid, "newsletter")
    with client_for(lite) as c:
        csrf = privacy_sign_in(c, lite, "ada@example.com")
        before = t.consent.state(sid)
        for data in (
            {"list_id": "no_such_list", "csrf_token": csrf},
            {"list_id": "../newsletter", "csrf_token": csrf},
            {"list_id": "newsletter"},
            {"list_id": "newsletter", "csrf_token": "forged"},
        ):
            r = c.post("/privacy/me/unsubscribe", data=data, follow_redirects=False)
            assert r.status_code in (400, 403, 404), (data, r.status_code)
            assert t.consent.state(sid) == before
        r = c.post("/privacy/me/unsubscribe", data={"list_id": "no_such_list", "csrf_token": csrf})
        assert r.status_code == 404 and "no_such_list" in r.text
        r = c.post(
            "/privacy/me/unsubscribe",
            data={"list_id": "newsletter", "csrf_token": csrf},
            follow_redirects=False,
        )
        assert r.status_code == 303
        assert r.headers["location"] == "/privacy/me?done=unsubscribed#lists"
        state = t.consent.state(sid)
        assert state["newsletter"].granted is False
        assert state["newsletter"].kind.value == "unsubscribe"
        # Again: still withdrawn, and not withdrawn a second time (one event, not two).
        r = c.post("/privacy/me/unsubscribe", data={"list_id": "newsletter", "csrf_token": csrf})
        assert "You are unsubscribed" in r.text
        assert t.consent.state(sid)["newsletter"].granted is False
        assert len(_unsubscribes(lite, sid)) == 1
        # Subscribed again, then off again: that is a new withdrawal.
        t.consent.grant(sid, "newsletter")
        r = c.post("/privacy/me/unsubscribe", data={"list_id": "newsletter", "csrf_token": csrf})
        assert t.consent.state(sid)["newsletter"].granted is False
        assert len(_unsubscribes(lite, sid)) == 2


def _unsubscribes(ctx: Any, sid: str) -> list[Any]:
    from troth.consent.tables import consent_events

    e = consent_events.c
    with ctx.engine.connect() as conn:
        return conn.execute(
            sa.select(e.id).where(
                e.subject_id == sid, e.purpose == "newsletter", e.kind == "unsubscribe"
            )
        ).all()
