"""A customer's member whose account a database writer changed (their role, their
customer, their admin-ness: trial #16 F7) is refused as a credential changed outside troth
(``record_tampered``, "this credential was changed outside troth ... run `troth audit
verify`"), audited, on every door: the gate (Python, the CLI's ``--actor``), the HTTP API
(401) and the customer's pages; never as a membership that was revoked, which sends the
operator looking for a revocation that never happened. A member really revoked is still
told so."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from _http import PASSWORD, client_for, csrf_from
from audit_helpers import edit_row, tampered_entries
from school_samples import school_home
from troth.access import actor_for
from troth.access.tables import users
from troth.audit import verify_log
from troth.engine import Troth
from troth.errors import AuthenticationError, NotFound, Refused
from unknown_helpers import assert_unknown_to

TOLD = ("changed outside troth", "troth audit verify")


@pytest.fixture
def school(home: Any, tmp_path: Path) -> Any:
    return school_home(home, tmp_path)


def _says_tampered(exc: Any) -> None:
    assert exc.reason == "record_tampered", (exc.reason, exc.message)
    assert all(part in exc.message for part in TOLD), exc.message
    assert "revoked" not in exc.message


@pytest.mark.parametrize(
    "edit",
    [{"role": "dsl"}, {"role": None}, {"tenant_role": "admin"}, {"email": "x@maple.example"}],
    ids=["role_widened", "role_dropped", "made_admin", "email"],
)
def test_the_gate_refuses_a_tampered_member_as_tampered(school: Any, edit: Any) -> None:
    t, maple, _oak, people, lily, _olly = school
    teacher = people["teacher"]
    edit_row(t, users, teacher.id, **edit)
    now_as = actor_for(t.access.accounts.get_user(teacher.id))  # as the CLI's --actor makes it
    for actor in (teacher, now_as):
        for purpose in ("teaching", "safeguarding"):
            with pytest.raises(Refused) as exc:
                t.use(lily, purpose=purpose, actor=actor)
            _says_tampered(exc.value)
    # The records about the person and a collection alike.
    with pytest.raises(Refused) as exc:
        t.access.records.consents_for(teacher, lily)
    _says_tampered(exc.value)
    with pytest.raises(Refused) as exc:
        t.collect("grade_entry", {"grade": "A"}, subject_id=lily, tenant_id=maple, actor=teacher)
    _says_tampered(exc.value)
    assert len(tampered_entries(t, "use")) == 4
    assert tampered_entries(t, "read_consents") and tampered_entries(t, "collect")
    assert verify_log(t.ctx).bad_credentials == [f"users:{teacher.id}"]


def test_a_member_moved_to_another_customer_is_tampered_there(school: Any) -> None:
    t, _maple, oak, people, _lily, olly = school
    dsl = people["dsl"]
    edit_row(t, users, dsl.id, tenant_id=oak)
    moved = actor_for(t.access.accounts.get_user(dsl.id))
    assert moved.tenant_id == oak
    with pytest.raises(Refused) as exc:
        t.use(olly, purpose="safeguarding", actor=moved)
    _says_tampered(exc.value)


def test_a_member_really_revoked_is_still_told_so(school: Any) -> None:
    t, maple, _oak, people, lily, _olly = school
    teacher = people["teacher"]
    t.access.tenants.revoke_member(maple, teacher.id, by=people["head"])
    with pytest.raises(Refused) as exc:
        t.use(lily, purpose="teaching", actor=teacher)
    assert exc.value.reason == "not_a_member" and "revoked" in exc.value.message
    # To another school's member the person is unknown, as an id naming nobody (trial 19,
    # F11: it was told the person is another customer's), audited not_a_member.
    assert_unknown_to(t, lily, "safeguarding", people["oak_dsl"])


def test_the_cli_actor_of_a_tampered_member_is_refused_as_tampered(
    home: Any, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from troth.cli import _register, app

    t, _maple, _oak, people, lily, _olly = school_home(home, tmp_path)
    edit_row(t, users, people["teacher"].id, role="dsl")
    where = t.ctx.home
    t.close()
    _register()
    out = CliRunner().invoke(
        app,
        [
            "--home", str(where), "use", lily, "--purpose", "safeguarding",
            "--actor", "tenant_member:teacher@maple.example@Maple PS",
        ],
        env={"COLUMNS": "300"},
    )  # fmt: skip
    assert isinstance(out.exception, Refused), out.output
    _says_tampered(out.exception)


def _session(t: Troth, actor: Any) -> str:
    token, _ = t.access.sessions.start_session(t.access.accounts.get_user(actor.id))
    return token


def test_the_api_answers_401_record_tampered(school: Any) -> None:
    t, _maple, _oak, people, lily, _olly = school
    token = _session(t, people["teacher"])
    edit_row(t, users, people["teacher"].id, role="dsl")
    with client_for(t.ctx) as c:
        c.cookies.set("troth_session", token)
        r = c.get(f"/api/v1/subjects/{lily}?purpose=safeguarding")
    assert r.status_code == 401, r.text
    body = r.json()
    assert body["code"] == "record_tampered"
    assert all(part in body["detail"] for part in TOLD)
    assert "CP concern" not in r.text


def test_the_customer_pages_say_the_credential_was_changed(school: Any) -> None:
    t, _maple, _oak, people, _lily, _olly = school
    token = _session(t, people["head"])
    edit_row(t, users, people["head"].id, role="dsl")
    with client_for(t.ctx) as c:
        c.cookies.set("troth_session", token)
        for path in ("/tenant", "/tenant/export.json"):
            r = c.get(path, follow_redirects=False)
            assert r.status_code == 401, (path, r.status_code)
            assert all(part in r.text for part in TOLD), path
        c.cookies.clear()
        page = c.get("/tenant/login").text
        r = c.post(
            "/tenant/login",
            data={
                "email": "head@maple.example",
                "password": PASSWORD,
                "csrf_token": csrf_from(page),
            },
            follow_redirects=False,
        )
        assert r.status_code == 401 and all(part in r.text for part in TOLD)
    assert tampered_entries(t, "session") and tampered_entries(t, "login")
    with pytest.raises(AuthenticationError):
        t.access.sessions.resolve_session(token)
    with pytest.raises(NotFound):  # nothing else: the account is not found by another door
        t.access.accounts.find_user("head@maple.example", tenant_id="nosuch")


def test_a_session_row_changed_outside_troth_is_still_no_session(school: Any) -> None:
    """Only the account changed is told on the pages; a session row a writer changed is
    no session (the sign-in page), as before."""
    from datetime import timedelta

    from troth.access.tables import sessions
    from troth.store.ids import token_hash

    t, _maple, _oak, people, _lily, _olly = school
    token = _session(t, people["head"])
    later = t.ctx.clock.now() + timedelta(days=30)
    edit_row(t, sessions, token_hash(token), expires_at=later)
    with client_for(t.ctx) as c:
        c.cookies.set("troth_session", token)
        r = c.get("/tenant", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/tenant/login"
