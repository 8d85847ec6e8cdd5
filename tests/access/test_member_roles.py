"""Need to know inside a customer: roles for a customer's members (``for:
tenant_members``). A school (each school a tenant, teachers its members) must not let every
teacher read every pupil's special-needs notes and safeguarding records; a clinic the same
for its patients. The policy declares the roles, an admin of the customer gives each member
one, and the gate applies it exactly as a staff role (purposes, categories, masking)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from _http import PASSWORD, client_for, csrf_from
from school_samples import SCHOOL, school_home
from troth.audit.entries import list_entries
from troth.engine import Troth
from troth.errors import NotFound, PermissionDenied, PolicyError, Refused, ValidationError
from troth.gate import SYSTEM, Actor, ActorKind
from troth.policy.loader import parse_policy
from troth.policy.warnings import policy_warnings
from unknown_helpers import assert_unknown_to

PURPOSES = ("teaching", "sen_support", "safeguarding", "legal_requirement")
# What each role reads of a pupil with every record, per purpose: the rules (README "Who
# may see the data"), written out. None: refused ``role_not_allowed``.
EXPECTED: dict[str, dict[str, set[str] | None]] = {
    "teacher": {
        "teaching": {"identity", "school_info", "grades", "parent_contact"},
        "sen_support": None,
        "safeguarding": None,
        "legal_requirement": None,
    },
    "senco": {
        "teaching": None,
        "sen_support": {"identity", "sen_notes"},
        "safeguarding": None,
        "legal_requirement": None,
    },
    "dsl": {
        "teaching": None,
        "sen_support": None,
        "safeguarding": {"identity", "safeguarding_records"},
        "legal_requirement": {"identity", "safeguarding_records"},
    },
}


@pytest.fixture
def school(home: Any, tmp_path: Path) -> Any:
    """Two schools (:func:`school_samples.school_home`)."""
    return school_home(home, tmp_path)


def _seen(t: Troth, sid: str, purpose: str, actor: Actor) -> set[str] | None:
    try:
        view = t.use(sid, purpose=purpose, actor=actor)
    except Refused as exc:
        assert exc.reason == "role_not_allowed", (purpose, actor, exc.reason, exc.message)
        return None
    return {v.category for v in view.values}


@pytest.mark.parametrize("role", sorted(EXPECTED))
@pytest.mark.parametrize("purpose", PURPOSES)
def test_each_member_role_reads_its_categories_for_its_purposes(
    school: Any, role: str, purpose: str
) -> None:
    t, _maple, _oak, people, lily, _olly = school
    assert _seen(t, lily, purpose, people[role]) == EXPECTED[role][purpose]
    # Asking for a category by name changes nothing: the role decides.
    for cat in ("sen_notes", "safeguarding_records", "grades"):
        try:
            view = t.use(lily, purpose=purpose, actor=people[role], categories=[cat])
        except Refused:
            continue
        assert {v.category for v in view.values} <= (EXPECTED[role][purpose] or set())


def test_a_teacher_reads_no_special_needs_or_safeguarding_record(school: Any) -> None:
    """The trial's repro: a teacher asking for each purpose of the sensitive records."""
    t, _maple, _oak, people, lily, _olly = school
    for purpose in ("sen_support", "safeguarding", "legal_requirement"):
        with pytest.raises(Refused) as exc:
            t.use(lily, purpose=purpose, actor=people["teacher"])
        assert exc.value.reason == "role_not_allowed"
        assert "Dyslexia" not in exc.value.message and "CP concern" not in exc.value.message
    entries = [e.entry for e in list_entries(t.ctx, subject_id=lily, action="use")]
    assert sum(e.outcome == "deny" and e.reason == "role_not_allowed" for e in entries) == 3


def test_a_member_without_a_role_is_refused_and_told_to_ask_an_admin(school: Any) -> None:
    t, _maple, _oak, people, lily, _olly = school
    for purpose in PURPOSES:
        with pytest.raises(Refused) as exc:
            t.use(lily, purpose=purpose, actor=people["nobody"])
        assert exc.value.reason == "role_not_allowed"
        assert "ask an admin of your organisation" in exc.value.message
        assert "teacher" in exc.value.message  # the roles there are
    # Nor may they collect, nor read the records about the person.
    with pytest.raises(Refused) as exc:
        t.collect("grade_entry", {"grade": "A"}, subject_id=lily, actor=people["nobody"])
    assert exc.value.reason == "role_not_allowed"
    with pytest.raises(Refused) as exc:
        t.access.records.consents_for(people["nobody"], lily)
    assert exc.value.reason == "role_not_allowed"


def test_a_role_is_masked_as_the_policy_says(school: Any) -> None:
    t, _maple, _oak, people, lily, _olly = school
    view = t.use(lily, purpose="teaching", actor=people["teacher"])
    phone = next(v.value for v in view.values if v.field == "parent_phone")
    assert phone == "•••• 0123"
    # The office-free system sees it whole (masking is the role's, not the value's).
    whole = t.use(lily, purpose="teaching", actor=SYSTEM)
    assert next(v.value for v in whole.values if v.field == "parent_phone") == "+44 7700 900123"


def test_a_powerful_role_of_one_school_reaches_nothing_of_another(school: Any) -> None:
    t, _maple, oak, people, lily, olly = school
    # The other school's pupil is unknown to them, as an id naming nobody (trial 19, F11;
    # it was Refused not_a_member), and audited not_a_member.
    for purpose in ("safeguarding", "legal_requirement"):
        assert_unknown_to(t, olly, purpose, people["dsl"])
        assert_unknown_to(t, lily, purpose, people["oak_dsl"])
    # An actor claiming the other school's tenant with a role changes nothing either.
    forged = Actor(ActorKind.tenant_member, people["dsl"].id, role="dsl", tenant_id=oak)
    with pytest.raises(Refused) as exc:
        t.use(olly, purpose="safeguarding", actor=forged)
    assert exc.value.reason == "not_a_member"


def test_the_role_a_member_holds_now_decides_not_the_old_session(school: Any) -> None:
    t, maple, _oak, people, lily, _olly = school
    user = t.access.accounts.get_user(people["teacher"].id)
    token, _ = t.access.sessions.start_session(user)
    stale = people["teacher"]  # an actor made before the change
    t.access.tenants.set_member_role(maple, user.id, "senco", by=people["head"])
    # The stale actor (role teacher) is decided on the role held now (senco).
    with pytest.raises(Refused) as exc:
        t.use(lily, purpose="teaching", actor=stale)
    assert exc.value.reason == "role_not_allowed"
    assert _seen(t, lily, "sen_support", stale) == {"identity", "sen_notes"}
    # The session opened before the change acts with the new role too.
    _user, actor = t.access.sessions.resolve_session(token)
    assert actor.role == "senco"
    with client_for(t.ctx) as c:
        c.cookies.set("troth_session", token)
        r = c.get(f"/api/v1/subjects/{lily}?purpose=teaching")
        assert r.status_code == 403 and r.json()["reason"] == "role_not_allowed"
        r = c.get(f"/api/v1/subjects/{lily}?purpose=sen_support")
        assert r.status_code == 200
        assert {v["category"] for v in r.json()["values"]} == {"identity", "sen_notes"}
    # Taken away: refused at once.
    t.access.tenants.set_member_role(maple, user.id, None, by=people["head"])
    with pytest.raises(Refused) as exc:
        t.use(lily, purpose="sen_support", actor=stale)
    assert exc.value.reason == "role_not_allowed"


def test_only_the_schools_own_admin_or_the_office_gives_roles(school: Any) -> None:
    t, maple, _oak, people, _lily, _olly = school
    tenants = t.access.tenants
    target = people["nobody"].id
    # Another school's admin: the 404 of an unknown member, audited, nothing changed.
    with pytest.raises(NotFound):
        tenants.set_member_role(maple, target, "dsl", by=people["oak_head"])
    # A member (even the DSL) is not an admin.
    with pytest.raises(PermissionDenied):
        tenants.set_member_role(maple, target, "dsl", by=people["dsl"])
    # Maple's admin giving Oak's member a role: the 404 of an unknown member.
    with pytest.raises(NotFound):
        tenants.set_member_role(maple, people["oak_dsl"].id, "teacher", by=people["head"])
    # A key bound to Maple, even with the admin scope, acting directly.
    _, key = t.access.keys.create_api_key("maple sis", ["admin"], tenant_id=maple)
    key_actor = Actor(ActorKind.application, key.id, tenant_id=maple, scopes=frozenset({"admin"}))
    with pytest.raises(PermissionDenied):
        tenants.set_member_role(maple, target, "dsl", by=key_actor)
    assert t.access.accounts.get_user(target).role is None
    assert t.access.accounts.get_user(people["oak_dsl"].id).role == "dsl"
    logged = [e.entry for e in list_entries(t.ctx, action="member_role", limit=1000)]
    refused = [e for e in logged if e.outcome == "deny"]
    assert {e.reason for e in refused} == {"not_a_member", "not_tenant_admin"}
    assert len(refused) == 4
    # The admin may, and the office (troth itself) may; both audited with before/after.
    tenants.set_member_role(maple, target, "teacher", by=people["head"])
    tenants.set_member_role(maple, target, "senco")
    assert t.access.accounts.get_user(target).role == "senco"
    logged = [e.entry for e in list_entries(t.ctx, action="member_role", limit=1000)]
    allowed = [e.details for e in logged if e.outcome != "deny"]
    assert [(d["before"], d["after"]) for d in allowed] == [(None, "teacher"), ("teacher", "senco")]


@pytest.mark.parametrize(
    "bad", ["privacy_office", "Teacher", "teacher; drop", "x" * 65, "nosuchrole", "dsl\x00"]
)
def test_a_malformed_or_unknown_role_is_refused(school: Any, bad: str) -> None:
    t, maple, _oak, people, _lily, _olly = school
    with pytest.raises(ValidationError) as exc:
        t.access.tenants.set_member_role(maple, people["nobody"].id, bad, by=people["head"])
    assert "teacher" in exc.value.message and "senco" in exc.value.message
    assert "\x00" not in exc.value.message
    with pytest.raises(ValidationError):
        t.access.tenants.invite(maple, "x@maple.example", member_role=bad, by=people["head"])
    assert t.access.accounts.get_user(people["nobody"].id).role is None
    # A staff account never takes a member's role (nor the reverse).
    with pytest.raises(ValidationError):
        t.access.accounts.add_user("ops@quill.example", role="teacher")


def test_legal_obligation_data_for_the_authorities_is_the_offices(school: Any) -> None:
    """A tenant admin without a role reads as before, except what goes to the
    authorities: the vendor's office acts on it, a member only with a role listing it."""
    t, _maple, _oak, people, lily, _olly = school
    head = people["head"]
    assert "sen_notes" in (_seen(t, lily, "sen_support", head) or set())
    with pytest.raises(Refused) as exc:
        t.use(lily, purpose="legal_requirement", actor=head)
    assert exc.value.reason == "role_not_allowed" and "privacy office" in exc.value.message
    with pytest.raises(Refused) as exc:
        t.disclosures.disclose(lily, "police", "legal_requirement", head)
    assert exc.value.reason in ("role_not_allowed", "demand_required")
    assert _seen(t, lily, "legal_requirement", people["dsl"]) == {
        "identity",
        "safeguarding_records",
    }


def test_a_tenant_admin_with_a_role_reads_as_that_role(school: Any) -> None:
    t, maple, _oak, people, lily, _olly = school
    head = people["head"]
    t.access.tenants.set_member_role(maple, head.id, "teacher", by=head)
    assert _seen(t, lily, "sen_support", head) is None
    assert _seen(t, lily, "teaching", head) == EXPECTED["teacher"]["teaching"]


def _sign_in(c: Any, email: str) -> str:
    page = c.get("/tenant/login").text
    r = c.post(
        "/tenant/login",
        data={"email": email, "password": PASSWORD, "csrf_token": csrf_from(page)},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return csrf_from(c.get("/tenant").text)


def test_the_tenant_pages_give_and_show_roles(school: Any) -> None:
    t, maple, _oak, people, _lily, _olly = school
    target = people["nobody"].id
    with client_for(t.ctx) as c:
        token = _sign_in(c, "head@maple.example")
        page = c.get("/tenant").text
        assert f'id="role-{target}"' in page and '<option value="dsl">dsl</option>' in page
        r = c.post(
            f"/tenant/members/{target}/role",
            data={"csrf_token": token, "member_role": "senco"},
            follow_redirects=False,
        )
        assert r.status_code == 303
        assert t.access.accounts.get_user(target).role == "senco"
        r = c.post(
            f"/tenant/members/{target}/role", data={"csrf_token": "forged", "member_role": "dsl"}
        )
        assert r.status_code == 403
        r = c.post(
            "/tenant/invitations",
            data={"csrf_token": token, "email": "new2@maple.example", "member_role": "teacher"},
            follow_redirects=False,
        )
        assert r.status_code == 303
    assert t.access.accounts.get_user(target).role == "senco"
    assert [i.member_role for i in t.access.tenants.list_invitations(maple)][-1] == "teacher"
    # A member's page tells them their role; one without is told to ask an admin.
    t.access.tenants.set_member_role(maple, target, None)
    with client_for(t.ctx) as c:
        _sign_in_member = c.get("/tenant/login").text
        c.post(
            "/tenant/login",
            data={
                "email": "new@maple.example",
                "password": PASSWORD,
                "csrf_token": csrf_from(_sign_in_member),
            },
        )
        r = c.get("/tenant")
        assert "You have no role yet" in r.text
        # and a member may not give themself a role
        r = c.post(
            f"/tenant/members/{target}/role",
            data={"csrf_token": csrf_from(r.text), "member_role": "dsl"},
        )
        assert r.status_code == 403
    assert t.access.accounts.get_user(target).role is None


def test_the_api_gives_roles_to_admins_and_the_office_only(school: Any) -> None:
    t, maple, oak, people, _lily, _olly = school
    target = people["nobody"].id
    bound, _ = t.access.keys.create_api_key("maple sis", ["admin"], tenant_id=maple)
    oak_key, _ = t.access.keys.create_api_key("oak sis", ["admin"], tenant_id=oak)
    office, _ = t.access.keys.create_api_key("vendor ops", ["office:manage_tenants"])
    url = f"/api/v1/tenants/{maple}/members/{target}/role"
    with client_for(t.ctx) as c:
        r = c.put(url, json={"role": "dsl"}, headers={"Authorization": f"Bearer {bound}"})
        assert r.status_code == 403 and r.json()["code"] == "not_tenant_admin"
        r = c.put(url, json={"role": "dsl"}, headers={"Authorization": f"Bearer {oak_key}"})
        assert r.status_code == 404
        r = c.post(
            f"/api/v1/tenants/{maple}/invitations",
            json={"email": "k@maple.example", "member_role": "dsl"},
            headers={"Authorization": f"Bearer {bound}"},
        )
        assert r.status_code == 403
        assert t.access.accounts.get_user(target).role is None
        r = c.put(url, json={"role": "nosuch"}, headers={"Authorization": f"Bearer {office}"})
        assert r.status_code == 422
        r = c.put(url, json={"role": "senco"}, headers={"Authorization": f"Bearer {office}"})
        assert r.status_code == 200 and r.json()["role"] == "senco"
        # The school's admin, signed in (session cookie + CSRF header).
        _sign_in(c, "head@maple.example")
        r = c.put(url, json={"role": "teacher"})
        assert r.status_code == 403  # no CSRF header
        members = c.get(f"/api/v1/tenants/{maple}/members").json()["items"]
        assert {m["email"]: m["role"] for m in members}["new@maple.example"] == "senco"


def test_policy_declares_member_roles_with_file_line_errors() -> None:
    parse_policy(SCHOOL, "school.yaml")
    bad = SCHOOL.replace(
        "    for: tenant_members\n    description: Designated",
        "    for: tenant_members\n    powers: [read_audit]\n    description: Designated",
    ).replace("  - id: senco\n    for: tenant_members", "  - id: senco\n    for: customers")
    with pytest.raises(PolicyError) as exc:
        parse_policy(bad, "school.yaml")
    text = str(exc.value)
    senco_for = bad.splitlines().index("    for: customers") + 1
    powers = bad.splitlines().index("    powers: [read_audit]") + 1
    assert f"school.yaml:{senco_for}:" in text and "tenant_members" in text
    assert f"school.yaml:{powers}:" in text and "no `powers`" in text


def test_validate_warns_a_multi_tenant_policy_without_member_roles() -> None:
    assert not [w for w in policy_warnings(parse_policy(SCHOOL)) if "for: tenant_members" in w]
    start = SCHOOL.index("  - id: teacher")
    end = SCHOOL.index("support_access:")
    without = SCHOOL[:start] + SCHOOL[end:]
    [warning] = [w for w in policy_warnings(parse_policy(without)) if "tenant_members" in w]
    assert "safeguarding_records" in warning and "sen_notes" in warning


def test_diff_and_plain_words_show_member_roles(home: Any, tmp_path: Path) -> None:
    from troth.policy.describe import describe_policy
    from troth.policy.diff import diff_policies

    old = parse_policy(SCHOOL)
    words = describe_policy(old)
    assert "Who at each customer sees what" in words
    assert "- senco: identity, sen_notes, for sen_support." in words
    assert (
        "- teacher: identity, school_info, grades, parent_contact (parent_contact masked)" in words
    )
    new = parse_policy(
        SCHOOL.replace(
            "    categories: [identity, sen_notes]\n    purposes: [sen_support]",
            "    categories: [identity, sen_notes, safeguarding_records]\n"
            "    purposes: [sen_support, safeguarding]",
        )
    )
    changes = {(c.section, c.id, c.detail) for c in diff_policies(old, new).changes}
    assert ("roles", "senco", "purposes now includes 'safeguarding'") in changes
    assert ("roles", "senco", "categories seen now includes 'safeguarding_records'") in changes


def test_the_cli_invites_with_a_role_and_sets_it(home: Any, tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from troth.cli import _register, app

    _register()
    policy = tmp_path / "school.yaml"
    policy.write_text(SCHOOL)
    home(policy=policy, context=True).engine.dispose()
    where = tmp_path / "home"

    def run(*args: str, env: dict[str, str] | None = None) -> Any:
        env = {"COLUMNS": "300", "TROTH_PASSWORD": PASSWORD, **(env or {})}
        return CliRunner().invoke(app, ["--home", str(where), *args], env=env)

    assert run("tenants", "create", "Maple PS", "--email", "office@maple.example").exit_code == 0
    link = run(
        "tenants", "invite", "Maple PS", "t@maple.example", "--member-role", "teacher",
        "--show-link", "-q",
    )  # fmt: skip
    assert link.exit_code == 0, link.output
    code = link.output.strip().rsplit("#", 1)[1]
    assert run("tenants", "accept", env={"TROTH_CODE": code}).exit_code == 0
    bad = run("tenants", "invite", "Maple PS", "u@maple.example", "--member-role", "boss")
    assert isinstance(bad.exception, ValidationError) and "teacher" in bad.exception.message
    rows = json.loads(run("tenants", "members", "Maple PS", "--json").output)
    assert {r["email"]: r["member_role"] for r in rows} == {"t@maple.example": "teacher"}
    actor = "tenant_member:t@maple.example@Maple PS"
    data = '{"name": "Lily", "year_group": "Y5"}'
    sid = run("collect", "enrolment", "--data", data, "--tenant", "Maple PS", "-q")
    assert sid.exit_code == 0, sid.output
    lily = sid.output.strip()
    refused = run("use", lily, "--purpose", "sen_support", "--actor", actor)
    assert isinstance(refused.exception, Refused)
    assert refused.exception.reason == "role_not_allowed"
    out = run("tenants", "set-role", "Maple PS", "t@maple.example", "senco")
    assert out.exit_code == 0 and "role senco" in out.output
    assert run("use", lily, "--purpose", "sen_support", "--actor", actor).exit_code == 0
    assert run("tenants", "set-role", "Maple PS", "t@maple.example").exit_code != 0
    out = run("tenants", "set-role", "Maple PS", "t@maple.example", "--none")
    assert out.exit_code == 0 and "role none" in out.output
