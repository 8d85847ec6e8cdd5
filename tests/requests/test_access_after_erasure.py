"""An erased person of whom the law keeps something (an invoice for the tax law) still
finds it with an access request from their own address (GDPR Art. 15 covers what is kept):
their identities (blind indexes, never the values) stay beside the kept values and go with
the last of them. Trial #14: the buyer was answered "nothing held"."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta
from typing import Any

import pytest

from requests_helpers import verified
from troth.engine import Troth
from troth.gate import SYSTEM
from troth.store.tables import identities

ORDER = {
    "name": "Emma de Vries",
    "email": "emma@example.nl",
    "address": "Prinsengracht 1, Amsterdam",
    "card_number": "4111111111111111",
    "card_expiry": "12/29",
    "order_items": "1 x Licence",
}
NEWS = {"name": "Noor", "email": "noor@example.nl"}


@pytest.fixture
def t(home: Any, db_url: str) -> Troth:
    return home("itechno", db_url)


def _export(t: Troth, email: str) -> dict[str, Any]:
    done = t.requests.execute(verified(t, "access", email))
    zf = zipfile.ZipFile(io.BytesIO(t.requests.download(done.download_token, actor=SYSTEM)))
    return json.loads(zf.read("data.json"))  # type: ignore[no-any-return]


def _identities_of(t: Troth, sid: str) -> int:
    with t.ctx.engine.connect() as conn:
        rows = conn.execute(identities.select().where(identities.c.subject_id == sid)).all()
    return len(rows)


def test_an_erased_person_finds_what_the_law_keeps_from_their_own_address(t: Troth) -> None:
    sid = t.collect("order_form", ORDER).subject_id
    t.requests.execute(verified(t, "close_account", ORDER["email"]))
    doc = _export(t, ORDER["email"])
    assert doc["subject"]["id"] == sid and doc["subject"]["status"] == "erased"
    fields = {v["field"] for c in doc["categories"].values() for v in c["values"]}
    assert fields == {"name", "address", "order_items"}  # the invoice; no e-mail, no card
    values = json.dumps(doc["categories"])
    assert "4111111111111111" not in values and ORDER["email"] not in values


def test_one_of_whom_nothing_is_kept_is_found_by_nobody(t: Troth) -> None:
    sid = t.collect("newsletter_signup", NEWS, consents=["product_news"]).subject_id
    t.requests.execute(verified(t, "delete", NEWS["email"]))
    assert _identities_of(t, sid) == 0
    req = t.requests.open("access", email=NEWS["email"])
    assert req.subject_id is None


def test_identities_go_with_the_last_kept_value(t: Troth) -> None:
    sid = t.collect("order_form", ORDER).subject_id
    t.requests.execute(verified(t, "close_account", ORDER["email"]))
    assert _identities_of(t, sid) > 0
    t.ctx.clock.advance(timedelta(days=7 * 366))
    t.retention.run()
    assert _identities_of(t, sid) == 0
    assert t.requests.open("access", email=ORDER["email"]).subject_id is None


def test_a_new_sign_up_after_erasure_is_a_new_person_and_found_first(t: Troth) -> None:
    old = t.collect("order_form", ORDER).subject_id
    t.requests.execute(verified(t, "close_account", ORDER["email"]))
    again = {"name": "Emma", "email": ORDER["email"]}
    new = t.collect("newsletter_signup", again, consents=["product_news"]).subject_id
    assert new != old
    assert t.requests.open("access", email=ORDER["email"]).subject_id == new
    # Only access and portability reach the erased person: a deletion finds the living one.
    assert t.requests.open("delete", email=ORDER["email"]).subject_id == new


def test_other_requests_do_not_reach_the_erased_person(t: Troth) -> None:
    t.collect("order_form", ORDER)
    t.requests.execute(verified(t, "close_account", ORDER["email"]))
    assert t.requests.open("delete", email=ORDER["email"]).subject_id is None
    assert t.requests.open("portability", email=ORDER["email"]).subject_id is not None
