"""The organisation records the end of a relationship (a candidate rejected, an employee
gone) and its resumption: who may (each kind of actor, another tenant's id, erased
people), what time it means (the organisation's zone, never the future), idempotency,
the audit, and retention running from it, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from troth.access import actor_for
from troth.audit.entries import list_entries
from troth.errors import NotFound, Refused, ValidationError
from troth.gate import Actor, ActorKind
from troth.store.erasure import erase_subject_data
from troth.store.subjects import lookup_subject

POLICY = Path(__file__).parent / "hirewell.yaml"
PW = "a long test password 1"
OFFICE = Actor(ActorKind.staff, "po", role="privacy_office")
RECRUITER = Actor(ActorKind.staff, "rec", role="recruiter")


@pytest.fixture
def t(home: Any, db_url: str) -> Any:
    return home(db=db_url, policy=POLICY)


APPLIED = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
"""When the candidates applied: the ends below fall between then and now (2 March); an
end before a person was known is refused (test_relationship_bounds.py)."""


def _apply(t: Any, tenant: str, email: str) -> str:
    data = {"name": "Rob", "email": email, "cv_text": "welder, 10 years"}
    now = t.ctx.clock.now()
    t.ctx.clock.set(APPLIED)
    try:
        return str(t.collect("application", data, tenant_id=tenant).subject_id)
    finally:
        t.ctx.clock.set(now)


def _world(t: Any) -> dict[str, Any]:
    acme = t.access.tenants.create_tenant("Acme", "hr@acme.example")
    bolt = t.access.tenants.create_tenant("Bolt", "hr@bolt.example")
    people = {"acme": _apply(t, acme, "rob@acme.example"), "bolt": _apply(t, bolt, "bo@b.ex")}
    members = {}
    for role in ("admin", "member"):
        tok, _ = t.access.tenants.invite(acme, f"{role}@acme.example", role=role)
        members[role] = actor_for(t.access.tenants.accept_invitation(tok, PW))
    return {"acme": acme, "bolt": bolt, "people": people, **members}


def _ended(t: Any, sid: str) -> datetime | None:
    return lookup_subject(t.ctx, sid).relationship_ended_at


def _denials(t: Any, action: str) -> list[tuple[str | None, str | None]]:
    rows = list_entries(t.ctx, action=action, outcome="deny", limit=100)
    return [(e.entry.reason, e.entry.subject_id) for e in rows]


# -- who may -----------------------------------------------------------------------------
def test_each_actor_kind_ends_only_whom_the_gate_lets_it(t: Any) -> None:
    w = _world(t)
    rob, bo = w["people"]["acme"], w["people"]["bolt"]
    acme_key = Actor(
        ActorKind.application, "ats", tenant_id=w["acme"], scopes=frozenset({"collect"})
    )
    allowed = [
        OFFICE,  # manage_requests reaches everyone
        Actor(ActorKind.application, "hq", scopes=frozenset({"collect"})),
        Actor(ActorKind.application, "hq2", scopes=frozenset({"admin"})),
        acme_key,
        w["admin"],
        w["member"],
    ]
    for actor in allowed:
        r = t.subjects.end_relationship(rob, reason="rejected", actor=actor)
        assert r.changed and r.ended_at == _ended(t, rob), actor
        t.subjects.resume_relationship(rob)  # troth itself: the next actor ends it afresh
    refused = {
        "scope_missing": Actor(ActorKind.application, "reader", scopes=frozenset({"use"})),
        "no_grant": RECRUITER,  # the vendor's desk on a customer's person: a grant first
        "role_not_allowed": Actor(ActorKind.subject, rob),  # closes the account instead
    }
    before = _ended(t, rob)
    for reason, actor in refused.items():
        with pytest.raises(Refused) as err:
            t.subjects.end_relationship(rob, actor=actor)
        assert err.value.reason == reason
        with pytest.raises(Refused):
            t.subjects.resume_relationship(rob, actor=actor)
    assert _ended(t, rob) == before
    denied = [r for r, _ in _denials(t, "change_relationship")]
    assert sorted(set(denied)) == sorted(refused) and len(denied) == 6
    # Acme's key and admin reach no one of Bolt: as unknown as an id naming nobody.
    for actor in (acme_key, w["admin"], w["member"]):
        for sid in (bo, "0" * 32, "x'; drop table subjects; --"):
            with pytest.raises(NotFound) as nf:
                t.subjects.end_relationship(sid, actor=actor)
            assert "bo" not in nf.value.message.lower().replace(sid, "")
    assert _ended(t, bo) is None
    # Every probe of Bolt's person is audited under Acme's actor, never shown in Bolt's log.
    probes = [e for e in list_entries(t.ctx, action="change_relationship", limit=200)]
    # Filed in each caller's own log, naming the id asked for; none under Bo.
    assert sum(e.entry.details.get("subject_named") == bo for e in probes) == 3
    assert not any(e.entry.subject_id == bo and e.entry.outcome == "deny" for e in probes)


def test_an_erased_person_is_refused(t: Any) -> None:
    w = _world(t)
    rob = w["people"]["acme"]
    with t.ctx.engine.begin() as conn:
        erase_subject_data(conn, t.ctx, [rob])
    for call in (t.subjects.end_relationship, t.subjects.resume_relationship):
        for actor in (OFFICE, w["admin"]):
            with pytest.raises(Refused) as err:
                call(rob, actor=actor)
            assert err.value.reason == "subject_erased"
    assert _ended(t, rob) is None
    assert [r for r, _ in _denials(t, "change_relationship")] == ["subject_erased"] * 4
    # Bolt's admin is told nothing of Acme's erased person: unknown.
    tok, _ = t.access.tenants.invite(w["bolt"], "a@bolt.example", role="admin")
    bolt_admin = actor_for(t.access.tenants.accept_invitation(tok, PW))
    with pytest.raises(NotFound):
        t.subjects.end_relationship(rob, actor=bolt_admin)


# -- what time ---------------------------------------------------------------------------
def test_times_read_in_the_organisations_zone_never_in_the_future(t: Any, clock: Any) -> None:
    w = _world(t)
    rob = w["people"]["acme"]
    # A date is that day's midnight in Sydney (summer: +11), not UTC's.
    r = t.subjects.end_relationship(rob, at="2026-01-31", reason="rejected", actor=OFFICE)
    assert r.ended_at == datetime(2026, 1, 30, 13, 0, tzinfo=UTC) == _ended(t, rob)
    r = t.subjects.end_relationship(rob, at="2026-02-02T17:30", actor=OFFICE, correct=True)
    assert r.ended_at == datetime(2026, 2, 2, 6, 30, tzinfo=UTC)
    r = t.subjects.end_relationship(rob, at="2026-02-02T17:30+00:00", actor=OFFICE, correct=True)
    assert r.ended_at == datetime(2026, 2, 2, 17, 30, tzinfo=UTC)
    for bad, code in (
        ("2026-03-03", "time_in_future"),  # tomorrow in Sydney is still the future
        ("2026-03-02T09:00:01+00:00", "time_in_future"),
        ("yesterday", "invalid_time"),
        ("2026-02-30", "invalid_time"),
        ("0001-01-01T00:00+05:00", "invalid_time"),
    ):
        with pytest.raises(ValidationError) as err:
            t.subjects.end_relationship(rob, at=bad, actor=OFFICE, correct=True)
        assert err.value.code == code, bad
    assert _ended(t, rob) == datetime(2026, 2, 2, 17, 30, tzinfo=UTC)  # unchanged
    refused = list_entries(t.ctx, action="relationship.end", outcome="deny", limit=10)
    assert sorted(e.entry.reason for e in refused) == ["invalid_time"] * 3 + ["time_in_future"] * 2
    assert all("yesterday" not in str(e.entry.details) for e in refused)
    # Default: now.
    bo = w["people"]["bolt"]
    assert t.subjects.end_relationship(bo, actor=OFFICE).ended_at == clock.now()


# -- idempotency, correction, resumption, the audit --------------------------------------
def test_ending_twice_keeps_the_first_unless_corrected_and_resume(t: Any, clock: Any) -> None:
    w = _world(t)
    rob = w["people"]["acme"]
    first = t.subjects.end_relationship(rob, at="2026-02-01", reason="rejected", actor=w["admin"])
    again = t.subjects.end_relationship(rob, at="2026-02-20", reason="rejected", actor=w["admin"])
    assert (again.changed, again.ended_at, again.previous) == (
        False,
        first.ended_at,
        first.ended_at,
    )
    fixed = t.subjects.end_relationship(rob, at="2026-02-20", actor=w["admin"], correct=True)
    assert fixed.changed and fixed.previous == first.ended_at
    assert _ended(t, rob) == datetime(2026, 2, 19, 13, 0, tzinfo=UTC)
    assert lookup_subject(t.ctx, rob).status == "closed"
    back = t.subjects.resume_relationship(rob, reason="re-applied", actor=w["admin"])
    assert back.changed and back.ended_at is None and back.previous == fixed.ended_at
    assert _ended(t, rob) is None and lookup_subject(t.ctx, rob).status == "active"
    assert not t.subjects.resume_relationship(rob, actor=w["admin"]).changed
    # Ended again later: a new end, not the old one.
    assert t.subjects.end_relationship(rob, actor=w["admin"]).ended_at == clock.now()
    changes = [
        e.entry
        for e in list_entries(t.ctx, subject_id=rob, limit=100)
        if e.entry.action.startswith("relationship.")
    ]
    assert [(e.action, e.details.get("unchanged", False)) for e in changes] == [
        ("relationship.end", False),
        ("relationship.end", True),
        ("relationship.end", False),
        ("relationship.resume", False),
        ("relationship.resume", True),
        ("relationship.end", False),
    ]
    assert all(e.actor == w["admin"].label and e.tenant_id == w["acme"] for e in changes)
    assert changes[0].details == {
        "reason": "rejected",
        "previous_ended_at": None,
        "ended_at": "2026-01-31T13:00:00+00:00",
    }
    assert changes[3].details["reason"] == "re-applied"
    # Never a value of the person: not the name, the e-mail or the CV.
    logged = str([(e.details, e.actor) for e in changes])
    assert "Rob" not in logged and "rob@" not in logged and "welder" not in logged
    # Each change was allowed by the gate, and that is audited too.
    allowed = list_entries(t.ctx, action="change_relationship", outcome="allow", limit=100)
    assert len(allowed) == 6


def test_many_at_once_each_decided_and_reported(t: Any) -> None:
    w = _world(t)
    rob, bo = w["people"]["acme"], w["people"]["bolt"]
    new = _apply(t, w["acme"], "ann@acme.example")
    t.subjects.end_relationship(new, at="2026-01-10", actor=OFFICE)
    out = t.subjects.end_relationships(
        [rob, rob, "", new, bo, "0" * 32], at="2026-02-01", reason="role filled", actor=w["admin"]
    )
    assert [(o.subject_id, o.outcome) for o in out] == [
        (rob, "ended"),
        (new, "already_ended"),
        (bo, "not_found"),  # another tenant's: unknown to Acme's admin
        ("0" * 32, "not_found"),
    ]
    assert _ended(t, bo) is None
    with pytest.raises(ValidationError):  # a bad time is refused before anyone is touched
        t.subjects.end_relationships([bo], at="2099-01-01", actor=OFFICE)
    assert _ended(t, bo) is None


# -- retention runs from it --------------------------------------------------------------
def _held(t: Any, sid: str) -> set[str]:
    from sqlalchemy import select

    from troth.store.tables import records

    with t.ctx.engine.connect() as conn:
        q = select(records.c.category).where(records.c.subject_id == sid)
        return set(conn.execute(q).scalars())


def _plan(t: Any, at: datetime) -> dict[Any, int]:
    return dict(t.retention.plan(at).done)


SYD = "Australia/Sydney"


def _sydney(*parts: int) -> datetime:
    from zoneinfo import ZoneInfo

    return datetime(*parts, tzinfo=ZoneInfo(SYD)).astimezone(UTC)


def test_a_rejected_candidate_goes_six_months_after_across_the_year_end(t: Any, clock: Any) -> None:
    w = _world(t)
    rob, bo = w["people"]["acme"], w["people"]["bolt"]
    assert _plan(t, _sydney(2046, 1, 1)) == {}  # no end, no clock (the trial's finding)
    clock.set(_sydney(2026, 12, 31, 18, 0))
    t.subjects.end_relationship(rob, at="2026-12-31", reason="rejected", actor=w["admin"])
    # Six months from 31 December in Sydney: kept on 30 June, gone by the morning of 1 July
    # (a day read as UTC would keep it all of 1 July in Sydney).
    assert _plan(t, _sydney(2027, 6, 30, 12, 0)) == {}
    gone = {("delete", "identity"): 1, ("delete", "contact"): 1, ("delete", "cv"): 1}
    assert _plan(t, _sydney(2027, 7, 1, 9, 0)) == gone
    clock.set(_sydney(2027, 7, 1, 9, 0))
    assert t.retention.run().total == 3
    assert _held(t, rob) == set() and _held(t, bo) == {"identity", "contact", "cv"}


def test_an_employee_is_kept_seven_years_after_leaving_then_goes(t: Any, clock: Any) -> None:
    acme = t.access.tenants.create_tenant("Acme", "hr@acme.example")
    data = {"name": "Em", "email": "em@acme.example", "bank_account": "062-000 1234",
            "tax_file_number": "123 456 782"}  # fmt: skip
    em = t.collect("onboarding", data, tenant_id=acme).subject_id
    clock.set(_sydney(2027, 1, 20))
    t.subjects.end_relationship(em, at="2027-01-15T17:00", reason="left", actor=OFFICE)
    assert _plan(t, _sydney(2034, 1, 15, 16, 0)) == {}
    assert sum(_plan(t, _sydney(2034, 1, 15, 18, 0)).values()) == 4
    # Resumed (re-hired): the clock stops again.
    t.subjects.resume_relationship(em, reason="re-hired", actor=OFFICE)
    assert _plan(t, _sydney(2046, 1, 1)) == {}
