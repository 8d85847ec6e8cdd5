"""A key that may only open requests (scope ``requests``) learns nothing of the person
from the answer: opening one by e-mail answers alike for a customer and for an address
troth has never seen: no ``subject_id``, no customer it did not name, no regime (where
the person lives) nor the deadlines and day of receipt it sets. Before, a known address
got ``subject_id`` and its regime, an unknown one ``null`` and the default: for a
pharmacy, being a patient is itself health data (trial 11, item 6). The request desk
(``requests:admin``, the office) keeps the whole answer."""

from __future__ import annotations

from typing import Any

import pytest

from _http import api_key, client_for
from troth.engine import Troth

ADA = {"name": "Ada Lovelace", "email": "ada@example.com", "message": "Hello"}
BOB = {"name": "Bob Byte", "email": "bob@example.com", "message": "Hi"}


@pytest.fixture
def people(lite: Any) -> tuple[Troth, str, str, str]:
    """Ada lives where the law is not the default (gdpr); Bob is a customer's person."""
    t = Troth(lite)
    acme = t.access.tenants.create_tenant("Acme", "dpo@acme.example")
    ada = t.collect("support_request", ADA, jurisdiction="gdpr").subject_id
    bob = t.collect("support_request", BOB, tenant_id=acme, jurisdiction="gdpr").subject_id
    return t, acme, ada, bob


def _open(c: Any, key: dict[str, str], **body: Any) -> dict[str, Any]:
    r = c.post("/api/v1/requests", json={"kind": "access", **body}, headers=key)
    assert r.status_code == 201, r.text
    answer = r.json()
    answer.pop("id")  # a new request each time
    return answer


@pytest.mark.parametrize("bound", [False, True])
def test_opening_a_request_tells_a_requests_key_nothing_of_the_person(
    people: tuple[Troth, str, str, str], bound: bool
) -> None:
    t, acme, _ada, _bob = people
    with client_for(t.ctx) as c:
        key = api_key(c, ["requests"], tenant_id=acme if bound else None)
        known = "bob@example.com" if bound else "ada@example.com"
        a = _open(c, key, email=known)
        b = _open(c, key, email="nobody@example.com")
        assert a == b
        assert a["subject_id"] is None and a["regime"] is None and a["due_at"] is None
        assert a["tenant_id"] == (acme if bound else None)
        # The key's own regime, named, is echoed with its deadlines, for both alike.
        a = _open(c, key, email=known, regime="uk_gdpr")
        b = _open(c, key, email="nobody2@example.com", regime="uk_gdpr")
        assert a == b and a["regime"] == "uk_gdpr" and a["due_at"]


def test_an_unbound_requests_key_is_not_told_which_customer_holds_the_person(
    people: tuple[Troth, str, str, str],
) -> None:
    t, acme, _ada, _bob = people
    with client_for(t.ctx) as c:
        key = api_key(c, ["requests"])
        a = _open(c, key, email="bob@example.com", tenant_id=acme)
        b = _open(c, key, email="nobody@example.com", tenant_id=acme)
        assert a == b and a["tenant_id"] == acme and a["subject_id"] is None


def test_the_request_desk_keeps_the_whole_answer(people: tuple[Troth, str, str, str]) -> None:
    t, acme, ada, bob = people
    with client_for(t.ctx) as c:
        desk = api_key(c, ["requests:admin"])
        a = _open(c, desk, email="ada@example.com")
        assert (a["subject_id"], a["regime"]) == (ada, "gdpr") and a["due_at"]
        own = api_key(c, ["requests:admin"], tenant_id=acme)
        b = _open(c, own, email="bob@example.com")
        assert (b["subject_id"], b["regime"], b["tenant_id"]) == (bob, "gdpr", acme)


def test_the_request_a_requests_key_opens_is_still_matched_to_the_person(
    people: tuple[Troth, str, str, str],
) -> None:
    """Only the answer is blind: the desk finds the request under the person, with their
    regime and deadline."""
    t, _acme, ada, _bob = people
    with client_for(t.ctx) as c:
        r = c.post(
            "/api/v1/requests",
            json={"kind": "access", "email": "ada@example.com"},
            headers=api_key(c, ["requests"]),
        )
    req = t.requests.get(r.json()["id"])
    assert (req.subject_id, str(req.regime)) == (ada, "gdpr")
