"""P07, P25, P28 (mindlink): after erasure (or a closed account) nothing new is recorded in
the consent ledger for the person, whichever way it arrives: a grant, a withdrawal, a GPC
signal (Python and ``POST /subjects/{id}/gpc``), cookie choices, an unsubscribe (one-click
or the privacy centre's), an import. Each is refused ``subject_erased`` and audited
(``consent.refused``), and writes nothing; the twin who was not erased is untouched. The
check is one function (``troth.consent.append.erased_refusal``); the erasure's own events
are the only ones written after it. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from _http import api_key, client_for, is_problem
from requests_helpers import verified
from troth.audit.entries import list_entries
from troth.audit.log import transaction
from troth.consent.events import ImportedEvent
from troth.consent.tables import consent_events, unsubscribe_tokens
from troth.consent.unsubscribe import issue_token, unsubscribe, unsubscribe_subject
from troth.engine import Troth
from troth.errors import Refused


def customer(t: Troth, addr: str, name: str) -> str:
    """A customer who bought and signed up for the newsletter (consent given)."""
    sid = t.collect(
        "purchase",
        {
            "name": name,
            "email": addr,
            "address": "1 High Street, Leeds",
            "product": "Mindlink Pro",
            "renewal_date": "2027-01-01",
        },
    ).subject_id
    t.collect(
        "newsletter_signup",
        {"name": name, "email": addr, "city": "Leeds"},
        consents=["newsletter"],
        jurisdiction="uk_gdpr",
    )
    return str(sid)


def events_of(t: Troth, sid: str) -> int:
    with t.ctx.engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(consent_events)
                .where(consent_events.c.subject_id == sid)
            ).scalar_one()
        )


def refusals_of(t: Troth, sid: str) -> list[Any]:
    return [
        e.entry
        for e in list_entries(t.ctx, subject_id=sid, limit=10_000)
        if e.entry.action == "consent.refused"
    ]


@pytest.fixture(params=["close_account", "delete"])
def erased(request: pytest.FixtureRequest, home: Any, db_url: str) -> tuple[Troth, str, str]:
    """(troth, Carla erased or closed, Dan her twin never erased)."""
    t = home("mindlink", db_url)
    carla = customer(t, "carla@example.com", "Carla")
    dan = customer(t, "dan@example.com", "Dan")
    t.requests.execute(verified(t, request.param, "carla@example.com"))
    return t, carla, dan


def test_gpc_for_an_erased_person_is_refused_and_audited(erased: Any) -> None:
    t, carla, dan = erased
    before = events_of(t, carla)
    with pytest.raises(Refused) as exc:
        t.consent.record_gpc(carla, signal="1")
    assert exc.value.reason == "subject_erased"
    assert events_of(t, carla) == before
    [entry] = refusals_of(t, carla)
    assert (entry.outcome.value, entry.reason) == ("deny", "subject_erased")
    # No signal is no signal: nothing recorded, nothing refused.
    assert t.consent.record_gpc(carla, signal="0") == []
    assert len(refusals_of(t, carla)) == 1
    # The twin opts out as before.
    assert {r.purpose for r in t.consent.record_gpc(dan, signal="1")} >= {"personalisation"}


def test_gpc_over_http_for_an_erased_person_is_403(erased: Any) -> None:
    t, carla, dan = erased
    before = events_of(t, carla)
    with client_for(t.ctx) as c:
        h = api_key(c, ["collect", "use", "admin"])
        body = is_problem(
            c.post(f"/api/v1/subjects/{carla}/gpc", headers=h | {"Sec-GPC": "1"}),
            403,
            "refused",
        )
        assert body["reason"] == "subject_erased"
        r = c.post(f"/api/v1/subjects/{carla}/gpc", headers=h)
        assert r.status_code == 200 and r.json() == []
        r = c.post(f"/api/v1/subjects/{dan}/gpc", headers=h | {"Sec-GPC": "1"})
        assert r.status_code == 200 and r.json()
        body = is_problem(
            c.post(f"/api/v1/subjects/{carla}/consents/newsletter/withdraw", headers=h), 403
        )
        assert body["reason"] == "subject_erased"
    assert events_of(t, carla) == before
    assert [e.reason for e in refusals_of(t, carla)] == ["subject_erased"] * 2


def test_withdraw_grant_and_cookie_choices_are_refused(erased: Any) -> None:
    t, carla, dan = erased
    before = events_of(t, carla)
    calls = (
        lambda: t.consent.withdraw(carla, "newsletter"),
        lambda: t.consent.withdraw(carla, "personalisation", actor="staff:ada"),
        lambda: t.consent.grant(carla, "newsletter", notice_text="News"),
        lambda: t.consent.record_cookie_choices(carla, {"analytics": False}),
    )
    for call in calls:
        with pytest.raises(Refused) as exc:
            call()
        assert exc.value.reason == "subject_erased"
    assert events_of(t, carla) == before
    entries = refusals_of(t, carla)
    assert len(entries) == len(calls)
    assert {e.actor for e in entries} == {f"subject:{carla}", "staff:ada"}
    t.consent.withdraw(dan, "newsletter")
    assert t.consent.record_cookie_choices(dan, {"analytics": False})


def test_unsubscribes_are_refused(erased: Any) -> None:
    t, carla, dan = erased
    before = events_of(t, carla)
    # The privacy centre's unsubscribe from a list she never joined: no token is made.
    with pytest.raises(Refused) as exc:
        unsubscribe_subject(t.ctx, carla, "service_updates", "web_form")
    assert exc.value.reason == "subject_erased"
    # A one-click link that escaped the erasure (minted in the same instant, say).
    with transaction(t.ctx) as conn:
        token = issue_token(conn, t.ctx, carla, "service_updates")
    with pytest.raises(Refused) as exc:
        unsubscribe(t.ctx, token)
    assert exc.value.reason == "subject_erased"
    with t.ctx.engine.connect() as conn:
        live = conn.execute(
            sa.select(unsubscribe_tokens.c.used_at).where(
                unsubscribe_tokens.c.subject_id == carla,
                unsubscribe_tokens.c.list_id == "service_updates",
            )
        ).all()
    assert live == [(None,)]  # the refused click claimed nothing
    assert events_of(t, carla) == before
    assert len(refusals_of(t, carla)) == 2
    assert not unsubscribe_subject(t.ctx, dan, "service_updates", "web_form").already_done


def test_an_import_naming_an_erased_person_stores_nothing(erased: Any) -> None:
    t, carla, dan = erased
    at = datetime(2025, 1, 1, tzinfo=UTC)
    events = [
        ImportedEvent(dan, "service_updates", True, at),
        ImportedEvent(carla, "service_updates", True, at),
    ]
    before = (events_of(t, carla), events_of(t, dan))
    with pytest.raises(Refused) as exc:
        t.consent.bulk_import(events)
    assert exc.value.reason == "subject_erased" and carla in exc.value.message
    assert (events_of(t, carla), events_of(t, dan)) == before
    assert len(refusals_of(t, carla)) == 1
    assert t.consent.check_state() == []
    assert t.consent.bulk_import(events[:1]) == 1


def test_collecting_with_consent_for_an_erased_person_records_none(erased: Any) -> None:
    t, carla, _dan = erased
    before = events_of(t, carla)
    with pytest.raises(Refused) as exc:
        t.collect(
            "newsletter_signup",
            {"name": "Carla", "email": "carla@example.com", "city": "Leeds"},
            subject_id=carla,
            consents=["newsletter"],
        )
    assert exc.value.reason == "subject_erased"
    assert events_of(t, carla) == before
