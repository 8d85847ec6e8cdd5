"""P28, P25, P07 (mindlink): after a person is erased (deletion or account closure) nothing
more is collected for them by their subject id, through any door: ``collect``,
``collect_many`` (the whole batch), HTTP. The collection is refused ``subject_erased``,
audited, and stores nothing: no value, no consent event. A stranger is refused for who they
are before anything says the person was erased. The twins: a person who was not erased is
collected as before, and the same e-mail signing up again (no subject id) is a new person.
On SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from _http import api_key, client_for, is_problem
from requests_helpers import verified
from troth.audit.entries import list_entries
from troth.collection.importing import import_file
from troth.consent.state import active_purposes
from troth.consent.tables import consent_events
from troth.engine import Troth
from troth.errors import Refused
from troth.gate import SYSTEM, Actor, ActorKind
from troth.store.tables import records, subjects

SIGNUP = {"name": "Carla", "email": "carla@example.com", "city": "Leeds"}
QUESTION = {"name": "Carla", "email": "carla@example.com", "message": "Are you there?"}


def customer(t: Troth, addr: str, name: str) -> str:
    """A customer who bought (the invoice is kept by law after erasure)."""
    return str(
        t.collect(
            "purchase",
            {
                "name": name,
                "email": addr,
                "address": "1 High Street, Leeds",
                "product": "Mindlink Pro",
            },
        ).subject_id
    )


def held(t: Troth, sid: str) -> tuple[int, int]:
    """(values held, consent events) for the person."""
    with t.ctx.engine.connect() as conn:
        values = conn.execute(
            sa.select(sa.func.count()).select_from(records).where(records.c.subject_id == sid)
        ).scalar_one()
        events = conn.execute(
            sa.select(sa.func.count())
            .select_from(consent_events)
            .where(consent_events.c.subject_id == sid)
        ).scalar_one()
    return int(values), int(events)


def active(t: Troth, sid: str) -> frozenset[str]:
    with t.ctx.engine.connect() as conn:
        return active_purposes(conn, sid)


def refusals(t: Troth, sid: str) -> list[Any]:
    return [
        e.entry
        for e in list_entries(t.ctx, subject_id=sid, limit=10_000)
        if e.entry.action == "collect" and e.entry.outcome == "deny"
    ]


@pytest.fixture(params=["delete", "close_account"])
def erased(request: pytest.FixtureRequest, home: Any, db_url: str) -> tuple[Troth, str, str]:
    """A mindlink home with Carla erased (by deletion or by closing her account) and Dan,
    her twin, never erased; returns (troth, carla, dan)."""
    t = home("mindlink", db_url)
    carla = customer(t, "carla@example.com", "Carla")
    dan = customer(t, "dan@example.com", "Dan")
    t.requests.execute(verified(t, request.param, "carla@example.com"))
    return t, carla, dan


def test_collect_by_the_id_of_an_erased_person_is_refused_and_stores_nothing(
    erased: tuple[Troth, str, str],
) -> None:
    t, carla, dan = erased
    before = held(t, carla)
    # A consent purpose with the consent given on the form, and a point needing none.
    attempts: list[tuple[str, dict[str, Any], list[str]]] = [
        ("newsletter_signup", SIGNUP, ["newsletter"]),
        ("support_request", QUESTION, []),
    ]
    for point, data, consents in attempts:
        with pytest.raises(Refused) as info:
            t.collect(point, data, subject_id=carla, consents=consents)
        assert info.value.reason == "subject_erased"
        assert "erased" in info.value.message
    assert held(t, carla) == before
    assert "newsletter" not in active(t, carla)
    entries = refusals(t, carla)
    assert [e.reason for e in entries] == ["subject_erased"] * 2
    assert all(e.details["point"] for e in entries)
    # The twin, never erased, is collected for as before.
    r = t.collect(
        "newsletter_signup",
        SIGNUP | {"email": "dan@example.com"},
        subject_id=dan,
        consents=["newsletter"],
    )
    assert r.subject_id == dan and r.stored > 0
    assert "newsletter" in active(t, dan)


def test_a_batch_naming_an_erased_person_is_refused_whole(
    erased: tuple[Troth, str, str],
) -> None:
    t, carla, dan = erased
    before = held(t, carla), held(t, dan)
    with pytest.raises(Refused) as info:
        t.collect_many(
            "newsletter_signup",
            [SIGNUP | {"email": "dan@example.com"}, SIGNUP],
            subject_ids=[dan, carla],
            consents=["newsletter"],
        )
    assert info.value.reason == "subject_erased"
    # All or nothing: Dan's row and consent were not stored either.
    assert (held(t, carla), held(t, dan)) == before
    assert [e.reason for e in refusals(t, carla)] == ["subject_erased"]


def test_a_stranger_is_refused_for_who_they_are_not_told_of_the_erasure(
    erased: tuple[Troth, str, str],
) -> None:
    t, carla, _ = erased
    someone = Actor(ActorKind.subject, "someone-else")
    with pytest.raises(Refused) as info:
        t.collect("support_request", QUESTION, subject_id=carla, actor=someone)
    assert info.value.reason == "not_a_member"
    assert "erased" not in info.value.message


def test_signing_up_again_without_the_old_id_makes_a_new_person(
    erased: tuple[Troth, str, str], tmp_path: Path
) -> None:
    """By identity (collect, import) the erased person is never found again: the data
    starts a new record, and nothing is added to the erased one."""
    t, carla, _ = erased
    before = held(t, carla)
    again = t.collect("newsletter_signup", SIGNUP, consents=["newsletter"]).subject_id
    assert again != carla
    rows = tmp_path / "signups.jsonl"
    rows.write_text('{"name": "Carla", "email": "carla@example.com"}\n')
    state = import_file(
        t,
        rows,
        "newsletter_signup",
        actor=SYSTEM,
        state_file=tmp_path / "state.json",
        consents=("newsletter",),
    )
    assert state.stored == 1 and state.refused == []
    assert held(t, carla) == before
    assert held(t, again)[0] > 0
    with t.ctx.engine.connect() as conn:
        people = conn.execute(sa.select(subjects.c.id, subjects.c.erased_at)).all()
    # Carla (erased), Dan and the new sign-up: the import found the new one, not Carla.
    assert len(people) == 3
    assert {sid for sid, gone in people if gone is not None} == {carla}


def test_over_http_collect_for_an_erased_person_is_refused(
    erased: tuple[Troth, str, str],
) -> None:
    t, carla, dan = erased
    before = held(t, carla)
    with client_for(t.ctx) as c:
        h = api_key(c, ["collect"])
        body = is_problem(
            c.post(
                "/api/v1/collect/newsletter_signup",
                json={"subject_id": carla, "data": SIGNUP, "consents": ["newsletter"]},
                headers=h,
            ),
            403,
        )
        assert body["reason"] == "subject_erased"
        ok = c.post(
            "/api/v1/collect/newsletter_signup",
            json={
                "subject_id": dan,
                "data": SIGNUP | {"email": "dan@example.com"},
                "consents": ["newsletter"],
            },
            headers=h,
        )
        assert ok.status_code == 201, ok.text
    assert held(t, carla) == before
    assert [e.reason for e in refusals(t, carla)] == ["subject_erased"]
