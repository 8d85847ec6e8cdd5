"""A customer told of a breach lists exactly its own affected people, with the contact
details the gate lets it read, to tell them (trial 16, G1: it learnt only a count, and
``GET /api/v1/breaches/ID/affected`` refused every key of a customer). Never another
customer's people nor how many they are; audited; through the gate and its masks."""

from __future__ import annotations

from typing import Any

import pytest

from breach_helpers import account, key, record, world
from outbox_helpers import outbox_mail
from troth.audit.entries import list_entries
from troth.errors import Conflict, NotFound, Refused
from troth.gate import Actor, ActorKind


def _told(w: Any) -> Any:
    w.t.breaches.notify_controllers(w.breach, measures="Bucket closed; keys rotated.")
    return w


def _emails(page: dict[str, Any]) -> dict[str, list[str]]:
    return {p["subject_id"]: [c["value"] for c in p["contact"]] for p in page["people"]}


def _entries(t: Any, action: str) -> list[Any]:
    """The audit log's entries of ``action``, oldest first, as written (``entry``)."""
    return [e.entry for e in list_entries(t.ctx, action=action, limit=1000)]


def test_a_customer_lists_its_own_people_with_their_contact(home, db_url, clock):
    w = _told(world(home, clock, db_url))
    t = w.t
    before = len(_entries(t, "use"))
    page = t.breaches.for_tenant_people(w.breach, actor=key(w.acme, "breaches", "use"))
    assert page["your_people_affected"] == 2
    assert _emails(page) == {
        w.acme_people[0]: ["a0@acme.example"],
        w.acme_people[1]: ["a1@acme.example"],
    }
    assert {p["read_for"] for p in page["people"]} == {"provide_service"}
    assert all(p["yours_to_tell"] and p["told_by_us_at"] is None for p in page["people"])
    # Nothing of anyone else: no other id, no total, no other customer's count.
    assert set(page) == {"breach", "your_people_affected", "people"}
    assert not {w.bolt_people[0], w.own} & {p["subject_id"] for p in page["people"]}
    # Each read is a use filed under the person, with the breach; the page under the tenant.
    uses = _entries(t, "use")[before:]
    assert {(e.subject_id, e.tenant_id, e.outcome) for e in uses} == {
        (sid, w.acme, "allow") for sid in w.acme_people
    }
    assert all(e.details["breach"] == w.breach and e.categories == ("contact",) for e in uses)
    (listed,) = _entries(t, "breach.tenant_affected")
    assert listed.tenant_id == w.acme and listed.subject_id is None
    assert listed.details == {"breach": w.breach, "offset": 0, "listed": 2, "contacts_shown": 2}


def test_the_contact_is_what_the_gate_lets_the_actor_read(home, db_url, clock):
    w = _told(world(home, clock, db_url))
    t = w.t
    # A key with the scope for breaches alone reads the ids, not the contact details.
    bare = t.breaches.for_tenant_people(w.breach, actor=key(w.acme, "breaches"))
    assert {p["withheld"] for p in bare["people"]} == {"scope_missing"}
    assert not any(p["contact"] for p in bare["people"]) and bare["your_people_affected"] == 2
    # An admin whose member role reads no contact details: withheld; one whose does: shown.
    admin = account(t, "boss@acme.example", w.acme)
    t.access.tenants.set_member_role(w.acme, admin.id, "bookkeeper")
    hidden = t.breaches.for_tenant_people(w.breach, actor=admin)
    assert {p["withheld"] for p in hidden["people"]} == {"role_not_allowed"}
    t.access.tenants.set_member_role(w.acme, admin.id, "ops")
    shown = t.breaches.for_tenant_people(w.breach, actor=admin)
    found = sorted(e for es in _emails(shown).values() for e in es)
    assert found == ["a0@acme.example", "a1@acme.example"]
    # Paged: one at a time, in id order, the total stays the customer's own.
    first = t.breaches.for_tenant_people(w.breach, actor=admin, limit=1)
    second = t.breaches.for_tenant_people(w.breach, actor=admin, limit=1, offset=1)
    assert [p["subject_id"] for p in first["people"] + second["people"]] == sorted(w.acme_people)
    assert first["your_people_affected"] == 2


def test_other_customers_and_people_who_may_not_are_refused(home, db_url, clock):
    w = _told(world(home, clock, db_url))
    t = w.t
    only_acme = record(t, clock, tenants=[w.acme]).id
    t.breaches.notify_controllers(only_acme, measures="Closed.")
    bolt = key(w.bolt, "admin")
    # Bolt sees its own one person of the shared breach, and nothing of Acme's breach.
    mine = t.breaches.for_tenant_people(w.breach, actor=bolt)
    assert [p["subject_id"] for p in mine["people"]] == w.bolt_people
    assert mine["your_people_affected"] == 1
    with pytest.raises(NotFound):
        t.breaches.for_tenant_people(only_acme, actor=bolt)
    # Cedar, not affected, sees no breach at all: the 404 of an unknown one.
    with pytest.raises(NotFound):
        t.breaches.for_tenant_people(w.breach, actor=key(w.cedar, "admin"))
    with pytest.raises(NotFound):
        t.breaches.for_tenant_people("f" * 32, actor=key(w.cedar, "admin"))
    # A member who is not an admin, a key without the scope, a key of no customer.
    member = account(t, "clerk@acme.example", w.acme, role="member")
    for who, reason in (
        (member, "not_tenant_admin"),
        (key(w.acme, "use", "collect"), "scope_missing"),
        (key(None, "admin"), "tenant_bound"),
        (Actor(ActorKind.staff, "po", role="privacy_office"), "tenant_bound"),
    ):
        with pytest.raises(Refused) as info:
            t.breaches.for_tenant_people(w.breach, actor=who)
        assert info.value.reason == reason
    refusals = {(e.reason, e.tenant_id) for e in _entries(t, "breach.tenant_affected")}
    assert {("not_found", w.bolt), ("not_found", w.cedar)} <= refusals
    assert {"not_tenant_admin", "scope_missing", "tenant_bound"} <= {r for r, _ in refusals}
    # Nobody refused read a single address.
    uses = [e for e in _entries(t, "use") if e.details.get("breach")]
    assert {e.actor for e in uses} == {"application:hris"}
    assert {e.tenant_id for e in uses} == {w.bolt}


def test_not_before_the_customer_is_told(home, db_url, clock):
    w = world(home, clock, db_url)
    with pytest.raises(Conflict) as info:
        w.t.breaches.for_tenant_people(w.breach, actor=key(w.acme, "admin"))
    assert info.value.code == "not_told_yet"
    (refused,) = _entries(w.t, "breach.tenant_affected")
    assert refused.outcome == "deny" and refused.reason == "not_told_yet"
    assert not [e for e in _entries(w.t, "use") if e.details.get("breach")]
    # Once told, the list it was told of stays: the vendor cannot take its people off it.
    _told(w)
    with pytest.raises(Conflict, match="their customer was"):
        w.t.breaches.exclude_people(w.breach, w.acme_people[:1], reason="encrypted")
    assert (
        w.t.breaches.for_tenant_people(w.breach, actor=key(w.acme, "admin"))["your_people_affected"]
        == 2
    )


def test_after_a_person_is_erased_they_stay_listed_without_contact(home, db_url, clock):
    from requests_helpers import verified

    w = _told(world(home, clock, db_url))
    t = w.t
    rid = verified(t, "delete", "a0@acme.example", tenant_id=w.acme)
    t.requests.execute(rid)
    page = t.breaches.for_tenant_people(w.breach, actor=key(w.acme, "admin"))
    gone = {p["subject_id"]: p for p in page["people"]}[w.acme_people[0]]
    assert gone["erased"] is True and gone["contact"] == []
    assert gone["withheld"] == "subject_erased"
    assert _emails(page)[w.acme_people[1]] == ["a1@acme.example"]
    assert page["your_people_affected"] == 2


def test_under_organisation_the_list_is_there_and_the_vendor_tells_them(home, db_url, clock):
    w = _told(world(home, clock, db_url, setting="organisation"))
    page = w.t.breaches.for_tenant_people(w.breach, actor=key(w.acme, "admin"))
    assert not any(p["yours_to_tell"] for p in page["people"])
    w.t.breaches.notify_individuals(w.breach, "{{ organisation }}: {{ breach.title }}")
    again = w.t.breaches.for_tenant_people(w.breach, actor=key(w.acme, "admin"))
    assert all(p["told_by_us_at"] for p in again["people"])
    view = w.t.breaches.for_tenant(actor=key(w.acme, "admin"), breach_id=w.breach)[0]
    assert view["your_people_left_to_you"] is False and view["your_clocks"] == []


def test_the_letter_says_how_to_get_the_list_in_the_customer_s_time(home, clock):
    w = _told(world(home, clock))
    mail = {m.to_addr: m.body_text for m in outbox_mail(w.t)}
    acme, bolt = mail["office@acme.example"], mail["office@bolt.example"]
    # 3 March 2026, 09:00 UTC: 10:00 in Berlin (CET) for Acme's German people, 04:00 in
    # Toronto for Bolt's Canadian one; each with its offset and its zone named.
    assert "we became aware on Tuesday 3 March 2026 at 10:00 CET (UTC+01:00)" in acme
    assert "Times are in Europe/Berlin." in acme
    assert "at 04:00 EST (UTC-05:00)" in bolt and "Times are in America/Toronto." in bolt
    assert f"/tenant/breaches/{w.breach}" in acme
    base = w.t.ctx.settings.public_url.rstrip("/")
    assert f"GET {base}/api/v1/breaches/{w.breach}/affected" in acme
    assert "Your deadlines for those run from this notice." in acme
    assert "Your people affected: 2." in acme and "Bolt" not in acme
    view = w.t.breaches.for_tenant(actor=key(w.acme, "admin"), breach_id=w.breach)[0]
    (regulator,) = [c for c in view["your_clocks"] if c["audience"] == "regulator"]
    told = view["you_were_told_at"]
    assert regulator["starts_at"] == told and regulator["basis"] == "GDPR Art. 33(1)"
    assert regulator["due_local"].endswith("+01:00") and view["zone"] == "Europe/Berlin"


def test_a_person_moved_to_the_customer_outside_troth_shows_nothing(home, db_url, clock):
    from audit_helpers import edit_row, tampered_entries
    from troth.store.tables import subjects

    w = _told(world(home, clock, db_url))
    # A database writer files Bolt's person under Acme: Acme's list names the row it now
    # finds, but nothing of the person is read (their row no longer matches its seal).
    edit_row(w.t, subjects, w.bolt_people[0], tenant_id=w.acme)
    page = w.t.breaches.for_tenant_people(w.breach, actor=key(w.acme, "admin"))
    moved = {p["subject_id"]: p for p in page["people"]}[w.bolt_people[0]]
    assert moved["contact"] == [] and moved["withheld"] == "record_tampered"
    assert sorted(e for es in _emails(page).values() for e in es) == [
        "a0@acme.example",
        "a1@acme.example",
    ]
    (refused,) = tampered_entries(w.t, "use")
    assert refused.subject_id == w.bolt_people[0] and refused.details["breach"] == w.breach


def test_a_customer_with_people_in_two_zones_reads_the_vendor_s_with_offsets(home):
    from datetime import UTC, datetime

    from breach_helpers import payroll_policy
    from troth.breaches.controller_letter import customer_zone, letter_time

    ctx = home("phone-service", edit=payroll_policy(), context=True)
    assert str(customer_zone(ctx, ["gdpr"])) == "Europe/Berlin"
    assert str(customer_zone(ctx, ["gdpr", "pipeda"])) == "America/Toronto"
    assert str(customer_zone(ctx, [])) == "America/Toronto"
    summer = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    assert letter_time(summer, customer_zone(ctx, ["gdpr"])) == (
        "Wednesday 1 July 2026 at 14:00 CEST (UTC+02:00)"
    )
    assert letter_time(summer, customer_zone(ctx, ["pipeda"])).endswith("EDT (UTC-04:00)")
