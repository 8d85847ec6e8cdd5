"""Who owes which clock of a breach (trial 16, G2): for a customer's people, under
``breach_notices.tenant_people: controller`` (the default), the organisation is the
processor: its clock is telling the customer (24 hours, troth's figure for "without undue
delay"); telling the regulator and the people is the customer's, shown as theirs and never
overdue for the organisation. Its own people keep its own clocks; a mixed breach has both;
under ``organisation`` every clock is the organisation's, as before."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from breach_helpers import key, person, record, world
from troth.errors import ValidationError

NOTICE = "{{ organisation }}: {{ breach.title }}"


def _by(t: Any, bid: str) -> dict[tuple[str, str, str], dict[str, Any]]:
    """(owed_by, regime, audience) -> the clock."""
    return {(c["owed_by"], c["regime"], c["audience"]): c for c in t.breaches.clocks(bid)}


def test_a_mixed_breach_has_the_vendor_s_clocks_and_the_customers(home, db_url, clock):
    w = world(home, clock, db_url)
    t = w.t
    clocks = _by(t, w.breach)
    ours = {k[1:] for k in clocks if k[0] == "organisation"}
    theirs = {k[1:] for k in clocks if k[0] == "controllers"}
    # The vendor's own Californian: its 30 days. Telling Acme (gdpr) and Bolt (pipeda).
    assert ours == {("ccpa", "individuals"), ("gdpr", "controller"), ("pipeda", "controller")}
    # No GDPR 72 hours nor PIPEDA report of the vendor's: those are the customers'.
    assert theirs == {
        ("gdpr", "regulator"),
        ("gdpr", "individuals"),
        ("pipeda", "assessment"),
        ("pipeda", "regulator"),
        ("pipeda", "individuals"),
    }
    regulator = clocks[("controllers", "gdpr", "regulator")]
    assert regulator["status"] == "for_controllers" and regulator["customers"] == 1
    assert regulator["due_at"] is None and regulator["starts_at"] is None
    tell = clocks[("organisation", "gdpr", "controller")]
    aware = t.breaches.get(w.breach).aware_at
    assert datetime.fromisoformat(tell["due_at"]) == aware + timedelta(hours=24)
    assert "troth's figure: within 24 hours" in tell["deadline"]
    assert tell["basis"] == "GDPR Art. 33(2)" and tell["status"] == "on_time"
    assert (tell["customers"], tell["customers_told"]) == (1, 0)


def test_the_overdue_list_counts_only_what_the_vendor_owes(home, db_url, clock):
    w = world(home, clock, db_url)
    t = w.t
    clock.advance(hours=100)  # past 72 hours and past 24
    status = {k: c["status"] for k, c in _by(t, w.breach).items()}
    overdue = {k for k, s in status.items() if s == "overdue"}
    assert overdue == {
        ("organisation", "gdpr", "controller"),
        ("organisation", "pipeda", "controller"),
    }
    assert {s for k, s in status.items() if k[0] == "controllers"} == {"for_controllers"}
    # Told late: met late. The vendor's own person told: met. Nothing of the vendor's is
    # open any more, whatever the customers' clocks say.
    t.breaches.notify_controllers(w.breach, measures="Closed.")
    t.breaches.notify_individuals(w.breach, NOTICE)
    after = _by(t, w.breach)
    assert after[("organisation", "gdpr", "controller")]["status"] == "met_late"
    assert after[("organisation", "ccpa", "individuals")]["status"] == "met"
    from troth.breaches.duties import is_open

    assert not [c for c in after.values() if is_open(c)]
    steps = {s["tenant_id"]: s for s in t.breaches.controllers(w.breach)}
    assert steps[w.acme]["clocks"][0]["status"] == "met_late"
    assert (
        steps[w.acme]["clocks"][0]["due_at"]
        == after[("organisation", "gdpr", "controller")]["due_at"]
    )


def test_customers_told_in_time_meet_the_vendor_s_clock(home, db_url, clock):
    w = world(home, clock, db_url)
    t = w.t
    customers = record(t, clock, tenants=[w.acme, w.bolt]).id
    clock.advance(hours=2)
    out = t.breaches.notify_controllers(customers, measures="Closed.")
    assert sorted(out["told"]) == sorted([w.acme, w.bolt])
    clocks = _by(t, customers)
    assert clocks[("organisation", "gdpr", "controller")]["status"] == "met"
    # Nobody of the vendor's own: no clock of its own but telling the customers.
    assert {k for k in clocks if k[0] == "organisation"} == {
        ("organisation", "gdpr", "controller"),
        ("organisation", "pipeda", "controller"),
    }


def test_under_organisation_every_clock_is_the_vendor_s(home, db_url, clock):
    w = world(home, clock, db_url, setting="organisation")
    t = w.t
    clocks = _by(t, w.breach)
    assert {k[0] for k in clocks} == {"organisation"}
    assert ("organisation", "gdpr", "regulator") in clocks  # as before: the vendor's 72 hours
    assert ("organisation", "gdpr", "controller") in clocks  # and telling the customers
    clock.advance(hours=73)
    assert _by(t, w.breach)[("organisation", "gdpr", "regulator")]["status"] == "overdue"
    # Late to the regulator without reasons is refused, as before.
    with pytest.raises(ValidationError, match="late_reason"):
        t.breaches.mark_regulator_notified(w.breach, clock.now())


def test_the_regulator_told_late_needs_reasons_only_for_the_vendor_s_own(home, db_url, clock):
    w = world(home, clock, db_url)
    t = w.t
    customers_only = record(t, clock, tenants=[w.acme]).id
    clock.advance(hours=100)
    # Acme's German people: the 72 hours are Acme's; the vendor records its own step freely.
    b = t.breaches.mark_regulator_notified(customers_only, clock.now())
    assert b.late_reason is None
    # Its own German person: its own 72 hours, late without reasons refused.
    mine = person(t, "own-de@example.com", None, "gdpr")
    clock.advance(minutes=5)
    own = record(t, clock, subject_ids=[mine]).id
    clock.advance(hours=73)
    with pytest.raises(ValidationError, match="late_reason"):
        t.breaches.mark_regulator_notified(own, clock.now())


def test_the_customer_reads_its_own_clocks_from_when_it_was_told(home, db_url, clock):
    w = world(home, clock, db_url)
    t = w.t
    view = t.breaches.for_tenant(actor=key(w.bolt, "breaches"), breach_id=w.breach)[0]
    assert view["your_clocks"] == []  # not told yet
    clock.advance(hours=3)
    t.breaches.notify_controllers(w.breach, measures="Closed.")
    view = t.breaches.for_tenant(actor=key(w.bolt, "breaches"), breach_id=w.breach)[0]
    audiences = {c["audience"] for c in view["your_clocks"]}
    assert audiences == {"assessment", "regulator", "individuals"}
    assert all(c["starts_at"] == view["you_were_told_at"] for c in view["your_clocks"])
    assert view["zone"] == "America/Toronto"
