"""P20 (mindlink, phone-service): a disclosure under a live non-disclosure order is absent
from everything the person or their tenant can see (privacy centre, access export and its
access log, the tenant's log of the vendor's accesses, mail) and appears once the gag ends
or is lifted; the office sees it throughout."""

from __future__ import annotations

import contextlib
import re
from datetime import timedelta
from typing import Any

import pytest

from _http import api_key, challenge_from, client_for, csrf_from, is_problem
from outbox_helpers import bodies, outbox_mail
from troth.access import actor_for
from troth.audit.entries import list_entries
from troth.clock import ManualClock
from troth.engine import Troth
from troth.errors import NotFound, Refused, ValidationError
from troth.gate import Actor, ActorKind
from troth.requests.holdings import subject_holdings

OFFICE = Actor(ActorKind.staff, "pat", role="privacy_office")
ANN = {"name": "Ann", "email": "ann@example.com", "address": "1 Main St", "product": "x"}
BOB = {"name": "Bob", "email": "bob@example.com", "address": "2 Main St", "product": "y"}
PW = "correct horse battery staple"


def demand(t: Troth, ref: str, gag_days: int | None) -> str:
    now = t.ctx.clock.now()
    return t.disclosures.record_demand(
        authority="Crown Court",
        instrument="production_order",
        reference=ref,
        scope="account records",
        categories=[
            "identity",
            "contact",
            "billing",
            "purchases",
            "account_history",
            "communications",
        ],
        recipient="law_enforcement",
        gag_until=now + timedelta(days=gag_days) if gag_days else None,
    ).id


def disclose(t: Troth, sid: str, demand_id: str) -> str:
    pkg = t.disclosures.disclose(
        sid, "law_enforcement", "legal_compliance", OFFICE, legal_demand_id=demand_id
    )
    return pkg.id


def person_sees(t: Troth, sid: str) -> dict[str, Any]:
    """Every surface made for the person, as plain data."""
    export = subject_holdings(t.ctx, sid)
    mail = outbox_mail(t, subject_id=sid)
    return {
        "centre_log": [e.to_dict() for e in t.disclosures.person_entries(sid)],
        "centre_disclosures": t.disclosures.disclosures_of(sid),
        "export_log": export["access_log"],
        "export_disclosures": export["disclosures"],
        "mail": [m.body_text for m in mail if "disclose" in m.body_text],
    }


def hidden(seen: dict[str, Any]) -> bool:
    return (
        not any(e["action"] == "disclose" for e in seen["centre_log"])
        and not any(e["action"] == "disclose" for e in seen["export_log"])
        and seen["centre_disclosures"] == []
        and seen["export_disclosures"] == []
        and seen["mail"] == []
    )


def shown(seen: dict[str, Any]) -> bool:
    return (
        sum(e["action"] == "disclose" for e in seen["centre_log"]) == 1
        and sum(e["action"] == "disclose" for e in seen["export_log"]) == 1
        and len(seen["centre_disclosures"]) == 1
        and len(seen["export_disclosures"]) == 1
    )


def test_p20_gag_hides_the_disclosure_until_it_ends(home, db_url, clock) -> None:
    t = home("mindlink", db_url)
    ann = t.collect("purchase", ANN).subject_id
    d = demand(t, "PO-1", gag_days=60)
    did = disclose(t, ann, d)

    assert hidden(person_sees(t, ann))
    # The office sees it throughout: its audit log and its own disclosure list.
    office_log = list_entries(t.ctx, subject_id=ann)
    assert [e.entry.details.get("disclosure") for e in office_log if e.entry.action == "disclose"]
    assert [x["id"] for x in t.disclosures.disclosures_of(ann, include_gagged=True)] == [did]
    assert t.disclosures.disclosures_of(ann, include_gagged=True)[0]["gagged_until"]

    # One second before the order ends: still hidden; the worker tells no one.
    clock.advance(days=60, seconds=-1)
    assert t.disclosures.notify_due_demands() == 0
    assert hidden(person_sees(t, ann))

    # The order ends: everything appears, and the person is told once.
    clock.advance(seconds=1)
    assert t.disclosures.notify_due_demands() == 1
    seen = person_sees(t, ann)
    assert shown(seen) and len(seen["mail"]) == 1
    assert seen["centre_disclosures"][0]["legal_demand"]["reference"] == "PO-1"
    assert "gagged_until" not in seen["centre_disclosures"][0]


def test_p20_gag_lifted_early_shows_at_once(home, db_url, clock) -> None:
    t = home("mindlink", db_url)
    ann = t.collect("purchase", ANN).subject_id
    d = demand(t, "PO-2", gag_days=365)
    disclose(t, ann, d)
    clock.advance(days=3)
    assert hidden(person_sees(t, ann))
    # Only a role the policy gives the power `legal_demands` lifts a gag; a refusal is
    # audited and changes nothing.
    with pytest.raises(Refused) as refused:
        t.disclosures.lift_gag(d, actor=Actor(ActorKind.staff, "sam", role="support"))
    assert refused.value.reason == "power_not_granted"
    assert hidden(person_sees(t, ann))
    assert t.disclosures.lift_gag(d, actor=OFFICE) == 1
    seen = person_sees(t, ann)
    assert shown(seen) and len(seen["mail"]) == 1
    assert t.disclosures.notify_due_demands() == 0  # told once, not twice
    lifted = [e for e in list_entries(t.ctx) if e.entry.action == "legal_demand.lift_gag"]
    assert [e.entry.details["demand"] for e in lifted] == [d]
    assert lifted[0].entry.actor == OFFICE.label
    # Lifting twice, a demand without a gag, or an unknown demand: a clear error.
    with pytest.raises(ValidationError, match="no running non-disclosure order"):
        t.disclosures.lift_gag(d)
    with pytest.raises(ValidationError, match="no running non-disclosure order"):
        t.disclosures.lift_gag(demand(t, "PO-3", gag_days=None))
    with pytest.raises(NotFound):
        t.disclosures.lift_gag("nosuchdemand")


def test_p20_one_persons_gag_hides_nothing_of_anothers(home, db_url) -> None:
    t = home("mindlink", db_url)
    ann = t.collect("purchase", ANN).subject_id
    bob = t.collect("purchase", BOB).subject_id
    gagged = demand(t, "PO-A", gag_days=30)
    open_ = demand(t, "PO-B", gag_days=None)
    disclose(t, ann, gagged)
    disclose(t, bob, open_)
    assert hidden(person_sees(t, ann))
    bob_sees = person_sees(t, bob)
    assert shown(bob_sees) and len(bob_sees["mail"]) == 1  # told at once: no gag
    # Ann's gagged disclosure is not in Bob's views either.
    assert all(e["subject_id"] == bob for e in bob_sees["centre_log"])


def test_p20_refused_attempt_under_a_gag_is_hidden_too(home, db_url, clock) -> None:
    t = home("mindlink", db_url)
    ann = t.collect("purchase", ANN).subject_id
    d = demand(t, "PO-4", gag_days=30)
    with pytest.raises(Refused):
        t.disclosures.disclose(
            ann,
            "law_enforcement",
            "legal_compliance",
            OFFICE,
            categories=["credentials"],
            legal_demand_id=d,
        )
    refused = [e for e in list_entries(t.ctx, subject_id=ann) if e.entry.action == "disclose"]
    assert len(refused) == 1 and refused[0].entry.outcome == "deny"  # the office sees it
    assert hidden(person_sees(t, ann))
    clock.advance(days=31)
    log = person_sees(t, ann)["centre_log"]
    assert [e["outcome"] for e in log if e["action"] == "disclose"] == ["deny"]


def test_p20_an_attempt_before_the_demand_was_recorded_is_hidden_too(home, db_url, clock):
    """The usual order: the officer tries to disclose, is refused (``demand_required``:
    record the demand first), records the gagged demand, and discloses under it. The
    first attempt, made before the demand existed, tips the person off as much as the
    disclosure: hidden while the gag runs, shown (as refused) once it ends. An attempt
    for another person, whom the demand does not concern, stays visible to them."""
    t = home("mindlink", db_url)
    ann = t.collect("purchase", ANN).subject_id
    bob = t.collect("purchase", BOB).subject_id
    for sid in (ann, bob):
        with pytest.raises(Refused) as exc:
            t.disclosures.disclose(sid, "law_enforcement", "legal_compliance", OFFICE)
        assert exc.value.reason == "demand_required"
    clock.advance(minutes=5)
    disclose(t, ann, demand(t, "PO-9", gag_days=30))
    assert hidden(person_sees(t, ann))
    bob_log = person_sees(t, bob)["centre_log"]
    assert [e["outcome"] for e in bob_log if e["action"] == "disclose"] == ["deny"]
    clock.advance(days=31)
    log = person_sees(t, ann)["centre_log"]
    assert sorted(e["outcome"] for e in log if e["action"] == "disclose") == ["allow", "deny"]


# -- the privacy centre and the API, through HTTP ------------------------------------------
def _sign_in(c: Any, ctx: Any, email: str) -> None:
    page = c.get("/privacy/signin").text
    code_page = c.post("/privacy/signin", data={"email": email, "csrf_token": csrf_from(page)}).text
    challenge = challenge_from(code_page)
    (body,) = bodies(ctx, to=email, newest_first=True)
    code = re.search(r"\b(\d{6})\b", body)
    assert code
    r = c.post(
        "/privacy/code",
        data={"challenge": challenge, "code": code.group(1), "csrf_token": csrf_from(code_page)},
        follow_redirects=False,
    )
    assert r.status_code == 303


def test_p20_privacy_centre_and_api_during_and_after_a_gag(home: Any, db_url: str) -> None:
    ctx = home("mindlink", db_url, clock=ManualClock(), context=True)
    clock = ctx.clock
    assert isinstance(clock, ManualClock)
    t = Troth(ctx)
    ann = t.collect("purchase", ANN).subject_id
    d = demand(t, "PO-5", gag_days=30)
    disclose(t, ann, d)
    with client_for(ctx) as c:
        _sign_in(c, ctx, ANN["email"])
        me = c.get("/privacy/me").text
        accesses = me.split('id="accesses"')[1]
        assert "passed your" not in accesses and 'id="disclosures"' not in me
        assert "PO-5" not in me and "Crown Court" not in me
        # Lifting needs the office: a weak key, then an unknown and a malformed id.
        weak = api_key(c, ["use"])
        is_problem(c.post(f"/api/v1/legal-demands/{d}/lift-gag", headers=weak), 403)
        office = api_key(c, ["admin"])
        is_problem(c.post("/api/v1/legal-demands/nosuch/lift-gag", headers=office), 404)
        # An over-long id is an unknown one's 404, as the README's security model says
        # (it was a 422 naming the length rule: trial #18 F6).
        too_long = c.post(f"/api/v1/legal-demands/{'x' * 65}/lift-gag", headers=office)
        is_problem(too_long, 404)
        assert "x" * 65 not in too_long.text
        assert "passed your" not in c.get("/privacy/me").text.split('id="accesses"')[1]
        r = c.post(f"/api/v1/legal-demands/{d}/lift-gag", headers=office)
        assert r.status_code == 200, r.text
        assert r.json()["notices_queued"] == 1 and r.json()["demand"]["gag_until"]
        is_problem(c.post(f"/api/v1/legal-demands/{d}/lift-gag", headers=office), 422)
        me = c.get("/privacy/me").text
        assert "passed your" in me.split('id="accesses"')[1] and 'id="disclosures"' in me
        # The authority, never the demand's reference: free text that may name someone
        # (trial #19 F8).
        assert "PO-5" not in me and "Crown Court" in me
    t.close()
    ctx.engine.dispose()


# -- the tenant's view of the vendor's accesses (phone-service) ----------------------------
def test_p20_tenant_log_hides_a_gagged_disclosure(home, db_url, clock) -> None:
    t = home("phone-service", db_url)
    acc = t.access
    acme = acc.tenants.create_tenant("Acme", "office@acme.example")
    tok, _ = acc.tenants.invite(acme, "admin@acme.example", role="admin")
    admin = actor_for(acc.tenants.accept_invitation(tok, PW))
    vendor = actor_for(
        acc.accounts.add_user("ops@vendor.example", kind="vendor_admin", password=PW)
    )
    call = {"extension": "12", "duration_seconds": 30, "destination_number": "+441234567890"}
    sid = t.collect("call_record_import", call, tenant_id=acme).subject_id
    g = acc.grants.request_grant(
        acme, by=vendor, reason="court order", ticket="LEGAL-1", duration=timedelta(days=2)
    )
    acc.grants.approve_grant(g.id, by=admin)
    d = t.disclosures.record_demand(
        authority="Crown Court",
        instrument="court_order",
        reference="CO-9",
        scope="calls",
        categories=["call_records"],
        recipient="authorities",
        gag_until=clock.now() + timedelta(days=30),
    ).id
    t.disclosures.disclose(
        sid, "authorities", "legal_requirement", vendor, ["call_records"], legal_demand_id=d
    )
    t.use(sid, purpose="support", actor=vendor)  # an ordinary look: the tenant sees it
    looks = acc.grants.vendor_accesses(acme)
    assert [x.action for x in looks] == ["use"]
    clock.advance(days=30)
    assert sorted(x.action for x in acc.grants.vendor_accesses(acme)) == ["disclose", "use"]


def look(t: Troth, sid: str) -> None:
    """The office reads a person's data for the legal purpose (refused or not: audited)."""
    with contextlib.suppress(Refused):
        t.use(sid, purpose="legal_compliance", actor=OFFICE)


def test_p20_the_offices_legal_reads_of_a_gagged_person_are_hidden(home, db_url, clock):
    t = home("mindlink", db_url)
    ann = t.collect("purchase", ANN).subject_id
    bob = t.collect("purchase", BOB).subject_id
    look(t, ann)  # a day before the demand was recorded: hidden too, whenever made
    clock.advance(days=1)
    d = demand(t, "PO-6", gag_days=30)
    look(t, ann)  # answering the demand
    disclose(t, ann, d)
    look(t, bob)  # Bob has no gagged disclosure

    def legal_reads(sid: str) -> int:
        log = person_sees(t, sid)
        assert sum(e["action"] == "use" for e in log["centre_log"]) == sum(
            e["action"] == "use" for e in log["export_log"]
        )
        return sum(
            e["action"] == "use" and e["purpose"] == "legal_compliance" for e in log["centre_log"]
        )

    assert legal_reads(ann) == 0 and legal_reads(bob) == 1
    clock.advance(days=30)
    assert legal_reads(ann) == 2
