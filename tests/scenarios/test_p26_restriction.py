"""P26 (mindlink): "limit our use" stops processing for the chosen purposes without
deleting anything; other purposes go on; lifting it restores them. Objecting to marketing
withdraws those consents and suppresses the mail."""

from __future__ import annotations

from typing import Any

import pytest

from requests_helpers import buy, verified
from troth.engine import Troth
from troth.errors import Refused, ValidationError
from troth.gate import Actor, ActorKind
from troth.notices.outbox import submit
from troth.store.values import read_values

SUPPORT = Actor(ActorKind.staff, "sam", role="support")
ANN = "ann@example.com"


@pytest.fixture
def t(home: Any, db_url: str) -> Troth:
    return home("mindlink", db_url)


def test_p26_restricted_purpose_refused_others_fine_then_lifted(t: Troth) -> None:
    sid = buy(t, ANN)
    with t.ctx.engine.connect() as conn:
        before = read_values(conn, t.ctx, sid)
    rid = verified(t, "restrict", ANN, details={"purposes": ["support"]})
    done = t.requests.execute(rid)
    assert done.result is not None and done.result["systems"][0]["new"] == ["support"]
    with pytest.raises(Refused) as info:
        t.use(sid, purpose="support", actor=SUPPORT)
    assert info.value.reason == "restricted"
    assert t.use(sid, purpose="account_management", actor=SUPPORT).get("product")
    with t.ctx.engine.connect() as conn:
        assert read_values(conn, t.ctx, sid) == before  # nothing deleted
    assert t.requests.lift_restriction(rid) == ["support"]
    assert t.use(sid, purpose="support", actor=SUPPORT).get("message") == "My licence key fails"


def test_p26_purposes_must_be_named_and_known(t: Troth) -> None:
    buy(t, ANN)
    rid = verified(t, "restrict", ANN)
    with pytest.raises(ValidationError, match="name the purposes"):
        t.requests.execute(rid)
    with pytest.raises(ValidationError, match="unknown purpose 'spam'"):
        t.requests.set_details(rid, purposes=["spam"])
    t.requests.set_details(rid, purposes=["enquiries"])
    assert t.requests.execute(rid).result["systems"][0]["restricted"] == ["enquiries"]  # type: ignore[index]


def test_p26_objection_to_marketing_withdraws_and_suppresses(t: Troth) -> None:
    sid = t.collect(
        "newsletter_signup",
        {"name": "Nia", "email": "nia@example.com"},
        consents=["newsletter"],
    ).subject_id
    submit(
        t.ctx,
        idempotency_key="issue-1",
        to_addr="nia@example.com",
        subject="Issue 1",
        body_text="news",
        list_id=t.policy.current.lists[0].id,
        subject_id=sid,
    )
    rid = verified(t, "object", "nia@example.com")
    done = t.requests.execute(rid)
    part = done.result["systems"][0]  # type: ignore[index]
    assert "newsletter" in part["withdrawn"] and "prospecting" in part["restricted"]
    assert (
        "newsletter" not in t.consent.state(sid) or not t.consent.state(sid)["newsletter"].granted
    )
    with pytest.raises(Refused) as info:
        submit(
            t.ctx,
            idempotency_key="issue-2",
            to_addr="nia@example.com",
            subject="Issue 2",
            body_text="news",
            list_id=t.policy.current.lists[0].id,
            subject_id=sid,
        )
    assert info.value.reason == "no_consent"
    from troth.notices.delivery import deliver_due
    from troth.notices.outbox import list_outbox

    deliver_due(t.ctx)
    issue1 = next(m for m in list_outbox(t.ctx) if m["subject"] == "Issue 1")
    assert issue1["status"] == "suppressed"


def test_p26_bad_purposes_are_refused_when_the_request_is_opened(t: Troth) -> None:
    """An unknown purpose, or one resting on a legal obligation (a person cannot limit a
    warrant or a tax inspection: GDPR Art. 18(2)), is 422 when the request is opened: no
    request, no letter to the person."""
    from sqlalchemy import func, select

    from troth.notices.outbox import outbox
    from troth.requests.tables import requests

    buy(t, ANN)
    for purposes, code in (
        (["spam"], "unknown_purpose"),
        (["support", "legal_compliance"], "legal_obligation_purpose"),
        ("support", "invalid_input"),
    ):
        with pytest.raises(ValidationError) as info:
            t.requests.open("restrict", email=ANN, details={"purposes": purposes})
        assert info.value.code == code
    with pytest.raises(ValidationError, match="legal obligation"):
        t.requests.open("object", email=ANN, details={"purposes": ["legal_compliance"]})
    with t.ctx.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(requests)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(outbox)).scalar_one() == 0
    rid = verified(t, "restrict", ANN)
    with pytest.raises(ValidationError, match="legal obligation"):
        t.requests.set_details(rid, purposes=["legal_compliance"])


def test_p26_a_restriction_never_stops_what_the_law_obliges(t: Troth) -> None:
    """A restriction a person made on every purpose, the legal obligation among them (as
    an older troth stored it): a warrant's disclosure still goes; every other purpose
    stays refused."""
    from datetime import timedelta

    from troth.audit.log import transaction
    from troth.requests.execution import restrict_in_store

    office = Actor(ActorKind.staff, "pat", role="privacy_office")
    sid = buy(t, ANN)
    with transaction(t.ctx) as conn:
        restrict_in_store(
            conn, t.ctx, sid, ["support", "legal_compliance"], "req-old", t.ctx.clock.now()
        )
    with pytest.raises(Refused) as info:
        t.use(sid, purpose="support", actor=SUPPORT)
    assert info.value.reason == "restricted"
    demand = t.disclosures.record_demand(
        authority="Crown Court",
        instrument="warrant",
        reference="W-1",
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
        gag_until=t.ctx.clock.now() + timedelta(days=30),
    )
    pkg = t.disclosures.disclose(
        sid, "law_enforcement", "legal_compliance", office, legal_demand_id=demand.id
    )
    assert pkg.values
