"""No delegation beyond one's own reach (trial #15 G1): an admin of a customer holding a
member role (``for: tenant_members``) that limits what they read may neither take their
own role away (an admin without one reads everything), nor give themself or another a
role, nor invite someone (an admin, a member with a role), that reads more than their own
role: purposes, categories, or a field read whole that they read masked. Refused
``beyond_own_role``, audited, nothing changed, on every door: the Python service, the CLI
(``tenants set-role``, ``tenants invite``), the API and the customer's pages. An admin
without a role keeps full powers; what reads no more than the admin's role is allowed
(a role within it, none for a member, who then reads nothing); another customer's people
stay unknown (404)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from _http import PASSWORD, client_for, csrf_from
from school_samples import SCHOOL, school_home
from troth.access import actor_for
from troth.audit.entries import list_entries
from troth.engine import Troth
from troth.errors import NotFound, PermissionDenied, Refused
from troth.gate import Actor

# A role reading a parent's phone whole, which the teacher reads masked.
CLERK = """\
  - id: office_clerk
    for: tenant_members
    description: The school office; calls parents.
    categories: [identity, school_info, parent_contact]
    purposes: [teaching]
"""
POLICY = SCHOOL.replace("  - id: senco\n", CLERK + "  - id: senco\n")


@pytest.fixture
def school(home: Any, tmp_path: Path) -> Any:
    """The schools, and at Maple two admins whose role is teacher (``lead``, ``lead2``)."""
    t, maple, oak, people, lily, olly = school_home(home, tmp_path, POLICY)
    for name in ("lead", "lead2"):
        tok, _ = t.access.tenants.invite(
            maple, f"{name}@maple.example", role="admin", member_role="teacher"
        )
        people[name] = actor_for(t.access.tenants.accept_invitation(tok, PASSWORD))
    return t, maple, oak, people, lily, olly


def _role(t: Troth, actor: Actor) -> str | None:
    return t.access.accounts.get_user(actor.id).role


def _beyond(call: Any) -> Refused:
    with pytest.raises(Refused) as exc:
        call()
    assert exc.value.reason == "beyond_own_role", exc.value.message
    return exc.value


def _refused_entries(t: Troth, action: str) -> list[Any]:
    return [
        e.entry
        for e in list_entries(t.ctx, action=action, limit=1000)
        if e.entry.reason == "beyond_own_role"
    ]


def test_an_admin_with_a_role_may_not_drop_it_then_read_everything(school: Any) -> None:
    """The trial's repro: `set-role ... --none` on themself, then every category."""
    t, maple, _oak, people, lily, _olly = school
    lead = people["lead"]
    refused = _beyond(lambda: t.access.tenants.set_member_role(maple, lead.id, None, by=lead))
    assert "you may not give yourself no role" in refused.message
    assert "every category" in refused.message and "'teacher'" in refused.message
    assert _role(t, lead) == "teacher"
    with pytest.raises(Refused) as exc:
        t.use(lily, purpose="sen_support", actor=lead)
    assert exc.value.reason == "role_not_allowed"  # still reads as a teacher
    [entry] = _refused_entries(t, "member_role")
    assert entry.outcome == "deny" and entry.tenant_id == maple
    assert entry.details == {"user": lead.id, "role": None, "admin": True, "own_role": "teacher"}


@pytest.mark.parametrize("role", ["senco", "dsl", "office_clerk"])
def test_an_admin_may_not_give_themself_or_another_a_wider_role(school: Any, role: str) -> None:
    t, maple, _oak, people, _lily, _olly = school
    lead = people["lead"]
    for target in (lead, people["nobody"], people["teacher"], people["lead2"]):
        before = _role(t, target)
        refused = _beyond(
            lambda target=target: t.access.tenants.set_member_role(maple, target.id, role, by=lead)
        )
        assert _role(t, target) == before
        beyond = {"senco": "sen_notes for sen_support", "dsl": "safeguarding_records for"}
        assert beyond.get(role, "parent_contact unmasked for teaching") in refused.message
    assert len(_refused_entries(t, "member_role")) == 4


def test_within_their_own_role_an_admin_may_give_and_take(school: Any) -> None:
    t, maple, _oak, people, _lily, _olly = school
    lead, tenants = people["lead"], t.access.tenants
    tenants.set_member_role(maple, lead.id, "teacher", by=lead)  # the same, on themself
    tenants.set_member_role(maple, people["nobody"].id, "teacher", by=lead)
    assert _role(t, people["nobody"]) == "teacher"
    tenants.set_member_role(maple, people["dsl"].id, None, by=lead)  # a member: reads nothing
    assert _role(t, people["dsl"]) is None
    tenants.set_member_role(maple, people["lead2"].id, "teacher", by=lead)
    assert not _refused_entries(t, "member_role")


def test_an_admin_with_a_role_may_not_make_another_admin_role_less(school: Any) -> None:
    t, maple, _oak, people, _lily, _olly = school
    lead2 = people["lead2"]
    refused = _beyond(
        lambda: t.access.tenants.set_member_role(maple, lead2.id, None, by=people["lead"])
    )
    assert "you may not give this admin no role" in refused.message
    assert _role(t, lead2) == "teacher"


def test_an_admin_without_a_role_keeps_full_powers(school: Any) -> None:
    t, maple, _oak, people, _lily, _olly = school
    head, tenants = people["head"], t.access.tenants
    for role in ("dsl", "office_clerk", None):
        tenants.set_member_role(maple, people["lead"].id, role, by=head)
        tenants.set_member_role(maple, people["nobody"].id, role, by=head)
    tenants.invite(maple, "admin2@maple.example", role="admin", by=head)
    tenants.invite(maple, "dsl2@maple.example", member_role="dsl", by=head)
    # Having given themself a role, they read as it, and give no more.
    tenants.set_member_role(maple, head.id, "teacher", by=head)
    _beyond(lambda: tenants.set_member_role(maple, head.id, None, by=head))
    assert not _refused_entries(t, "invite")


def test_invitations_give_no_more_than_the_admin_reads(school: Any) -> None:
    t, maple, _oak, people, _lily, _olly = school
    lead, tenants = people["lead"], t.access.tenants
    pending = len(tenants.list_invitations(maple))
    cases: list[tuple[str, str | None]] = [("admin", None), ("admin", "dsl"), ("member", "senco")]
    for trole, role in cases:
        refused = _beyond(
            lambda trole=trole, role=role: tenants.invite(
                maple, "x@maple.example", role=trole, member_role=role, by=lead
            )
        )
        assert f"a new {trole}" in refused.message
    assert len(tenants.list_invitations(maple)) == pending  # nothing made, nothing mailed
    entries = _refused_entries(t, "invite")
    assert len(entries) == 3 and all("x@maple" not in str(e.details) for e in entries)
    # Within: a teacher, an admin who is a teacher, a member without a role (reads nothing).
    tenants.invite(maple, "t2@maple.example", member_role="teacher", by=lead)
    tenants.invite(maple, "a2@maple.example", role="admin", member_role="teacher", by=lead)
    tenants.invite(maple, "m2@maple.example", by=lead)
    assert len(tenants.list_invitations(maple)) == pending + 3


def test_a_member_gives_nothing_and_another_school_s_ids_stay_unknown(school: Any) -> None:
    t, maple, oak, people, _lily, _olly = school
    tenants = t.access.tenants
    with pytest.raises(PermissionDenied):  # a member, not an admin: not even to themself
        tenants.set_member_role(maple, people["dsl"].id, None, by=people["dsl"])
    assert _role(t, people["dsl"]) == "dsl"
    with pytest.raises(NotFound):  # Oak's lead, named by Maple's admin with a role
        tenants.set_member_role(maple, people["oak_dsl"].id, "teacher", by=people["lead"])
    with pytest.raises(NotFound):  # Maple's lead, named by Oak's admin
        tenants.set_member_role(oak, people["lead"].id, None, by=people["oak_head"])
    with pytest.raises(NotFound):
        tenants.set_member_role(maple, people["lead"].id, None, by=people["oak_head"])
    assert _role(t, people["oak_dsl"]) == "dsl" and _role(t, people["lead"]) == "teacher"
    with pytest.raises(PermissionDenied):  # Oak's admin inviting to Maple
        tenants.invite(maple, "y@maple.example", role="admin", by=people["oak_head"])


def test_the_role_the_admin_holds_now_decides(school: Any) -> None:
    """Not the one their session (or actor) began with."""
    t, maple, _oak, people, _lily, _olly = school
    stale = people["lead"]  # made when their role was teacher
    t.access.tenants.set_member_role(maple, stale.id, "senco")  # the operator
    t.access.tenants.set_member_role(maple, people["nobody"].id, "senco", by=stale)
    _beyond(
        lambda: t.access.tenants.set_member_role(maple, people["nobody"].id, "teacher", by=stale)
    )


def test_an_account_added_by_an_admin_with_a_role_is_held_to_it(school: Any) -> None:
    t, maple, _oak, people, _lily, _olly = school
    add = t.access.accounts.add_user
    _beyond(
        lambda: add(
            "z@maple.example",
            kind="tenant_member",
            tenant_id=maple,
            tenant_role="admin",
            by=people["lead"],
        )
    )
    made = add("z@maple.example", kind="tenant_member", tenant_id=maple, role="teacher")
    assert made.role == "teacher"  # troth itself (the operator) is not bound


def _cli(t: Troth) -> Any:
    from typer.testing import CliRunner

    from troth.cli import _register, app

    _register()
    where = str(t.ctx.home)

    def run(*args: str) -> Any:
        env = {"COLUMNS": "300", "TROTH_PASSWORD": PASSWORD}
        return CliRunner().invoke(app, ["--home", where, *args], env=env)

    return run


def test_the_cli_refuses_set_role_and_invite_beyond_the_admin_s_role(
    home: Any, tmp_path: Path
) -> None:
    t, _maple, _oak, people, _lily, _olly = school_home(home, tmp_path, POLICY)
    tok, _ = t.access.tenants.invite(
        _maple, "lead@maple.example", role="admin", member_role="teacher"
    )
    lead = actor_for(t.access.tenants.accept_invitation(tok, PASSWORD))
    run = _cli(t)
    as_lead = ("--as", "lead@maple.example")
    for args in (
        ("tenants", "set-role", "Maple PS", "lead@maple.example", "--none", *as_lead),
        ("tenants", "set-role", "Maple PS", "lead@maple.example", "dsl", *as_lead),
        ("tenants", "set-role", "Maple PS", "new@maple.example", "senco", *as_lead),
        ("tenants", "invite", "Maple PS", "n@maple.example", "--role", "admin", *as_lead),
        ("tenants", "invite", "Maple PS", "n@maple.example", "--member-role", "dsl", *as_lead),
    ):
        out = run(*args)
        assert isinstance(out.exception, Refused), (args, out.output)
        assert out.exception.reason == "beyond_own_role", args
    assert _role(t, lead) == "teacher" and _role(t, people["nobody"]) is None
    ok = run("tenants", "set-role", "Maple PS", "new@maple.example", "teacher", *as_lead)
    assert ok.exit_code == 0, ok.output
    # The operator is not bound.
    assert run("tenants", "set-role", "Maple PS", "lead@maple.example", "--none").exit_code == 0
    assert _role(t, lead) is None


def _sign_in(c: Any, email: str) -> str:
    page = c.get("/tenant/login").text
    r = c.post(
        "/tenant/login",
        data={"email": email, "password": PASSWORD, "csrf_token": csrf_from(page)},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return csrf_from(c.get("/tenant").text)


def test_the_api_and_the_pages_refuse_beyond_the_admin_s_role(school: Any) -> None:
    t, maple, oak, people, _lily, _olly = school
    lead = people["lead"]
    with client_for(t.ctx) as c:
        token = _sign_in(c, "lead@maple.example")
        api = {"X-CSRF-Token": token}
        url = f"/api/v1/tenants/{maple}/members"
        r = c.put(f"{url}/{lead.id}/role", json={"role": None}, headers=api)
        assert r.status_code == 403 and r.json()["reason"] == "beyond_own_role", r.text
        r = c.put(f"{url}/{people['nobody'].id}/role", json={"role": "dsl"}, headers=api)
        assert r.status_code == 403 and r.json()["reason"] == "beyond_own_role"
        r = c.put(f"{url}/{people['oak_dsl'].id}/role", json={"role": None}, headers=api)
        assert r.status_code == 404  # another school's member: unknown
        r = c.post(
            f"/api/v1/tenants/{maple}/invitations",
            json={"email": "k@maple.example", "role": "admin"},
            headers=api,
        )
        assert r.status_code == 403 and r.json()["reason"] == "beyond_own_role"
        r = c.put(f"{url}/{people['nobody'].id}/role", json={"role": "teacher"}, headers=api)
        assert r.status_code == 200 and r.json()["role"] == "teacher"
        # The pages: the members table's role and the invitation form.
        r = c.post(f"/tenant/members/{lead.id}/role", data={"csrf_token": token})
        assert r.status_code == 403 and "beyond what your role" in r.text
        r = c.post(
            "/tenant/invitations",
            data={"csrf_token": token, "email": "p@maple.example", "role": "admin"},
        )
        assert r.status_code == 403 and "beyond what your role" in r.text
        r = c.get(f"/api/v1/tenants/{oak}/members", headers=api)
        assert r.status_code == 404
    assert _role(t, lead) == "teacher" and _role(t, people["oak_dsl"]) == "dsl"
    assert len(_refused_entries(t, "member_role")) == 3
    assert len(_refused_entries(t, "invite")) == 2
