"""P17 (ixanet): every access is in the audit log, not only the vendor's. A tenant's members
and keys reading a person's records (consents, disclosures, requests), and the privacy
office reading the audit log or one person's trail, leave an entry once the read is made;
the person reading their own records and troth itself do not. P20: while a gag runs, the
vendor's looks at a gagged person's records since the demand came are left out of what
the person and their tenant see, like the disclosure itself, and appear once it ends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from troth.access import actor_for
from troth.audit.entries import LoggedEntry, list_entries
from troth.clock import ManualClock
from troth.engine import Troth
from troth.errors import NotFound, Refused
from troth.gate import SYSTEM, Actor, ActorKind
from troth.office import read_audit

PW = "correct horse battery staple"


@pytest.fixture
def phone(home: Any, db_url: str) -> Iterator[Troth]:
    t = home("phone-service", db_url, clock=ManualClock())
    yield t
    t.close()


def _member(t: Troth, tenant: str, email: str, role: str) -> Actor:
    tok, _ = t.access.tenants.invite(tenant, email, role=role)
    return actor_for(t.access.tenants.accept_invitation(tok, PW))


def _person(t: Troth, tenant: str, email: str) -> str:
    data = {"company_name": "Co", "name": "Pat", "email": email}
    return t.collect("customer_signup", data, tenant_id=tenant).subject_id


def _last(t: Troth, **where: Any) -> LoggedEntry:
    return list_entries(t.ctx, newest_first=True, limit=1, **where)[0]


def _looks(t: Troth, sid: str) -> list[tuple[str, str, str]]:
    return [
        (e.entry.action, e.entry.actor, e.entry.outcome)
        for e in list_entries(t.ctx, subject_id=sid)
        if e.entry.action.startswith("read_")
    ]


def test_p17_a_tenants_members_and_keys_reading_records_are_audited(phone: Troth) -> None:
    t = phone
    acme = t.access.tenants.create_tenant("Acme", "office@acme.example")
    admin = _member(t, acme, "admin@acme.example", "admin")
    member = _member(t, acme, "mo@acme.example", "member")
    sid = _person(t, acme, "pat@acme.example")
    key = Actor(ActorKind.application, "acme-app", tenant_id=acme, scopes=frozenset({"use"}))

    t.access.records.consents_for(admin, sid)
    t.access.records.consent_history_for(member, sid)
    t.access.records.consents_for(key, sid)
    t.access.records.person_for(member, sid)
    assert _looks(t, sid) == [
        ("read_consents", admin.label, "allow"),
        ("read_consents", member.label, "allow"),
        ("read_consents", key.label, "allow"),
        ("read_lookup", member.label, "allow"),
    ]
    entry = _last(t, subject_id=sid).entry
    assert entry.tenant_id == acme and entry.details == {"record": "lookup"}

    # The person reading their own records, and troth itself, leave nothing.
    t.access.records.consents_for(Actor(ActorKind.subject, sid), sid)
    t.access.records.consents_for(SYSTEM, sid)
    assert len(_looks(t, sid)) == 4


def test_p17_another_tenants_member_is_refused_audited_and_told_nothing(phone: Troth) -> None:
    t = phone
    acme = t.access.tenants.create_tenant("Acme", "office@acme.example")
    bolt = t.access.tenants.create_tenant("Bolt", "office@bolt.example")
    theirs = _person(t, bolt, "pat@bolt.example")
    spy = _member(t, acme, "spy@acme.example", "admin")
    with pytest.raises(NotFound):
        t.access.records.consents_for(spy, theirs)
    # Filed in the spy's own tenant's log, naming the id asked for; never in the person's
    # log or their tenant's, which would tell them who tried.
    assert _looks(t, theirs) == []
    (look,) = [e.entry for e in list_entries(t.ctx, actor=spy.label, action="read_consents")]
    assert (look.outcome, look.reason, look.tenant_id) == ("deny", "not_a_member", acme)
    assert look.subject_id is None and look.details["subject_named"] == theirs
    # Nothing is recorded as allowed for a malformed or unknown id either.
    with pytest.raises(NotFound):
        t.access.records.consents_for(spy, "not-an-id'; --")
    assert _last(t).entry.outcome == "deny"


def test_p17_the_offices_reads_of_the_log_are_audited_once_read(phone: Troth) -> None:
    t = phone
    acme = t.access.tenants.create_tenant("Acme", "office@acme.example")
    sid = _person(t, acme, "pat@acme.example")
    dpo = actor_for(
        t.access.accounts.add_user("dpo@vendor.example", kind="staff", role="privacy_office")
    )

    # One person's trail: a look at their records, under their tenant, made after the read
    # (the page read does not list itself).
    trail = read_audit(t.ctx, dpo, subject_id=sid)
    assert all(e.entry.action != "read_audit" for e in trail)
    look = _last(t).entry
    assert (look.action, look.actor, look.outcome) == ("read_audit", dpo.label, "allow")
    assert (look.subject_id, look.tenant_id) == (sid, acme)
    assert look.details == {"power": "read_audit", "record": "audit"}
    # The customer sees the vendor's office read its customer's trail.
    assert "read_audit" in [x.action for x in t.access.grants.vendor_accesses(acme)]

    # The whole log, with filters: one entry naming no one, with what was asked.
    page = read_audit(t.ctx, dpo, outcome="deny", action="use", limit=5)
    look = _last(t).entry
    assert (look.action, look.subject_id, look.tenant_id) == ("office.read_audit", None, None)
    assert look.details == {
        "power": "read_audit",
        "operation": "read",
        "outcome": "deny",
        "action": "use",
    }
    assert page == []

    # Walking on from a page (a CSV download) adds nothing: the walk was one look.
    n = _last(t).seq
    first = read_audit(t.ctx, dpo, limit=2)
    read_audit(t.ctx, dpo, limit=2, after_seq=first[-1].seq)
    assert _last(t).seq == n + 1

    # An id that names nobody: the look names no one, and says what was asked.
    assert read_audit(t.ctx, dpo, subject_id="nobody-at-all") == []
    look = _last(t).entry
    assert look.subject_id is None and look.details["unknown_subject"] == "nobody-at-all"

    # A refusal is audited as before, and no allowed look is recorded for it.
    support = Actor(ActorKind.staff, "sam", role="support")
    with pytest.raises(Refused):
        read_audit(t.ctx, support, subject_id=sid)
    refused = _last(t).entry
    assert (refused.action, refused.outcome) == ("office.read_audit", "deny")


def test_p20_the_vendors_looks_at_a_gagged_persons_records_are_hidden(phone: Troth) -> None:
    t = phone
    clock = t.ctx.clock
    assert isinstance(clock, ManualClock)
    acme = t.access.tenants.create_tenant("Acme", "office@acme.example")
    member = _member(t, acme, "mo@acme.example", "member")
    sid = _person(t, acme, "pat@acme.example")
    other = _person(t, acme, "al@acme.example")
    dpo = actor_for(
        t.access.accounts.add_user("dpo@vendor.example", kind="staff", role="privacy_office")
    )
    read_audit(t.ctx, dpo, subject_id=sid)  # before any demand: shown
    clock.advance(days=1)
    demand = t.disclosures.record_demand(
        authority="Crown Court",
        instrument="court_order",
        reference="CO-1",
        scope="account records",
        categories=["company", "contact", "identity", "call_records", "destination_numbers"],
        recipient="authorities",
        gag_until=clock.now() + timedelta(days=30),
    ).id
    read_audit(t.ctx, dpo, subject_id=sid)  # answering the demand
    t.access.records.disclosures_for(dpo, sid)
    t.disclosures.disclose(sid, "authorities", "legal_requirement", dpo, legal_demand_id=demand)
    t.access.records.disclosures_for(dpo, sid)
    t.access.records.consents_for(member, sid)  # the customer's own look: not the vendor's
    read_audit(t.ctx, dpo, subject_id=other)  # another person: no gag on them

    def seen_by_person(who: str) -> list[str]:
        return [e.entry.action for e in t.disclosures.person_entries(who)]

    def vendor_looks() -> list[tuple[str, str | None]]:
        return [(x.action, x.subject_id) for x in t.access.grants.vendor_accesses(acme)]

    during = seen_by_person(sid)
    assert during.count("read_audit") == 1 and "read_disclosures" not in during
    assert "disclose" not in during and "read_consents" in during
    assert seen_by_person(other).count("read_audit") == 1
    assert sorted(vendor_looks()) == sorted([("read_audit", other), ("read_audit", sid)])
    # The office sees everything throughout (this read is recorded after it is made).
    office_view = [e.entry.action for e in read_audit(t.ctx, dpo, subject_id=sid, limit=100)]
    assert office_view.count("read_audit") == 2 and office_view.count("read_disclosures") == 2

    clock.advance(days=30)
    after = seen_by_person(sid)
    assert after.count("read_audit") == 3 and after.count("read_disclosures") == 2
    assert "disclose" in after
    assert sorted(a for a, s in vendor_looks() if s == sid).count("read_disclosures") == 2


def test_p17_the_offices_registers_and_list_of_people_are_audited(phone: Troth) -> None:
    from troth.consent.register import list_consent_events
    from troth.disclosures.register import list_disclosures

    t = phone
    acme = t.access.tenants.create_tenant("Acme", "office@acme.example")
    _person(t, acme, "pat@acme.example")
    dpo = actor_for(
        t.access.accounts.add_user("dpo@vendor.example", kind="staff", role="privacy_office")
    )
    people, n = t.access.records.list_people(dpo, tenant_id=acme)
    assert n == len(people) == 1
    list_consent_events(t.ctx, dpo, purpose="marketing", granted=False)
    list_disclosures(t.ctx, dpo, recipient="authorities")
    looks = [e.entry for e in list_entries(t.ctx, newest_first=True, limit=3)][::-1]
    assert [(e.action, e.actor, e.outcome, e.subject_id) for e in looks] == [
        ("office.manage_requests", dpo.label, "allow", None),
        ("office.manage_requests", dpo.label, "allow", None),
        ("office.legal_demands", dpo.label, "allow", None),
    ]
    assert [e.details for e in looks] == [
        {"power": "manage_requests", "operation": "list_people", "tenant": acme},
        {
            "power": "manage_requests",
            "operation": "list_consents",
            "purpose": "marketing",
            "granted": "False",
        },
        {"power": "legal_demands", "operation": "list_disclosures", "recipient": "authorities"},
    ]
    # A role without the power: refused, audited as a refusal, and no allowed read.
    support = Actor(ActorKind.staff, "sam", role="support")
    n = _last(t).seq
    for read in (
        lambda: t.access.records.list_people(support),
        lambda: list_consent_events(t.ctx, support),
        lambda: list_disclosures(t.ctx, support),
    ):
        with pytest.raises(Refused):
            read()
    denied = list_entries(t.ctx, after_seq=n)
    assert [e.entry.outcome for e in denied] == ["deny"] * 3
