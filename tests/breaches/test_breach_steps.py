"""The once-only steps of a breach (trial 6, Pillbox): the regulator's time is recorded once
and only corrected with a reason, which keeps the earlier record; a window may not end in
the future; people troth has no address for stay "not told" until a public notice is
recorded, and the breach does not claim everyone was told before then."""

from __future__ import annotations

import json
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from troth.audit.log import transaction
from troth.audit.tables import audit_entries
from troth.errors import Conflict, ValidationError
from troth.gate import SYSTEM, Actor, ActorKind
from troth.requests.execution import erase_in_store

PAT = Actor(ActorKind.staff, "pat", role="privacy_office")


def _record(t: Any, clock: Any, **kw: Any) -> Any:
    now = clock.now()
    args = {
        "title": "Billing backup exposed",
        "description": "A backup of the billing database was readable.",
        "discovered_at": now,
        "occurred_from": now - timedelta(days=2),
        "occurred_until": now - timedelta(days=1),
        "categories": ["billing"],
        "regimes": ["gdpr"],
        "high_risk": True,
    }
    return t.breaches.record_breach(**(args | kw), actor=PAT)


def _entries(t: Any, action: str) -> list[Any]:
    a = audit_entries.c
    with t.ctx.engine.connect() as conn:
        q = sa.select(a.actor, a.outcome, a.reason, a.details).where(a.action == action)
        rows = conn.execute(q.order_by(a.seq)).all()
    return [
        SimpleNamespace(**r._mapping, info=json.loads(r.details) if r.details else {}) for r in rows
    ]


def _clock(t: Any, breach_id: str, audience: str) -> str:
    return {c["audience"]: c for c in t.breaches.clocks(breach_id)}[audience]["status"]


def test_the_regulators_time_is_recorded_once_and_corrected_with_a_reason(
    home: Any, db_url: str, clock: Any
) -> None:
    t = home("ilign", db_url)
    b = _record(t, clock)
    clock.advance(hours=80)
    late = clock.now() - timedelta(hours=1)  # past the 72 hours
    t.breaches.mark_regulator_notified(b.id, late, late_reason="forensics first", actor=PAT)
    # The trial: a second call moved the time before the deadline and dropped the reason.
    with pytest.raises(Conflict) as err:
        t.breaches.mark_regulator_notified(b.id, b.aware_at + timedelta(hours=1), actor=PAT)
    assert err.value.status == 409 and err.value.code == "already_recorded"
    assert "recorded once" in err.value.message and "--correct" in err.value.message
    kept = t.breaches.get(b.id)
    assert (kept.regulator_notified_at, kept.late_reason) == (late, "forensics first")
    assert _clock(t, b.id, "regulator") == "met_late"
    assert [(e.outcome, e.reason) for e in _entries(t, "breach.regulator_notified")] == [
        ("info", None),
        ("deny", "already_recorded"),
    ]
    # A correction needs its reason, and something to correct.
    with pytest.raises(ValidationError, match="why"):
        t.breaches.mark_regulator_notified(b.id, late, correction="  ", actor=PAT)
    other = _record(t, clock, title="Another")
    with pytest.raises(ValidationError, match="nothing to correct"):
        t.breaches.mark_regulator_notified(other.id, clock.now(), correction="typo", actor=PAT)
    # Corrected to another late time: the late reason that still applies is kept.
    later = late + timedelta(minutes=30)
    fixed = t.breaches.mark_regulator_notified(b.id, later, correction="typo in minutes")
    assert (fixed.regulator_notified_at, fixed.late_reason) == (later, "forensics first")
    # Corrected to an on-time time: lateness judged again, and the history keeps it all.
    early = b.aware_at + timedelta(hours=2)
    fixed = t.breaches.mark_regulator_notified(b.id, early, correction="wrong day", actor=PAT)
    assert fixed.regulator_notified_at == early and fixed.late_reason is None
    assert _clock(t, b.id, "regulator") == "met"
    steps = [(h["at"], h["late_reason"], h["by"], h.get("correction")) for h in fixed.history]
    assert steps == [
        (late.isoformat(), "forensics first", PAT.label, None),
        (later.isoformat(), "forensics first", SYSTEM.label, "typo in minutes"),
        (early.isoformat(), None, PAT.label, "wrong day"),
    ]
    assert fixed.history[2]["replaces"]["at"] == later.isoformat()
    corrected = _entries(t, "breach.regulator_notified.corrected")
    assert [(e.actor, e.info["was"], e.info["at"]) for e in corrected] == [
        (SYSTEM.label, late.isoformat(), later.isoformat()),
        (PAT.label, later.isoformat(), early.isoformat()),
    ]
    assert fixed.to_dict()["history"] == [dict(h) for h in fixed.history]


def test_a_window_that_ends_in_the_future_is_refused(home: Any, db_url: str, clock: Any) -> None:
    t = home("ilign", db_url)
    with pytest.raises(ValidationError, match="future") as err:
        _record(t, clock, occurred_until=clock.now() + timedelta(days=1))
    assert err.value.details["field"] == "occurred_until"
    assert t.breaches.list_breaches() == []
    assert _record(t, clock, occurred_until=clock.now()).occurred_until == clock.now()


def _billed(t: Any, email: str) -> str:
    """A billing contact with one invoice (kept 7 years under NZ tax law)."""
    sid = t.collect("billing_contact", {"name": "Ann", "email": email}).subject_id
    t.collect("invoice", {"invoice_number": "F-1", "amount": 12}, subject_id=sid)
    return str(sid)


def test_a_person_without_an_address_stays_not_told_until_a_public_notice(
    home: Any, db_url: str, clock: Any
) -> None:
    t = home("ilign", db_url)
    reached = _billed(t, "ann@example.nz")
    erased = _billed(t, "bob@example.nz")
    with transaction(t.ctx) as conn:  # erased: the invoice stays (legal minimum), no e-mail
        erase_in_store(conn, t.ctx, erased)
    clock.advance(days=3)
    b = _record(t, clock)
    assert set(t.breaches.affected_subjects(b.id)) == {reached, erased}
    assert t.breaches.notify_individuals(b.id, "{{ organisation }}: {{ breach.title }}") == 1
    told = t.breaches.get(b.id)
    assert told.status == "individuals_partly_notified" and told.individuals_notified_at is None
    assert _clock(t, b.id, "individuals") != "met"
    people = {p["subject_id"]: p for p in t.breaches.affected_people(b.id)}
    assert people[erased]["notified_at"] is None
    assert people[erased]["pending"] == "not told: no address"
    assert people[reached]["notified_at"] and people[reached]["pending"] is None
    assert t.breaches.notify_preview(b.id)["unreachable"] == 1
    # A rerun tells no one twice and still does not claim the erased person was told.
    assert t.breaches.notify_individuals(b.id, "{{ organisation }}") == 0
    assert t.breaches.get(b.id).status == "individuals_partly_notified"
    # The indirect notice, recorded once, covers them.
    with pytest.raises(ValidationError, match="how"):
        t.breaches.record_public_notice(b.id, clock.now(), how=" ", actor=PAT)
    when = clock.now()
    done = t.breaches.record_public_notice(b.id, when, how="pillbox.ca/incident", actor=PAT)
    assert done.status == "individuals_notified" and done.individuals_notified_at == when
    assert _clock(t, b.id, "individuals") == "met"
    assert done.to_dict()["public_notice"]["how"] == "pillbox.ca/incident"
    with pytest.raises(Conflict, match="recorded once"):
        t.breaches.record_public_notice(b.id, when, how="again", actor=PAT)
    notices = _entries(t, "breach.public_notice")
    assert [(e.actor, e.outcome) for e in notices] == [(PAT.label, "info"), ("staff:pat", "deny")]
