"""Need to know for consents (trial #19 F7): that a member consented to "use my sexual
orientation to suggest matches", or to a face check, is itself close to special-category
data. A role sees a person's consents only for the purposes it acts for; the office (the
power ``manage_requests``) sees every one; a customer's side never the vendor's own; an
erased person's consents are the office's. The same through the Python service, the API
(a console session), the console's person page and ``troth consent state --actor``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from _http import api_key, client_for, console_login
from cli_runner import run
from dating_samples import CONSENTS, COOKIES, STAFF_ROLES, Dating, dating_home
from requests_helpers import verified
from troth.audit.entries import list_entries
from troth.errors import NotFound, Refused
from troth.gate import SYSTEM, Actor, ActorKind

EVERY = frozenset(CONSENTS) | frozenset(COOKIES)
# What each staff role sees of a member's consents (purposes and cookie choices): the
# purposes the policy lists for the role, a cookie choice by the purpose its category
# declares (the analytics category declares none: only the office's).
SEEN: dict[str, frozenset[str]] = {
    "privacy_office": EVERY,
    "member_support": frozenset(),
    "billing_team": frozenset(),
    "moderator": frozenset(),
    "marketing": frozenset({"email_news", "push_news"}),
    "verification_desk": frozenset({"identity_verification"}),
}
# A customer's side never sees the vendor's own purposes (vendor_only), whatever it is.
NOT_VENDOR = frozenset({"email_news", "push_news", "community_events", "cookie:analytics"})


@pytest.fixture
def d(home: Any, tmp_path: Path) -> Dating:
    return dating_home(home, tmp_path)


def _state(d: Dating, actor: Actor, sid: str) -> frozenset[str]:
    return frozenset(d.t.access.records.consents_for(actor, sid))


def _history(d: Dating, actor: Actor, sid: str) -> frozenset[str]:
    return frozenset(e["purpose"] for e in d.t.access.records.consent_history_for(actor, sid))


@pytest.mark.parametrize("role", STAFF_ROLES)
@pytest.mark.parametrize("person", ["anna", "max"])
def test_each_role_sees_the_consents_of_its_own_purposes_only(
    d: Dating, role: str, person: str
) -> None:
    """Each staff role against each consent (orientation, the face check, marketing, ads,
    the community's events, cookie choices), of the vendor's own member and of a partner
    community's: the state and the whole history alike."""
    sid = getattr(d, person)
    assert frozenset(d.t.consent.state(sid)) == EVERY  # every consent is there to be seen
    actor = d.staff[role]
    assert _state(d, actor, sid) == SEEN[role]
    assert _history(d, actor, sid) == SEEN[role]


def test_the_trials_moderator_reads_no_consent(d: Dating) -> None:
    """The trial's repro: the moderation contractor's staff read Anna's consent to use her
    orientation and to the face check; now nothing, and the read is audited, naming what
    it showed (nothing)."""
    rui = d.staff["moderator"]
    assert d.t.access.records.consents_for(rui, d.anna) == {}
    assert d.t.access.records.consent_history_for(rui, d.anna) == []
    look = list_entries(d.t.ctx, subject_id=d.anna, actor=rui.label, action="read_consents")
    assert [(e.entry.outcome, e.entry.details["purposes"]) for e in look] == [
        ("allow", []),
        ("allow", []),
    ]
    office = d.staff["privacy_office"]
    d.t.access.records.consents_for(office, d.anna)
    (seen,) = list_entries(d.t.ctx, actor=office.label, action="read_consents")
    assert seen.entry.details["purposes"] == sorted(EVERY)


def test_an_asserted_role_unknown_to_the_policy_sees_nothing(d: Dating) -> None:
    ghost = Actor(ActorKind.staff, "eve", role="no_such_role")
    with pytest.raises(Refused) as refused:
        d.t.access.records.consents_for(ghost, d.anna)
    assert refused.value.reason == "role_not_allowed"


def test_a_customers_side_sees_its_own_purposes_never_the_vendors(d: Dating) -> None:
    """The community's event host sees the consent its role acts for; its admin (no
    member role) every consent but the vendor's own; a key bound to it the same; the
    vendor's own key everything (it has no role: its scopes decide, as before)."""
    assert _state(d, d.host, d.max) == {"community_events"}
    assert _history(d, d.host, d.max) == {"community_events"}
    assert _state(d, d.admin, d.max) == NOT_VENDOR
    key = Actor(ActorKind.application, "crm", tenant_id=d.pride, scopes=frozenset({"use"}))
    assert _state(d, key, d.max) == NOT_VENDOR
    vendor_key = Actor(ActorKind.application, "app", scopes=frozenset({"use"}))
    assert _state(d, vendor_key, d.max) == EVERY
    # The person themself and troth: everything, as before.
    assert _state(d, Actor(ActorKind.subject, d.max), d.max) == EVERY
    assert _state(d, SYSTEM, d.max) == EVERY


def test_another_customers_person_is_unknown_to_every_member(d: Dating) -> None:
    """Olly belongs to another community: its host, and Pride's host and admin, get the
    unknown person's answer, the attempt filed in the asker's own log."""
    for actor in (d.host, d.admin):
        with pytest.raises(NotFound):
            d.t.access.records.consents_for(actor, d.olly)
        with pytest.raises(NotFound):
            d.t.access.records.consent_history_for(actor, d.olly)
    assert _state(d, d.other_host, d.olly) == {"community_events"}
    with pytest.raises(NotFound):
        d.t.access.records.consents_for(d.other_host, d.max)
    # An id that names nobody: the same answer, for staff too.
    with pytest.raises(NotFound):
        d.t.access.records.consents_for(d.staff["marketing"], "0" * 32)


def test_an_erased_persons_consents_are_the_offices(d: Dating) -> None:
    """After Anna's erasure her consents ended (the ledger keeps the proof): the office
    reads it all; a role reads none of them, not even of the purposes it acts for."""
    d.t.requests.execute(verified(d.t, "delete", "anna@example.de"))
    state = d.t.consent.state(d.anna)
    assert not any(state[p].granted for p in CONSENTS)
    for role in STAFF_ROLES:
        expected = EVERY if role == "privacy_office" else frozenset()
        assert _state(d, d.staff[role], d.anna) == expected, role
        assert _history(d, d.staff[role], d.anna) == expected, role


def test_the_api_answers_a_staff_session_with_its_roles_consents(d: Dating) -> None:
    """GET /api/v1/subjects/{id}/consents, as a console session of each role: the same
    purposes as the Python service; a key bound to the community: not the vendor's own."""
    with client_for(d.t.ctx) as c:
        for role in ("moderator", "marketing", "privacy_office"):
            console_login(c, f"{role}@hearthly.example")
            r = c.get(f"/api/v1/subjects/{d.anna}/consents")
            assert r.status_code == 200, r.text
            assert {p["purpose"] for p in r.json()["purposes"]} == SEEN[role], role
        c.cookies.clear()
        bound = api_key(c, ["use"], tenant_id=d.pride)
        r = c.get(f"/api/v1/subjects/{d.max}/consents", headers=bound)
        assert {p["purpose"] for p in r.json()["purposes"]} == NOT_VENDOR
        assert "orientation" not in r.text and "identity_verification" not in r.text
        # Another community's person: the unknown person's 404, as for any id.
        assert c.get(f"/api/v1/subjects/{d.olly}/consents", headers=bound).status_code == 404


def test_the_console_shows_consents_only_to_the_office(d: Dating) -> None:
    """The console's person page shows the consents section to the office (every
    consent); a moderator's page has no such section, whatever the person consented to."""
    with client_for(d.t.ctx) as c:
        console_login(c, "moderator@hearthly.example")
        r = c.get(f"/console/people/{d.anna}")
        assert r.status_code == 200 and 'id="consents-h"' not in r.text
        assert "orientation_matching" not in r.text and "identity_verification" not in r.text
        console_login(c, "privacy_office@hearthly.example")
        r = c.get(f"/console/people/{d.anna}")
        assert r.status_code == 200 and 'id="consents-h"' in r.text
        assert "orientation_matching" in r.text and "identity_verification" in r.text


def test_consent_state_on_the_command_line_as_an_actor(
    d: Dating, capsys: pytest.CaptureFixture[str]
) -> None:
    """`troth consent state ID --actor ...` shows what the gate lets that actor see; the
    operator (no --actor) sees the whole state, as before."""
    home = str(d.t.ctx.home)
    code, out, err = run(
        capsys, "--home", home, "consent", "state", d.anna, "--json",
        "--actor", "staff:moderator@hearthly.example",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out) == {}
    code, out, err = run(
        capsys, "--home", home, "consent", "state", d.anna, "--json",
        "--actor", "staff:marketing@hearthly.example",
    )  # fmt: skip
    assert code == 0, err
    assert set(json.loads(out)) == SEEN["marketing"]
    code, out, _ = run(capsys, "--home", home, "consent", "state", d.anna, "--json")
    assert code == 0 and set(json.loads(out)) == EVERY
    # A member of the community, on another community's person: the unknown person.
    code, out, err = run(
        capsys, "--home", home, "consent", "state", d.olly, "--json",
        "--actor", "tenant_member:host@pride.example@Pride Circle Berlin",
    )  # fmt: skip
    assert code == 1 and "orientation" not in out + err
