"""A refused disclosure is filed under the person's customer (trial #20, F7): the vendor's
privacy office refused ``role_not_allowed`` on Roma's guest was audited under no tenant,
so Roma's log of vendor accesses never showed it ("every attempt by the vendor's admins
or staff ... allowed or refused"). Now every refusal about a customer's person names that
customer, hidden by a gag like the rest; an actor bound to another customer is refused in
its own log, never the person's; an id that names nobody files under none. SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from hotel_samples import DPO, POLICE_DESK, Hotels, hotels
from troth.audit.entries import list_entries
from troth.errors import NotFound, Refused, TrothError
from troth.gate import Actor, ActorKind

POLICE = "police_es_it"
FILING = "police_registration"


@pytest.fixture
def h(home: Any, tmp_path: Path, db_url: str) -> Hotels:
    return hotels(home, tmp_path, db_url)


def _refusals(h: Hotels) -> list[Any]:
    """The refused disclosures' entries, newest first."""
    found = list_entries(h.t.ctx, action="disclose", outcome="deny", newest_first=True, limit=1000)
    return [e.entry for e in found]


def _last(h: Hotels) -> Any:
    return _refusals(h)[0]


def _vendor_log(h: Hotels, tenant: str) -> list[Any]:
    return [a for a in h.t.access.grants.vendor_accesses(tenant) if a.action == "disclose"]


def _demand(h: Hotels, gag_days: int | None = None) -> str:
    now = h.t.ctx.clock.now()
    return h.t.disclosures.record_demand(
        authority="Questura di Roma",
        instrument="court_order",
        reference="RG 1",
        scope="register",
        categories=["identity"],
        recipient=POLICE,
        gag_until=now + timedelta(days=gag_days) if gag_days else None,
    ).id


def _refused(h: Hotels, sid: str, actor: Actor, **kw: Any) -> str:
    """Disclose, refused (Refused, or the error that says what to fix): the reason the
    audit entry gives."""
    before = len(_refusals(h))
    with pytest.raises(TrothError):
        h.t.disclosures.disclose(sid, kw.pop("to", POLICE), kw.pop("purpose", FILING), actor, **kw)
    assert len(_refusals(h)) == before + 1  # audited, once
    return str(_last(h).reason)


def test_the_offices_refused_disclosure_is_in_the_hotels_vendor_log(h: Hotels) -> None:
    # Before the fix: tenant_id None, and Roma's vendor-access log listed nothing.
    d = _demand(h)
    assert _refused(h, h.rosa, DPO, legal_demand_id=d) == "role_not_allowed"
    entry = _last(h)
    assert entry.tenant_id == h.roma and entry.subject_id == h.rosa
    [seen] = _vendor_log(h, h.roma)
    assert seen.outcome == "deny" and seen.actor == DPO.label and seen.subject_id == h.rosa
    assert _vendor_log(h, h.madrid) == []


@pytest.mark.parametrize(
    ("kw", "reason"),
    [
        ({"to": "nobody"}, "recipient_not_listed"),  # refused before the person is read
        ({"legal_demand_id": "no-such-demand"}, "demand_required"),
        ({"to": "acquirer", "purpose": "payment"}, "role_not_allowed"),
        ({"categories": ["contact"]}, "purpose_not_declared_for_category"),
    ],
    ids=["recipient", "demand", "role", "category"],
)
def test_every_refusal_of_the_vendors_staff_names_the_persons_hotel(
    h: Hotels, kw: dict[str, Any], reason: str
) -> None:
    for actor in (DPO, POLICE_DESK):
        got = _refused(h, h.rosa, actor, **dict(kw))
        if actor is DPO and reason == "purpose_not_declared_for_category":
            assert got == "role_not_allowed"  # the office's role lacks the purpose first
        elif not (actor is POLICE_DESK and reason == "role_not_allowed"):
            assert got == reason, actor
        assert _last(h).tenant_id == h.roma
    assert len(_vendor_log(h, h.roma)) == 2 and _vendor_log(h, h.madrid) == []


def test_a_vendor_admin_and_a_vendor_key_without_a_grant_are_in_the_log(h: Hotels) -> None:
    ops = Actor(ActorKind.vendor_admin, "ops")
    assert _refused(h, h.eva, ops, to="acquirer", purpose="payment") == "no_grant"
    assert _last(h).tenant_id == h.madrid
    _token, key = h.t.access.keys.create_api_key("tallyroom backend", ["use"])
    vendor_key = Actor(ActorKind.application, key.id, scopes=frozenset({"use"}))
    assert _refused(h, h.eva, vendor_key, to="acquirer", purpose="payment") == "scope_missing"
    assert _last(h).tenant_id == h.madrid
    assert {a.actor for a in _vendor_log(h, h.madrid)} == {ops.label, vendor_key.label}
    assert _vendor_log(h, h.roma) == []


def test_a_gag_hides_the_refusal_until_it_ends(h: Hotels, clock: Any) -> None:
    d = _demand(h, gag_days=30)
    h.t.disclosures.disclose(h.rosa, POLICE, FILING, POLICE_DESK, legal_demand_id=d)
    _refused(h, h.rosa, DPO, legal_demand_id=d)
    assert _last(h).tenant_id == h.roma
    assert _vendor_log(h, h.roma) == []  # neither the disclosure nor the refusal shows
    clock.advance(days=31)
    assert {a.outcome for a in _vendor_log(h, h.roma)} == {"allow", "deny"}


def test_the_hotels_own_refusals_are_its_own_and_another_hotels_stay_out(h: Hotels) -> None:
    # Madrid's key that may not disclose, on Madrid's guest: filed under Madrid.
    assert _refused(h, h.eva, h.key(h.madrid, "use")) == "scope_missing"
    assert _last(h).tenant_id == h.madrid
    # Roma's key and front desk on Madrid's guest: an unknown id, filed under Roma (the
    # caller's own log, the id asked named), never under Madrid.
    desk = h.member(h.roma, "desk@roma.example", role="front_desk")
    for actor in (h.key(h.roma, "admin"), desk):
        with pytest.raises(NotFound):
            h.t.disclosures.disclose(h.eva, POLICE, FILING, actor)
        entry = _last(h)
        assert entry.tenant_id == h.roma and entry.reason == "not_a_member"
        assert entry.subject_id is None and entry.details["subject_named"] == h.eva
    assert not [e for e in _refusals(h) if e.tenant_id == h.madrid and "roma" in e.actor]


@pytest.mark.parametrize("sid", ["0" * 32, "not-an-id", "x" * 5000, "' OR 1=1 --"])
def test_an_id_that_names_nobody_is_filed_under_no_hotel(h: Hotels, sid: str) -> None:
    for actor in (DPO, POLICE_DESK):
        with pytest.raises((NotFound, Refused)):
            h.t.disclosures.disclose(sid, "nobody", FILING, actor)
        assert _last(h).tenant_id is None
        with pytest.raises(NotFound):
            h.t.disclosures.disclose(sid, POLICE, FILING, actor)
    assert _vendor_log(h, h.madrid) == [] and _vendor_log(h, h.roma) == []


def test_a_record_changed_outside_troth_is_refused_under_the_persons_hotel(h: Hotels) -> None:
    import sqlalchemy as sa

    from troth.store.tables import records

    with h.t.ctx.engine.begin() as conn:
        conn.execute(
            sa.update(records)
            .where(records.c.subject_id == h.rosa, records.c.field == "name")
            .values(field="nationality")
        )
    with pytest.raises(TrothError):
        h.t.disclosures.disclose(h.rosa, POLICE, FILING, POLICE_DESK)
    entry = _last(h)
    assert entry.reason == "record_tampered" and entry.tenant_id == h.roma
    assert [a.outcome for a in _vendor_log(h, h.roma)] == ["deny"]
