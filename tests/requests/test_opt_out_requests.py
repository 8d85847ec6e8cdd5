"""A CCPA opt-out of sale/sharing made as a request (trial #19 F4; REGULATIONS.md "Opt-out
of sale/sharing (CCPA): honoured within 15 business days"; 11 CCR 7026(d), (f), (j)).

An objection or restriction of a Californian naming (or, an objection naming none,
covering by default) a ``sale_or_sharing`` purpose is an opt-out: due 15 business days
after the day received where the organisation keeps CCPA time (California state holidays
excluded), no acknowledgement deadline, no extension, and carried out without identity
verification (no code is mailed; verified ``not_required`` as it opens; the worker carries
it out). Before, it took the 45 days of 7021 and waited for a code. Other requests, other
regimes and purposes that are not sold keep their rules. SQLite and PostgreSQL for the
requests; the date arithmetic on its own."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from _http import api_key, client_for, csrf_from, privacy_sign_in
from requests_helpers import mails_for, verified
from troth.clock import ManualClock
from troth.engine import Troth
from troth.errors import Conflict, NotFound, ValidationError
from troth.gate import Actor, ActorKind
from troth.policy.model import Regime
from troth.requests.deadlines import (
    CCPA_OPT_OUT,
    OPT_OUT_RULES,
    due_date,
    opt_out_due,
    opt_out_rule,
    rule_for,
    working_days_between,
)

D = date
SALE = "personalisation"  # mindlink: marketing, and sold/shared


# -- the rule, as data -----------------------------------------------------------------
def test_the_opt_out_rule_is_data_and_each_number_is_the_regulations() -> None:
    assert set(OPT_OUT_RULES) == {Regime.ccpa} and OPT_OUT_RULES[Regime.ccpa] is CCPA_OPT_OUT
    rule = CCPA_OPT_OUT
    assert rule.regime is Regime.ccpa and "7026" in rule.basis
    assert rule.honour_within_business_days == 15  # 7026(f)
    assert rule.verification_required is False  # 7026(d)
    assert rule.acknowledge_within is None and rule.extension_allowed is False
    assert rule.reask_after_months == 12 and rule.log_retention_months == 24
    for regime in ("gdpr", "uk_gdpr", "pipeda", "nz", "au"):
        assert opt_out_rule(regime) is None
        with pytest.raises(ValidationError) as err:
            opt_out_due(D(2026, 1, 5), regime)
        assert err.value.code == "no_opt_out_rule"


@pytest.mark.parametrize(
    ("received", "due"),
    [
        # Trial #19: Wed 24 Dec 2025; Christmas and New Year's Day are not business days.
        (D(2025, 12, 24), D(2026, 1, 16)),
        # 2027 ends with both holidays observed on Fridays (24 and 31 Dec), and Martin
        # Luther King Jr. Day (17 Jan 2028) falls on what would be day 15.
        (D(2027, 12, 23), D(2028, 1, 18)),
        # Thanksgiving and the day after (26-27 Nov 2026), California state holidays.
        (D(2026, 11, 23), D(2026, 12, 16)),
        # Received on a Saturday before Martin Luther King Jr. Day: counted from Tuesday.
        (D(2026, 1, 17), D(2026, 2, 9)),
        # Cesar Chavez Day (31 Mar 2026), a California holiday only.
        (D(2026, 3, 24), D(2026, 4, 15)),
        # Plain weeks: 1 Jul 2025 (Independence Day, 4 Jul, excluded).
        (D(2025, 7, 1), D(2025, 7, 23)),
    ],
)
def test_15_business_days_over_year_ends_and_holidays(received: date, due: date) -> None:
    assert opt_out_due(received) == due
    assert opt_out_due(received, "ccpa") == due
    assert working_days_between(Regime.ccpa, received, due) == 15
    assert due < due_date(Regime.ccpa, received)  # shorter than the 45 days of 7021


@given(st.dates(min_value=D(2024, 1, 1), max_value=D(2030, 12, 31)))
def test_the_deadline_is_always_the_15th_business_day(received: date) -> None:
    due = opt_out_due(received)
    assert working_days_between(Regime.ccpa, received, due) == 15
    assert rule_for(Regime.ccpa).calendar.is_working_day(due)
    # and never sooner: the day before it still leaves business days to count
    assert working_days_between(Regime.ccpa, received, due - timedelta(days=1)) == 14


# -- requests --------------------------------------------------------------------------
def _californians(policy: dict[str, Any]) -> None:
    """Mindlink with Californians, its CCPA time kept in Los Angeles."""
    policy["organisation"]["jurisdictions"].append("ccpa")
    policy["organisation"]["time_zones"] = {"ccpa": "America/Los_Angeles"}


@pytest.fixture
def t(home: Any, db_url: str) -> Troth:
    ctx = home("mindlink", db_url, edit=_californians, clock=ManualClock(), context=True)
    return Troth(ctx)


def person(t: Troth, email: str = "dan@example.com", regime: str = "ccpa") -> str:
    sid = t.collect(
        "newsletter_signup",
        {"name": "Dan", "email": email},
        consents=["newsletter"],
        jurisdiction=regime,
    ).subject_id
    t.consent.grant(sid, SALE)
    return str(sid)


def codes_mailed(t: Troth, request_id: str) -> int:
    return sum(1 for m in mails_for(t, request_id) if ":code:" in m["idempotency_key"])


@pytest.mark.parametrize(
    ("kind", "details"),
    [
        ("object", {"purposes": [SALE]}),
        ("object", None),  # names none: mindlink's marketing purposes include the sold one
        ("restrict", {"purposes": [SALE, "newsletter"]}),
    ],
)
def test_an_opt_out_request_takes_15_business_days_and_no_verification(
    t: Troth, kind: str, details: dict[str, Any] | None
) -> None:
    sid = person(t)
    req = t.requests.open(
        kind, email="dan@example.com", details=details, received_at="2025-12-24T10:00"
    )
    assert req.subject_id == sid and req.received_on == D(2025, 12, 24)
    assert req.due_at == D(2026, 1, 16) and req.acknowledge_by is None
    assert req.state.value == "verified" and req.verification == "not_required"
    assert codes_mailed(t, req.id) == 0
    assert any(":ack" in m["idempotency_key"] for m in mails_for(t, req.id))  # told
    with pytest.raises(Conflict):
        t.requests.verify_by_staff(req.id, staff="dpo", reason="ID seen")  # already
    with pytest.raises(ValidationError) as err:
        t.requests.extend(req.id, "busy")
    assert err.value.code == "extension_not_allowed"
    done = t.requests.execute(req.id)
    assert done.state.value == "completed"
    if kind == "object":  # withdrawn in the ledger
        assert not t.consent.state(sid)[SALE].granted
    else:  # restricted: the gate refuses the use
        assert done.result is not None and SALE in done.result["systems"][0]["new"]


@pytest.mark.parametrize(
    ("regime", "kind", "details"),
    [
        ("ccpa", "object", {"purposes": ["newsletter"]}),  # not sold or shared
        ("ccpa", "access", None),
        ("ccpa", "delete", None),
        ("gdpr", "object", {"purposes": [SALE]}),  # no opt-out rule of its own
    ],
)
def test_other_requests_keep_their_rules(
    t: Troth, regime: str, kind: str, details: dict[str, Any] | None
) -> None:
    person(t, regime=regime)
    req = t.requests.open(
        kind, email="dan@example.com", details=details, received_at="2025-12-24T10:00"
    )
    assert req.due_at == due_date(regime, D(2025, 12, 24))
    assert req.state.value == "identity_unverified" and codes_mailed(t, req.id) == 1


def test_the_day_received_is_where_the_organisation_keeps_ccpa_time(t: Troth) -> None:
    """07:30 UTC on 24 Dec 2025 is 23:30 on 23 Dec in Los Angeles: received the 23rd, due
    a business day earlier than one received half an hour after midnight there."""
    person(t)
    early = t.requests.open(
        "object", email="dan@example.com", received_at="2025-12-24T07:30:00+00:00"
    )
    late = t.requests.open(
        "object", email="dan@example.com", received_at="2025-12-24T08:30:00+00:00"
    )
    assert early.received_on == D(2025, 12, 23) and early.due_at == D(2026, 1, 15)
    assert late.received_on == D(2025, 12, 24) and late.due_at == D(2026, 1, 16)


def test_unknown_and_erased_people_are_answered_alike_and_nothing_is_recorded(t: Troth) -> None:
    sid = person(t, "erin@example.com")
    t.requests.execute(verified(t, "delete", "erin@example.com"))
    before = len(t.consent.history(sid))
    for addr in ("erin@example.com", "nobody@example.com"):
        req = t.requests.open("object", email=addr, regime="ccpa", details={"purposes": [SALE]})
        assert req.subject_id is None and req.verification == "not_required"
        assert codes_mailed(t, req.id) == 0
        assert t.requests.execute(req.id).state.value == "completed"
    assert len(t.consent.history(sid)) == before


def test_an_agents_opt_out_waits_for_staff_to_check_the_agent(t: Troth) -> None:
    """7026(j): the business may ask an agent for the person's signed permission."""
    person(t)
    req = t.requests.open(
        "object",
        email="dan@example.com",
        on_behalf_of="Ann Lee, authorised agent",
        agent_email="ann@agents.example",
        details={"purposes": [SALE]},
        received_at="2025-12-24T10:00",
    )
    assert req.state.value == "awaiting_approval" and req.due_at == D(2026, 1, 16)


def test_purposes_named_later_make_it_an_opt_out_from_the_day_received(t: Troth) -> None:
    sid = person(t)
    req = t.requests.open(
        "restrict",
        email="dan@example.com",
        details={"purposes": ["newsletter"]},
        received_at="2025-12-24T10:00",
    )
    assert req.due_at == D(2026, 2, 7) and req.state.value == "identity_unverified"
    now = t.requests.set_details(req.id, purposes=[SALE])
    assert now.due_at == D(2026, 1, 16) and now.acknowledge_by is None
    assert now.state.value == "verified" and now.verification == "not_required"
    # It may not stop being one: it was verified only because it is one.
    with pytest.raises(ValidationError) as err:
        t.requests.set_details(req.id, purposes=["newsletter"])
    assert err.value.code == "opt_out_purposes_required"
    assert t.requests.get(req.id).details["purposes"] == [SALE]
    assert t.consent.state(sid)[SALE].granted  # not carried out yet


def test_the_worker_carries_out_opt_outs_waiting(t: Troth) -> None:
    sid = person(t)
    other = t.requests.open("object", email="dan@example.com", details={"purposes": ["newsletter"]})
    req = t.requests.open("object", email="dan@example.com", details={"purposes": [SALE]})
    said = t.requests.run_due()
    assert said.startswith("0 erasure(s)") and "1 opt-out(s) of sale/sharing carried out" in said
    assert t.requests.get(req.id).state.value == "completed"
    assert not t.consent.state(sid)[SALE].granted
    assert t.requests.get(other.id).state.value == "identity_unverified"  # not an opt-out
    assert "opt-out" not in t.requests.run_due()  # nothing more waiting


def test_over_http_and_from_the_privacy_centre(t: Troth) -> None:
    sid = person(t)
    with client_for(t.ctx) as c:
        desk = api_key(c, ["requests:admin"])
        body = {"kind": "object", "email": "dan@example.com", "details": {"purposes": [SALE]}}
        r = c.post("/api/v1/requests", json=body, headers=desk)
        assert r.status_code == 201, r.text
        out = r.json()
        assert out["state"] == "verified" and out["verification"] == "not_required"
        assert out["due_at"] == opt_out_due(t.requests.today("ccpa")).isoformat()
        assert out["acknowledge_by"] is None
        privacy_sign_in(c, t.ctx, "dan@example.com")
        token = csrf_from(c.get("/privacy/me").text)
        r = c.post("/privacy/me/requests", data={"kind": "object", "csrf_token": token})
        assert "done=request" in str(r.url), r.text
    mine = [x for x in t.requests.of_subject(sid) if x.channel.value == "self_service"]
    assert [x.verification for x in mine] == ["not_required"]


def test_a_key_that_only_opens_requests_learns_nothing_from_the_state(t: Troth) -> None:
    """A Californian's opt-out is verified as it opens, an unknown address's (under the
    default regime) waits for a code: the answer to a key with ``requests`` alone hides
    the state with the deadlines, so the two answer alike (trial 11's oracle)."""
    person(t)
    with client_for(t.ctx) as c:
        key = api_key(c, ["requests"])
        answers = []
        for addr in ("dan@example.com", "nobody@example.com"):
            body = {"kind": "object", "email": addr, "details": {"purposes": [SALE]}}
            r = c.post("/api/v1/requests", json=body, headers=key)
            assert r.status_code == 201, r.text
            answers.append({k: v for k, v in r.json().items() if k not in ("id", "received_at")})
        assert answers[0] == answers[1]
        assert answers[0]["state"] is None and answers[0]["verification"] is None
        # Naming the regime, the key is told its rule, for both alike.
        named = []
        for addr in ("dan@example.com", "nobody2@example.com"):
            body = {"kind": "object", "email": addr, "regime": "ccpa"}
            out = c.post("/api/v1/requests", json=body, headers=key).json()
            named.append((out["state"], out["verification"], out["due_at"]))
        assert named[0] == named[1] and named[0][:2] == ("verified", "not_required")


def _sold_improvement(policy: dict[str, Any]) -> None:
    policy["organisation"]["jurisdictions"].append("ccpa")
    for p in policy["purposes"]:
        if p["id"] == "service_improvement":
            p["sale_or_sharing"] = True


def test_another_tenants_person_is_unknown(home: Any, db_url: str) -> None:
    t = home("phone-service", db_url, edit=_sold_improvement)
    acme = t.access.tenants.create_tenant("Acme", "office@acme.example")
    bolt = t.access.tenants.create_tenant("Bolt", "office@bolt.example")
    call = {"extension": "12", "duration_seconds": 30, "destination_number": "+441234567890"}
    theirs = t.collect("call_record_import", call, tenant_id=bolt, jurisdiction="ccpa").subject_id
    key = Actor(ActorKind.application, "acme-key", tenant_id=acme)
    with pytest.raises(NotFound):
        t.requests.open(
            "object",
            subject_id=theirs,
            details={"purposes": ["service_improvement"]},
            actor=key,
        )
    assert t.requests.of_subject(theirs) == []
