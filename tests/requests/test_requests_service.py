"""The request life cycle on SQLite and PostgreSQL: opening, matching, deadlines,
identity codes (wrong, expired, locked), staff verification, requests on someone's
behalf, illegal moves, extension, refusal, listing by deadline."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from requests_helpers import buy, code_of, mails_for, verified
from troth.audit.entries import list_entries
from troth.clock import ManualClock
from troth.engine import Troth
from troth.errors import (
    AuthenticationError,
    Conflict,
    NotFound,
    PermissionDenied,
    RateLimited,
    ValidationError,
)
from troth.requests.deadlines import due_date
from troth.requests.states import TRANSITIONS, RequestState, check_transition
from troth.requests.tables import requests

ANN = "ann@example.com"


@pytest.fixture
def t(home: Any, db_url: str) -> Troth:
    return home("mindlink", db_url)


def test_open_matches_acknowledges_and_sends_a_code(t: Troth) -> None:
    sid = buy(t, ANN)
    req = t.requests.open("access", email="  Ann@Example.com ")
    assert req.subject_id == sid
    assert req.state is RequestState.identity_unverified
    assert req.regime == "uk_gdpr"
    assert req.due_at == due_date("uk_gdpr", req.received_at.date())
    assert req.acknowledged_at is not None
    subjects = [m["subject"] for m in mails_for(t, req.id)]
    assert subjects[0].startswith("We received your request")
    assert subjects[1] == "Your confirmation code"
    assert all(m["to_addr"] == "Ann@Example.com" for m in mails_for(t, req.id))
    # The address is stored only encrypted and as a blind index.
    with t.ctx.engine.connect() as conn:
        row = conn.execute(sa.select(requests).where(requests.c.id == req.id)).mappings().one()
    assert b"example.com" not in bytes(row["contact"])
    assert "example" not in str(row["email_bidx"])
    assert len(row["code_hash"]) == 64 and code_of(t, req.id) not in row["code_hash"]
    actions = [e.entry.action for e in list_entries(t.ctx, subject_id=sid)]
    assert "request.open" in actions and "request.verifying" in actions


def test_unknown_person_is_still_a_request(t: Troth) -> None:
    req = t.requests.open("access", email="nobody@example.com")
    assert req.subject_id is None
    t.requests.verify(req.id, code_of(t, req.id))
    done = t.requests.execute(req.id)
    assert done.state is RequestState.completed
    assert done.result is not None and done.result["systems"][0]["found"] == 0


def test_bad_input_to_open(t: Troth) -> None:
    with pytest.raises(ValidationError, match="unknown request kind 'erase'"):
        t.requests.open("erase", email=ANN)
    with pytest.raises(ValidationError, match="say who the request is from"):
        t.requests.open("access")
    with pytest.raises(ValidationError, match="not an e-mail address"):
        t.requests.open("access", email="ann at example")
    with pytest.raises(ValidationError, match="unknown channel"):
        t.requests.open("access", email=ANN, channel="fax")
    with pytest.raises(NotFound, match="no subject"):
        t.requests.open("access", email=ANN, subject_id="nope")


def test_unknown_request_id(t: Troth) -> None:
    for call in (
        lambda: t.requests.get("nope"),
        lambda: t.requests.execute("nope"),
        lambda: t.requests.verify("nope", "123456"),
        lambda: t.requests.extend("nope", "complex"),
    ):
        with pytest.raises(NotFound, match="no request 'nope'"):
            call()


def test_unverified_request_never_executes(t: Troth) -> None:
    from troth.store.values import read_values

    sid = buy(t, ANN)
    with t.ctx.engine.connect() as conn:
        before = read_values(conn, t.ctx, sid)
    req = t.requests.open("delete", email=ANN)
    with pytest.raises(Conflict, match="identity is not verified") as info:
        t.requests.execute(req.id)
    assert info.value.code == "identity_unverified"
    with t.ctx.engine.connect() as conn:
        assert read_values(conn, t.ctx, sid) == before  # nothing deleted
    assert t.requests.get(req.id).state is RequestState.identity_unverified


def test_wrong_then_right_code(t: Troth) -> None:
    buy(t, ANN)
    req = t.requests.open("access", email=ANN)
    good = code_of(t, req.id)
    bad = "000000" if good != "000000" else "111111"
    with pytest.raises(AuthenticationError, match="4 attempt") as info:
        t.requests.verify(req.id, bad)
    assert info.value.code == "wrong_code"
    assert t.requests.verify(req.id, good).state is RequestState.verified
    with pytest.raises(Conflict, match="already verified"):
        t.requests.verify(req.id, good)


def test_expired_code(t: Troth, clock: ManualClock) -> None:
    req = t.requests.open("access", email=ANN)
    code = code_of(t, req.id)
    clock.advance(minutes=16)
    with pytest.raises(AuthenticationError, match="expired") as info:
        t.requests.verify(req.id, code)
    assert info.value.code == "code_expired"
    t.requests.send_code(req.id)
    assert t.requests.verify(req.id, code_of(t, req.id)).state is RequestState.verified


def test_five_wrong_codes_lock_the_request(t: Troth) -> None:
    req = t.requests.open("access", email=ANN)
    good = code_of(t, req.id)
    bad = "000000" if good != "000000" else "111111"
    for _ in range(4):
        with pytest.raises(AuthenticationError):
            t.requests.verify(req.id, bad)
    with pytest.raises(RateLimited, match="locked"):
        t.requests.verify(req.id, bad)
    with pytest.raises(RateLimited, match="locked"):
        t.requests.verify(req.id, good)  # even the right code: too late
    with pytest.raises(RateLimited):
        t.requests.send_code(req.id)
    done = t.requests.verify_by_staff(req.id, staff="alice", reason="called back on file number")
    assert done.state is RequestState.verified and done.verification == "staff"


def test_request_for_someone_else_needs_staff(t: Troth) -> None:
    sid = buy(t, ANN)
    req = t.requests.open("access", email="lawyer@firm.example", subject_id=sid)
    # The address given is not Ann's: it is the agent's own, and the letters go there.
    assert req.on_behalf and (req.agent_email, req.email) == ("lawyer@firm.example", None)
    assert req.state is RequestState.awaiting_approval
    assert "needs a check" in mails_for(t, req.id)[-1]["subject"]
    assert {m["to_addr"] for m in mails_for(t, req.id)} == {"lawyer@firm.example"}
    with pytest.raises(Conflict, match="identity is not verified"):
        t.requests.execute(req.id)
    with pytest.raises(PermissionDenied, match="only staff"):
        t.requests.verify(req.id, "123456")
    with pytest.raises(ValidationError, match="reason"):
        t.requests.verify_by_staff(req.id, staff="alice", reason=" ")
    ok = t.requests.verify_by_staff(req.id, staff="alice", reason="signed authority seen")
    assert ok.state is RequestState.verified and ok.verified_by == "alice"
    explicit = t.requests.open(
        "access", email=ANN, on_behalf_of="Ann's mother", agent_email="mum@example.com"
    )
    with pytest.raises(PermissionDenied, match="only staff"):
        t.requests.verify(explicit.id, "123456")


def test_illegal_transitions_are_conflicts(t: Troth) -> None:
    rid = verified(t, "access", ANN)
    done = t.requests.execute(rid)
    assert done.state is RequestState.completed
    with pytest.raises(Conflict, match="already completed"):
        t.requests.execute(rid)
    with pytest.raises(Conflict, match="closed"):
        t.requests.refuse(rid, reason="late")
    with pytest.raises(Conflict) as info:
        check_transition("r", RequestState.received, RequestState.completed)
    assert info.value.code == "illegal_transition"
    assert "identity_unverified" in info.value.message
    for state, moves in TRANSITIONS.items():
        for target in RequestState:
            if target in moves:
                check_transition("r", state, target)
            else:
                with pytest.raises(Conflict):
                    check_transition("r", state, target)


def test_extension_inside_the_window_is_told(t: Troth, clock: ManualClock) -> None:
    buy(t, ANN)
    req = t.requests.open("access", email=ANN)
    with pytest.raises(ValidationError, match="reason"):
        t.requests.extend(req.id, "")
    # Being handled: verified first (an unverified request is not extended, see below).
    t.requests.verify(req.id, code_of(t, req.id))
    clock.advance(days=10)
    ext = t.requests.extend(req.id, "Your data is spread over five archived systems")
    assert ext.state is RequestState.extended
    assert ext.extended_due_at == date(2026, 6, 2)  # 2 March + 3 months, UK GDPR
    assert ext.deadline == ext.extended_due_at
    told = mails_for(t, req.id)[-1]
    assert "five archived systems" in told["body_text"] and "2026-06-02" in told["body_text"]
    with pytest.raises(Conflict, match="already extended"):
        t.requests.extend(req.id, "again")
    assert t.requests.execute(req.id).state is RequestState.completed


@pytest.mark.parametrize("behalf", [False, True])
def test_an_unverified_request_is_not_extended(t: Troth, clock: ManualClock, behalf: bool) -> None:
    """An extension is for a request being handled: while the person's identity is not
    verified (a code pending, or staff to approve one made on someone's behalf) it is
    refused, saying what to do, and nothing changes; once verified it is allowed."""
    buy(t, ANN)
    agent = {"on_behalf_of": "Ann's lawyer", "agent_email": "law@firm.example"} if behalf else {}
    req = t.requests.open("access", email=ANN, **agent)
    waiting = RequestState.awaiting_approval if behalf else RequestState.identity_unverified
    assert req.state is waiting
    mails = len(mails_for(t, req.id))
    clock.advance(days=5)
    with pytest.raises(Conflict, match="identity is not verified yet") as exc:
        t.requests.extend(req.id, "complex")
    assert exc.value.code == "not_verified" and "verify it first" in exc.value.message
    after = t.requests.get(req.id)
    assert (after.state, after.extended_due_at) == (waiting, None)
    assert len(mails_for(t, req.id)) == mails  # the person is told nothing
    t.requests.verify_by_staff(req.id, staff="ada", reason="passport seen")
    assert t.requests.extend(req.id, "complex").state is RequestState.extended


def test_extension_too_late_or_not_allowed(t: Troth, clock: ManualClock) -> None:
    late = t.requests.open("access", email=ANN)
    t.requests.verify_by_staff(late.id, staff="ada", reason="passport seen")
    clock.advance(days=40)
    with pytest.raises(ValidationError, match="too late to extend"):
        t.requests.extend(late.id, "complex")
    au = t.requests.open("access", email="bob@example.com", regime="au")
    t.requests.verify_by_staff(au.id, staff="ada", reason="passport seen")
    with pytest.raises(ValidationError, match="allows no extension"):
        t.requests.extend(au.id, "complex")


def test_refusal_is_told_with_reason(t: Troth) -> None:
    req = t.requests.open("delete", email=ANN)
    out = t.requests.refuse(req.id, reason="manifestly unfounded: fifth identical request")
    assert out.state is RequestState.refused and out.closed_at is not None
    assert "fifth identical" in mails_for(t, req.id)[-1]["body_text"]


def test_list_by_deadline(t: Troth, clock: ManualClock) -> None:
    first = t.requests.open("access", email=ANN)
    clock.advance(days=20)
    second = t.requests.open("access", email="bob@example.com", regime="ccpa")
    assert second.due_at == second.received_at.date() + timedelta(days=45)
    assert second.acknowledge_by is not None
    assert [r.id for r in t.requests.list()] == [first.id, second.id]
    assert [r.id for r in t.requests.list(due_within=12)] == [first.id]
    assert t.requests.list(overdue=True) == []
    clock.advance(days=15)
    assert [r.id for r in t.requests.list(overdue=True)] == [first.id]
    t.requests.refuse(first.id, reason="withdrawn by the person")
    assert [r.id for r in t.requests.list()] == [second.id]
    assert {r.id for r in t.requests.list(include_closed=True)} == {first.id, second.id}
    assert [r.id for r in t.requests.list(state="refused")] == [first.id]
    with pytest.raises(ValidationError, match="unknown state"):
        t.requests.list(state="done")


def test_history_records_every_step(t: Troth) -> None:
    rid = verified(t, "access", ANN)
    t.requests.execute(rid)
    events = [e["event"] for e in t.requests.history(rid)]
    assert events == [
        "received",
        "verifying",
        "code_sent",
        "verified",
        "started",
        "completed",
    ]


def test_an_unverified_request_is_not_extended_over_http_or_the_cli(home: Any) -> None:
    import subprocess
    import sys
    from pathlib import Path

    from _http import api_key, client_for, is_problem

    t = home("mindlink")
    buy(t, ANN)
    req = t.requests.open("access", email=ANN)
    with client_for(t.ctx) as c:
        h = api_key(c, ["requests:admin"])
        body = is_problem(
            c.post(f"/api/v1/requests/{req.id}/extend", json={"reason": "complex"}, headers=h),
            409,
            "not_verified",
        )
        assert "identity is not verified yet" in body["detail"]
    troth = Path(sys.executable).parent / "troth"
    run = subprocess.run(
        [str(troth), "--home", str(t.ctx.settings.home), "requests", "extend", req.id]
        + ["--reason", "complex"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1 and "error (not_verified)" in run.stderr, run.stderr
    assert t.requests.get(req.id).extended_due_at is None
