"""P12: that someone is a customer (a member of a dating app, a patient) is itself their
data. Staff outside the office find a person by an identifier only when their role has a
purpose it may serve for them now: not after they objected to marketing or restricted
the role's purposes, not once they are erased. The refused look-up is the same 404 as an
unknown address (audited); the privacy office, which answers requests, finds everyone."""

from __future__ import annotations

from typing import Any

import pytest

from requests_helpers import buy, verified
from troth.audit.entries import list_entries
from troth.errors import NotFound, Refused
from troth.gate import Actor, ActorKind

MARKETING = Actor(ActorKind.staff, "mo", role="marketing")
SUPPORT = Actor(ActorKind.staff, "sam", role="support")
OFFICE = Actor(ActorKind.staff, "pat", role="privacy_office")
ACCOUNTS = Actor(ActorKind.staff, "ana", role="accounts")


def test_staff_find_only_people_their_role_may_serve_now(home: Any, db_url: str) -> None:
    t = home("mindlink", db_url)
    nia = t.collect(
        "newsletter_signup", {"name": "Nia", "email": "nia@example.com"}, consents=["newsletter"]
    ).subject_id
    ann = buy(t, "ann@example.com")
    find = t.access.records.find_for
    assert find(MARKETING, email="nia@example.com") == nia
    assert find(SUPPORT, email="ann@example.com") == ann
    t.requests.execute(verified(t, "object", "nia@example.com"))
    t.requests.execute(verified(t, "delete", "ann@example.com"))
    for actor, email in ((MARKETING, "nia@example.com"), (SUPPORT, "ann@example.com")):
        with pytest.raises(NotFound) as refused:
            find(actor, email=email)
        with pytest.raises(NotFound) as unknown:
            find(actor, email="nobody@example.com")
        assert refused.value.message == unknown.value.message
    assert find(OFFICE, email="nia@example.com") == nia
    # Erased, Ann is kept for the tax law (sales' legal minimum): accounts, whose role
    # reads that, still opens her record; support, with no such purpose, does not.
    assert t.access.records.person_for(ACCOUNTS, ann).id == ann
    with pytest.raises(Refused):
        t.access.records.person_for(SUPPORT, ann)
    denied = [
        e
        for e in list_entries(t.ctx, subject_id=nia)
        if e.entry.action == "read_lookup" and e.entry.outcome == "deny"
    ]
    assert [e.entry.reason for e in denied] == ["role_not_allowed"]
