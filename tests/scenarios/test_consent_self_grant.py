"""Trial #18 F1: a customer may not give itself a person's consent. A clinic's key with
only ``use`` and ``collect`` recorded Maria's consent to ``clinic_sharing`` (body ``{}``)
and then read the health report the vendor had collected for its own (``vendor_only``)
purposes; a receptionist re-granted by CLI a consent the person had withdrawn by letter;
and the person's privacy centre said "You gave consent".

Now a consent that lets a customer's side read the vendor's own data (a purpose reading a
category a ``vendor_only`` purpose uses), or one the policy says ``consent_by: person``,
is refused ``consent_self_grant`` to every customer-side actor (its admins with or without
a role, its members with or without one, a key bound to it whatever its scopes, over
HTTP, the CLI's ``--actor`` and a collection's ticked consents), audited, nothing
recorded; withdrawing stays open to them; the person themself and the vendor's office
and keys still record it; a customer's own marketing (no vendor data) stays the
customer's to record; and a consent someone else recorded is told to the person as
theirs to have recorded ("Lakeshore Clinic's systems recorded that you agreed")."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from _http import client_for
from cli_runner import run
from pulse_samples import PASSWORD, write_policy
from troth.access import actor_for
from troth.audit.entries import list_entries
from troth.consent import ConsentLedger
from troth.engine import Troth
from troth.errors import PolicyError, Refused
from troth.gate import Actor, ActorKind, Record
from troth.policy.loader import parse_policy
from troth.policy.validate import validate_policy
from troth.requests.holdings import subject_holdings
from troth.web.privacy_words import Narrator

API = "/api/v1"
CLINIC = """\
troth: 1
id: helix
multi_tenant: true
version: "1.0"
effective: 2026-01-01
organisation:
  name: Helix Genetics Ltd
  contact: {name: Helix Privacy, email: privacy@helix.example}
  jurisdictions: [gdpr]
subjects:
  - {id: customer, description: People who buy a kit.}
categories:
  - {id: health, description: Health-predisposition reports., sensitive: true, special: true}
purposes:
  - id: account
    description: Run your account.
    legal_basis: contract
    categories: [identity, contact]
  - id: health_reports
    description: Show you your health report.
    legal_basis: consent
    vendor_only: true
    notice: I consent to Helix producing my health report.
    withdraw: Turn off health reports in Settings.
    categories: [identity, health]
  - id: clinic_sharing
    description: Let your clinic see your health report.
    legal_basis: consent
    notice: I permit my clinic to read my health report.
    withdraw: Withdraw clinic access in Settings.
    categories: [contact, health]
  - id: clinic_news
    description: The clinic's own newsletter.
    legal_basis: consent
    marketing: true
    notice: Send me the clinic's newsletter.
    withdraw: Unsubscribe from any newsletter.
    categories: [contact]
  - id: clinic_survey
    description: The clinic's patient survey.
    legal_basis: consent
    consent_by: person
    notice: I agree to answer the clinic's survey.
    withdraw: Tell the clinic.
    categories: [contact]
collection_points:
  - id: signup
    description: Signing up.
    subjects: [customer]
    fields:
      name: {category: identity, required: true}
      email: {category: contact, type: email, required: true, identifies: email}
    purposes: [account, clinic_news, clinic_survey]
  - id: lab_results
    description: Results from the lab.
    subjects: [customer]
    source: observed
    fields:
      health_report: {category: health, type: text, required: true}
    purposes: [health_reports, clinic_sharing]
locations: {allowed: [EU], default: EU}
roles:
  - id: privacy_office
    description: The privacy team.
    categories: [identity, contact]
    purposes: [account]
    powers: [manage_requests, read_audit]
  - id: clinician
    for: tenant_members
    description: A clinic's doctor.
    categories: [contact, health]
    purposes: [clinic_sharing]
  - id: receptionist
    for: tenant_members
    description: A clinic's front desk.
    categories: [contact]
    purposes: [clinic_sharing, clinic_news]
support_access: {requires_customer_grant: true, max_days: 3}
"""
# Every kind of actor on a customer's side.
CUSTOMER_SIDE = (
    "admin",
    "admin_clinician",
    "clinician",
    "receptionist",
    "no_role",
    "key_use_collect",
    "key_collect",
    "key_admin",
)
SHARED = ("clinic_sharing", "clinic_survey")  # only the person's to give


@dataclass
class Clinic:
    t: Troth
    lake: str
    other: str
    actors: dict[str, Actor]
    maria: str
    jamal: str


@pytest.fixture
def clinic(home: Any, tmp_path: Path) -> Clinic:
    t: Troth = home(policy=write_policy(tmp_path, CLINIC, "helix.yaml"))
    acc = t.access
    lake = acc.tenants.create_tenant("Lakeshore Clinic", "office@lakeshore.example")
    other = acc.tenants.create_tenant("Riverside Clinic", "office@riverside.example")

    def member(email: str, trole: str = "member", role: str | None = None) -> Actor:
        tok, _ = acc.tenants.invite(lake, email, role=trole, member_role=role)
        return actor_for(acc.tenants.accept_invitation(tok, PASSWORD))

    def key(scopes: list[str], tenant: str | None) -> Actor:
        _, rec = acc.keys.create_api_key("k", scopes, tenant_id=tenant)
        return Actor(ActorKind.application, rec.id, tenant_id=tenant, scopes=frozenset(scopes))

    actors = {
        "admin": member("boss@lakeshore.example", "admin"),
        "admin_clinician": member("head@lakeshore.example", "admin", "clinician"),
        "clinician": member("dr@lakeshore.example", role="clinician"),
        "receptionist": member("desk@lakeshore.example", role="receptionist"),
        "no_role": member("new@lakeshore.example"),
        "key_use_collect": key(["use", "collect"], lake),
        "key_collect": key(["collect"], lake),
        "key_admin": key(["admin"], lake),
        "vendor_key": key(["use", "collect"], None),
    }
    people = {}
    for name in ("maria", "jamal"):
        email = f"{name}@mail.example"
        sid = t.collect("signup", {"name": name, "email": email}, tenant_id=lake).subject_id
        # The lab's result, collected for the vendor's own purpose (and consented to it).
        t.collect(
            "lab_results", {"health_report": "BRCA1 pathogenic"},
            subject_id=sid, tenant_id=lake, consents=["health_reports"],
        )  # fmt: skip
        people[name] = sid
    return Clinic(t, lake, other, actors, people["maria"], people["jamal"])


def _refused(call: Any) -> str:
    with pytest.raises(Refused) as exc:
        call()
    return str(exc.value.reason)


def _granted(c: Clinic, sid: str) -> set[str]:
    return {p for p, s in ConsentLedger(c.t.ctx).state(sid).items() if s.granted}


def _self_grants(c: Clinic) -> list[Any]:
    return [
        e.entry for e in list_entries(c.t.ctx, limit=2000) if e.entry.reason == "consent_self_grant"
    ]


@pytest.mark.parametrize("who", CUSTOMER_SIDE)
def test_no_customer_side_actor_records_a_consent_only_the_person_gives(
    clinic: Clinic, who: str
) -> None:
    c, actor = clinic, clinic.actors[who]
    records = c.t.access.records
    before = _granted(c, c.maria)
    for purpose in SHARED:
        asked = lambda p=purpose: records.authorize_record(  # noqa: E731
            actor, c.maria, Record.consents, write=True, purpose=p
        )
        assert _refused(asked) == "consent_self_grant", purpose
    # Ticked on a form the customer's side collects: refused the same, nothing stored.
    if actor.kind is ActorKind.application and "use" not in actor.scopes:
        form = {"health_report": "benign"}
        collect = lambda: c.t.collect(  # noqa: E731
            "lab_results", form, subject_id=c.maria, tenant_id=c.lake, actor=actor,
            purposes=["clinic_sharing"], consents=["clinic_sharing"],
        )  # fmt: skip
        assert _refused(collect) == "consent_self_grant"
    assert _granted(c, c.maria) == before
    denied = _self_grants(c)
    assert denied and {e.actor for e in denied} == {actor.label}
    # A refusal of the gate names the person in their own log; the message says who may.
    on_maria = [e for e in denied if e.subject_id == c.maria]
    assert {e.details.get("purpose") for e in on_maria} == set(SHARED)


@pytest.mark.parametrize("who", CUSTOMER_SIDE)
def test_a_withdrawal_and_the_customers_own_marketing_stay_open(clinic: Clinic, who: str) -> None:
    c, actor = clinic, clinic.actors[who]
    records = c.t.access.records
    if who == "no_role":
        # A member without a role (the policy declares roles) writes no consent at all.
        asked = lambda: records.authorize_record(  # noqa: E731
            actor, c.maria, Record.consents, write=True, purpose="clinic_news"
        )
        assert _refused(asked) == "role_not_allowed"
        return
    records.authorize_record(actor, c.maria, Record.consents, write=True, purpose="clinic_news")
    records.authorize_record(actor, c.maria, Record.consents, write=True)  # a withdrawal
    assert not _self_grants(c)


def test_the_trials_attack_over_http_is_refused_and_reads_nothing(clinic: Clinic) -> None:
    c = clinic
    key, _ = c.t.access.keys.create_api_key("lake", ["use", "collect"], tenant_id=c.lake)
    h = {"Authorization": f"Bearer {key}"}
    with client_for(c.t.ctx) as http:
        read = http.get(
            f"{API}/subjects/{c.maria}", params={"purpose": "clinic_sharing"}, headers=h
        )
        assert read.status_code == 403 and read.json()["reason"] == "no_consent"
        r = http.post(f"{API}/subjects/{c.maria}/consents/clinic_sharing/grant", json={}, headers=h)
        assert r.status_code == 403, r.text
        body = r.json()
        assert body["reason"] == "consent_self_grant"
        assert "privacy centre" in body["detail"] and "privacy@helix.example" in body["detail"]
        assert "health" in body["detail"]
        read = http.get(
            f"{API}/subjects/{c.maria}", params={"purpose": "clinic_sharing"}, headers=h
        )
        assert read.status_code == 403 and "BRCA1" not in read.text
        # Another clinic's key: the person is unknown to it (404), as before.
        other, _ = c.t.access.keys.create_api_key("river", ["collect"], tenant_id=c.other)
        r = http.post(
            f"{API}/subjects/{c.maria}/consents/clinic_sharing/grant",
            json={}, headers={"Authorization": f"Bearer {other}"},
        )  # fmt: skip
        assert r.status_code == 404
        # The clinic's own newsletter: the clinic records it, and withdraws any consent.
        r = http.post(f"{API}/subjects/{c.maria}/consents/clinic_news/grant", json={}, headers=h)
        assert r.status_code == 201, r.text
        r = http.post(f"{API}/subjects/{c.maria}/consents/clinic_sharing/withdraw", headers=h)
        assert r.status_code == 200, r.text
    assert _granted(c, c.maria) == {"health_reports", "clinic_news"}


def test_a_receptionist_cannot_regrant_what_the_person_withdrew_by_letter(
    clinic: Clinic, capsys: pytest.CaptureFixture[str]
) -> None:
    c, home = clinic, str(clinic.t.ctx.home)
    # The person agreed in the privacy centre, then withdrew by letter (the office).
    ConsentLedger(c.t.ctx).grant(c.jamal, "clinic_sharing")
    code, _out, err = run(
        capsys, "--home", home, "consent", "withdraw", c.jamal, "clinic_sharing", "--by", "letter"
    )
    assert code == 0, err
    desk = f"tenant_member:desk@lakeshore.example@{c.lake}"
    code, out, err = run(
        capsys, "--home", home, "consent", "grant", c.jamal, "clinic_sharing", "--yes",
        "--by", "phone", "--actor", desk,
    )  # fmt: skip
    assert code != 0, out
    assert "consent_self_grant" in err and "privacy centre" in " ".join(err.split())
    assert "clinic_sharing" not in _granted(c, c.jamal)
    dr = c.actors["clinician"]
    assert _refused(lambda: c.t.use(c.jamal, purpose="clinic_sharing", actor=dr)) == "no_consent"
    # The vendor's office records it again, with the person's evidence (their letter).
    code, out, err = run(
        capsys, "--home", home, "consent", "grant", c.jamal, "clinic_sharing", "--yes",
        "--by", "letter", "--actor", "staff:office", "--json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["granted"] is True
    view = c.t.use(c.jamal, purpose="clinic_sharing", actor=dr)
    assert "BRCA1 pathogenic" in str(view)


def test_the_person_and_the_vendor_still_record_it(clinic: Clinic) -> None:
    c = clinic
    records = c.t.access.records
    person = Actor(ActorKind.subject, c.maria)
    for purpose in SHARED:
        records.authorize_record(person, c.maria, Record.consents, write=True, purpose=purpose)
        records.authorize_record(
            c.actors["vendor_key"], c.maria, Record.consents, write=True, purpose=purpose
        )
    with client_for(c.t.ctx) as http:
        key, _ = c.t.access.keys.create_api_key("own", ["collect"], tenant_id=None)
        r = http.post(
            f"{API}/subjects/{c.maria}/consents/clinic_sharing/grant", json={},
            headers={"Authorization": f"Bearer {key}"},
        )  # fmt: skip
        assert r.status_code == 201, r.text
    assert not _self_grants(c)


def test_the_person_is_told_who_recorded_a_consent(clinic: Clinic) -> None:
    c = clinic
    key = c.actors["key_use_collect"]
    ledger = ConsentLedger(c.t.ctx)
    ledger.grant(c.maria, "clinic_news", method="api", actor=key.label)
    ledger.grant(c.maria, "clinic_sharing")  # the person, in the privacy centre
    from troth.access.who import acting_in

    narrator = Narrator(c.t.ctx.policy, c.maria, acting_in(c.t.ctx))
    entries = sorted(
        (x for x in c.t.disclosures.person_entries(c.maria, limit=200)
         if x.entry.action == "consent.grant"),
        key=lambda x: x.seq,
    )  # fmt: skip
    told = [a.sentence for a in narrator.accesses(entries)]
    assert told[-2:] == [
        "Lakeshore Clinic's systems recorded that you agreed to this use of your data: The"
        " clinic's own newsletter.",
        "You gave consent to this use of your data: Let your clinic see your health report.",
    ]
    assert not any(s.startswith("You gave consent") and "newsletter" in s for s in told)
    # The access export says who recorded each consent event, in the same words.
    events = subject_holdings(c.t.ctx, c.maria)["consents"]["events"]
    said = {e["purpose"]: e["recorded_by"] for e in events}
    assert said["clinic_news"] == "Lakeshore Clinic's systems"
    assert said["clinic_sharing"] == "You"


def test_policy_validate_show_and_diff_say_it(tmp_path: Path) -> None:
    from troth.policy.describe import describe_policy, policy_summary
    from troth.policy.diff import diff_policies

    policy = parse_policy(CLINIC, "helix.yaml")
    assert validate_policy(policy) == []
    summary = {p["id"]: p["consent_by"] for p in policy_summary(policy)["purposes"]}
    assert summary["clinic_sharing"] == summary["clinic_survey"] == "person"
    assert summary["clinic_news"] == "customer" and summary["health_reports"] is None
    words = describe_policy(policy)
    assert words.count("consent recorded only by the person") == 2
    bad = CLINIC.replace(
        "    notice: I permit my clinic", "    consent_by: customer\n    notice: I permit my clinic"
    )
    with pytest.raises(PolicyError) as refused:
        parse_policy(bad, "helix.yaml")
    (issue,) = refused.value.issues
    assert issue.path == "purposes[2].consent_by" and "health" in issue.message
    looser = CLINIC.replace("    consent_by: person\n", "").replace('"1.0"', '"1.1"')
    (change,) = [x for x in diff_policies(policy, parse_policy(looser)).changes
                 if x.item == "consent_by"]  # fmt: skip
    assert change.id == "clinic_survey" and change.severity.value == "material"
