"""The breach register on SQLite and PostgreSQL: impossible windows refused, affected people
from data and audit, clocks, late reasons, notices through the outbox, export, 24 months."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from typing import Any

import pytest

from outbox_helpers import outbox_mail
from troth.errors import Conflict, NotFound, ValidationError
from troth.gate import Actor, ActorKind

SUPPORT = Actor(ActorKind.staff, "sam", role="support")


def _ilign(home: Any, db_url: str) -> Any:
    return home("ilign", db_url)


def _person(t: Any, email: str) -> str:
    return t.collect("support_ticket", {"email": email, "message": "my login fails"}).subject_id


def _record(t: Any, clock: Any, **kw: Any) -> Any:
    now = clock.now()
    args = {
        "title": "Help desk export leaked",
        "description": "A support export was readable without login.",
        "discovered_at": now,
        "occurred_from": now - timedelta(days=2),
        "occurred_until": now - timedelta(days=1),
        "categories": ["contact"],
    }
    args.update(kw)
    return t.breaches.record_breach(**args)


def test_impossible_windows_refused(home, db_url, clock):
    t = _ilign(home, db_url)
    now = clock.now()
    with pytest.raises(ValidationError, match=r"ends .* before it\s+starts"):
        _record(
            t, clock, occurred_from=now - timedelta(days=1), occurred_until=now - timedelta(days=2)
        )
    with pytest.raises(ValidationError, match=r"discovered .* before the"):
        _record(t, clock, discovered_at=now - timedelta(days=3))
    with pytest.raises(ValidationError, match="future"):
        _record(t, clock, discovered_at=now + timedelta(days=1))
    with pytest.raises(ValidationError, match="unknown categor"):
        _record(t, clock, categories=["nope"])
    with pytest.raises(ValidationError, match="regime"):
        _record(t, clock, regimes=["mars"])
    with pytest.raises(ValidationError, match="timezone"):
        _record(t, clock, discovered_at=now.replace(tzinfo=None))
    assert t.breaches.list_breaches() == []


def test_an_unknown_regime_is_refused_on_its_field(home, db_url, clock):
    t = _ilign(home, db_url)
    with pytest.raises(ValidationError) as err:
        _record(t, clock, regimes=["gdpr", "mars"])
    assert err.value.to_dict() == {
        "code": "invalid_input",
        "status": 422,
        "message": "unknown regime 'mars': use one of gdpr, uk_gdpr, ccpa, pipeda, nz, au",
        "field": "regimes",
    }
    assert t.breaches.list_breaches() == []


def test_affected_from_data_and_audit(home, db_url, clock):
    t = _ilign(home, db_url)
    a = _person(t, "a@example.com")
    clock.advance(days=1)
    b = _person(t, "b@example.com")
    clock.advance(days=10)
    # c was collected after the window: not affected by data; d's data is read in the window.
    start = clock.now()
    t.use(a, purpose="support", actor=SUPPORT)
    clock.advance(hours=1)
    c = _person(t, "c@example.com")
    clock.advance(days=1)
    breach = _record(
        t,
        clock,
        occurred_from=start - timedelta(minutes=1),
        occurred_until=start + timedelta(minutes=30),
        categories=["support"],
    )
    affected = t.breaches.affected_subjects(breach.id)
    assert a in affected and b in affected and c not in affected
    assert breach.affected_count == len(affected) == 2
    # A category nobody holds and nobody read: nobody is affected. (This test used to
    # expect `a` here, because anyone whose data anyone read in the window counted,
    # whatever the category: the defect of issue 14, item 4.)
    breach2 = _record(
        t,
        clock,
        occurred_from=start - timedelta(minutes=1),
        occurred_until=start + timedelta(minutes=30),
        categories=["billing"],
    )
    assert t.breaches.affected_subjects(breach2.id) == []


def test_clocks_and_late_reason(home, db_url, clock):
    t = _ilign(home, db_url)
    _person(t, "a@example.com")
    clock.advance(days=3)
    breach = _record(t, clock, regimes=["gdpr"], high_risk=True)
    clocks = {c["audience"]: c for c in t.breaches.clocks(breach.id)}
    assert clocks["regulator"]["status"] == "on_time"
    assert clocks["regulator"]["due_at"] == (breach.aware_at + timedelta(hours=72)).isoformat()
    clock.advance(hours=73)
    assert {c["audience"]: c for c in t.breaches.clocks(breach.id)}["regulator"][
        "status"
    ] == "overdue"
    with pytest.raises(ValidationError, match="late_reason"):
        t.breaches.mark_regulator_notified(breach.id, clock.now())
    with pytest.raises(ValidationError):
        t.breaches.mark_regulator_notified(
            breach.id, clock.now() + timedelta(hours=1), late_reason="x"
        )
    done = t.breaches.mark_regulator_notified(
        breach.id, clock.now(), late_reason="Forensics needed to confirm the scope"
    )
    assert done.status == "regulator_notified"
    assert {c["audience"]: c for c in t.breaches.clocks(breach.id)}["regulator"][
        "status"
    ] == "met_late"


def test_on_time_needs_no_reason(home, db_url, clock):
    t = _ilign(home, db_url)
    breach = _record(t, clock, regimes=["gdpr"])
    clock.advance(hours=10)
    assert t.breaches.mark_regulator_notified(breach.id, clock.now()).late_reason is None


def test_notify_individuals_through_outbox(home, db_url, clock):
    t = _ilign(home, db_url)
    _person(t, "a@example.com")
    _person(t, "b@example.com")
    clock.advance(days=3)
    breach = _record(t, clock, high_risk=True)
    with pytest.raises(ValidationError, match="template"):
        t.breaches.notify_individuals(breach.id, "Hello {{ nope }}")
    template = (
        "{{ organisation }} tells you: {{ breach.title }}. Between {{ breach.occurred_from }}"
        " and {{ breach.occurred_until }} your {{ breach.categories | join(', ') }} data was"
        " exposed. Write to {{ contact }}."
    )
    assert t.breaches.notify_individuals(breach.id, template) == 2
    assert t.breaches.notify_individuals(breach.id, template) == 0
    mail = outbox_mail(t)
    assert sorted(m.to_addr for m in mail) == ["a@example.com", "b@example.com"]
    assert "Help desk export leaked" in mail[0].body_text
    assert t.breaches.get(breach.id).status == "individuals_notified"


def test_register_export_and_24_months(home, db_url, clock):
    t = _ilign(home, db_url)
    breach = _record(t, clock)
    data = json.loads(t.breaches.export("json"))
    assert data[0]["id"] == breach.id and data[0]["categories"] == ["contact"]
    rows = list(csv.DictReader(io.StringIO(t.breaches.export("csv"))))
    assert rows[0]["title"] == "Help desk export leaked"
    with pytest.raises(ValidationError):
        t.breaches.export("pdf")
    with pytest.raises(Conflict, match="24 months"):
        t.breaches.delete_breach(breach.id)
    clock.advance(days=365 * 2 + 1)
    t.breaches.delete_breach(breach.id)
    with pytest.raises(NotFound):
        t.breaches.get(breach.id)
