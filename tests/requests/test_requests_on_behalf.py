"""A request made on someone else's behalf (P23, P27), as an adversary tries it: every letter
goes to the agent's own (checked) address and never to the person's; an unverified agent
gets nothing of the person; the export reaches the agent only with a confirmation code
mailed to them; the person is told only when their data was changed; bad agent input,
another tenant's person, an erased person and the person also asking."""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

import pytest
import sqlalchemy as sa

from outbox_helpers import outbox_mail
from requests_helpers import buy, code_of, mails_for
from troth.audit.entries import list_entries
from troth.engine import Troth
from troth.errors import (
    AuthenticationError,
    Conflict,
    NotFound,
    PermissionDenied,
    ValidationError,
)
from troth.requests.states import RequestState
from troth.requests.tables import requests

ANN = "ann@example.com"
MUM = "mum@example.ie"


@pytest.fixture
def t(home: Any, db_url: str) -> Troth:
    return home("mindlink", db_url)


def _to(t: Troth, request_id: str) -> set[str]:
    return {m["to_addr"] for m in mails_for(t, request_id)}


def _mails_to(t: Troth, addr: str) -> list[dict[str, Any]]:
    return list(outbox_mail(t, to=addr))


def _for_mum(t: Troth, kind: str = "access", **person: Any) -> Any:
    return t.requests.open(kind, on_behalf_of="Mary Buyer, mother", agent_email=MUM, **person)


def test_an_agents_letters_and_export_go_to_the_agent_never_the_person(t: Troth) -> None:
    buy(t, ANN)
    before = len(_mails_to(t, ANN))
    req = _for_mum(t, email=ANN)
    assert (req.on_behalf, req.agent_email, req.email) == (True, MUM, ANN)
    assert req.state is RequestState.awaiting_approval
    assert _to(t, req.id) == {MUM}
    subjects = [m["subject"] for m in mails_for(t, req.id)]
    assert subjects[0].startswith("We received your request") and "needs a check" in subjects[1]
    # The agent's address is stored only encrypted, under its own associated data.
    with t.ctx.engine.connect() as conn:
        row = conn.execute(sa.select(requests).where(requests.c.id == req.id)).mappings().one()
    assert b"example.ie" not in bytes(row["agent_contact"])
    assert row["agent_contact"] != row["contact"]
    ok = t.requests.verify_by_staff(req.id, staff="olive", reason="mother's ID and letter seen")
    assert (ok.verification, ok.verified_by) == ("staff", "olive")
    [ev] = [e for e in t.requests.history(req.id) if e["event"] == "verified"]
    assert ev["details"] == {"reason": "mother's ID and letter seen", "checked": "agent_authority"}
    done = t.requests.execute(req.id)
    assert done.state is RequestState.completed and done.download_token
    assert _to(t, req.id) == {MUM} and len(_mails_to(t, ANN)) == before
    letter = mails_for(t, req.id)[-1]["body_text"]
    assert "confirmation code" in letter and "/privacy/download#" in letter
    # The link alone is not enough: a code mailed to the agent, then both.
    token = done.download_token
    t.requests.send_agent_code(token)
    assert _to(t, req.id) == {MUM} and len(_mails_to(t, ANN)) == before
    with pytest.raises(AuthenticationError) as wrong:
        t.requests.download_as_agent(token, "000000" if code_of(t, req.id) != "000000" else "1")
    assert wrong.value.code == "wrong_code"
    data = t.requests.download_as_agent(token, code_of(t, req.id))
    zipped = zipfile.ZipFile(io.BytesIO(data))
    assert any("Ann Buyer" in zipped.read(n).decode("utf-8", "replace") for n in zipped.namelist())
    with pytest.raises(NotFound):
        t.requests.download_as_agent(token, code_of(t, req.id))
    downloads = [e.entry for e in list_entries(t.ctx) if e.entry.action == "request.download"]
    assert [d.actor for d in downloads] == [f"agent:{req.id}"]


@pytest.mark.parametrize(
    ("person", "agent", "code"),
    [
        ({"email": ANN}, {"on_behalf_of": "Mary, mother"}, "agent_address_required"),
        ({"email": ANN}, {"on_behalf_of": "Mary", "agent_email": " "}, "agent_address_required"),
        (
            {"email": ANN},
            {"on_behalf_of": "Mary", "agent_email": "mary at x"},
            "invalid_agent_addr",
        ),
        ({"email": ANN}, {"agent_email": "mary@example..ie"}, "invalid_agent_addr"),
        (
            {"email": ANN},
            {"on_behalf_of": "Mary", "agent_email": "ANN@example.com"},
            "agent_is_person",
        ),
        ({"subject": True}, {"agent_email": ANN}, "agent_is_person"),
        (
            {"subject": True, "email": "x@example.ie"},
            {"agent_email": MUM},
            "not_the_persons_address",
        ),
        ({}, {"on_behalf_of": "Mary", "agent_email": MUM}, "no_identity"),
    ],
)
def test_bad_agent_input_is_refused_and_nothing_is_stored(
    t: Troth, person: dict[str, Any], agent: dict[str, Any], code: str
) -> None:
    sid = buy(t, ANN)
    person = dict(person)
    if person.pop("subject", False):
        person["subject_id"] = sid
    with pytest.raises(ValidationError) as err:
        t.requests.open("access", **person, **agent)
    assert err.value.code == code and err.value.message
    assert t.requests.list(include_closed=True) == []
    assert _mails_to(t, MUM) == []


def test_an_agent_never_verified_gets_nothing_of_the_person(t: Troth) -> None:
    buy(t, ANN)
    req = _for_mum(t, email=ANN)
    with pytest.raises(PermissionDenied):
        t.requests.verify(req.id, "123456")
    with pytest.raises(PermissionDenied):
        t.requests.verify_by_signin(req.id, str(req.subject_id))
    with pytest.raises(Conflict, match="not verified"):
        t.requests.execute(req.id)
    t.requests.refuse(req.id, reason="no proof of authority was sent")
    assert _to(t, req.id) == {MUM}
    for m in mails_for(t, req.id):  # nothing of Ann: not her name, address or data
        assert "Ann" not in m["body_text"] and "High Street" not in m["body_text"]
    assert not any(":for_you" in m["idempotency_key"] for m in mails_for(t, req.id))


def test_the_person_is_told_only_when_their_data_was_changed(t: Troth) -> None:
    buy(t, ANN)
    req = _for_mum(t, "delete", email=ANN)
    t.requests.verify_by_staff(req.id, staff="olive", reason="power of attorney seen")
    t.requests.execute(req.id)
    mine = [m for m in mails_for(t, req.id) if m["to_addr"] == ANN]
    assert [m["idempotency_key"].rsplit(":", 1)[1] for m in mine] == ["for_you"]
    assert "made on your behalf by Mary Buyer, mother" in mine[0]["body_text"]
    assert "/privacy/download" not in mine[0]["body_text"]
    assert "Your request is done" in mails_for(t, req.id)[-2]["subject"]
    assert mails_for(t, req.id)[-2]["to_addr"] == MUM


def test_a_person_without_email_is_named_by_subject_id(home: Any, db_url: str) -> None:
    t = home("phone-service", db_url)
    tenant = t.access.tenants.create_tenant("Gym A", "office@gyma.example")
    sid = t.collect(
        "call_record_import", {"extension": "201", "duration_seconds": 30}, tenant_id=tenant
    ).subject_id
    req = t.requests.open(
        "access", subject_id=sid, tenant_id=tenant, on_behalf_of="Jo, guardian", agent_email=MUM
    )
    assert (req.subject_id, req.tenant_id, req.email) == (sid, tenant, None)
    assert _to(t, req.id) == {MUM} and req.acknowledged_at is not None
    other = t.access.tenants.create_tenant("Gym B", "office@gymb.example")
    n = len(_mails_to(t, MUM))
    with pytest.raises(NotFound):  # another tenant's person: unknown, audited, no mail
        t.requests.open(
            "access", subject_id=sid, tenant_id=other, on_behalf_of="Jo", agent_email=MUM
        )
    assert len(_mails_to(t, MUM)) == n
    refused = [e.entry for e in list_entries(t.ctx) if e.entry.action == "request.open"]
    assert any(e.outcome == "deny" for e in refused)


def test_an_erased_person_is_not_written_to(t: Troth) -> None:
    sid = buy(t, ANN)
    own = t.requests.open("delete", email=ANN)
    t.requests.verify(own.id, code_of(t, own.id))
    t.requests.execute(own.id)
    before = len(_mails_to(t, ANN))
    req = _for_mum(t, subject_id=sid)
    t.requests.verify_by_staff(req.id, staff="olive", reason="executor's grant seen")
    done = t.requests.execute(req.id)
    assert done.state is RequestState.completed
    assert _to(t, req.id) == {MUM} and len(_mails_to(t, ANN)) == before


def test_the_person_also_asking_keeps_their_own_letters(t: Troth) -> None:
    buy(t, ANN)
    mine = t.requests.open("access", email=ANN)
    theirs = _for_mum(t, email=ANN)
    assert _to(t, mine.id) == {ANN} and _to(t, theirs.id) == {MUM}
    with pytest.raises(PermissionDenied):  # Ann's own code does not verify the agent's
        t.requests.verify(theirs.id, code_of(t, mine.id))
    t.requests.verify(mine.id, code_of(t, mine.id))
    assert t.requests.get(theirs.id).verified_at is None
    t.requests.verify_by_staff(theirs.id, staff="olive", reason="mother's ID seen")
    a, b = t.requests.execute(mine.id), t.requests.execute(theirs.id)
    assert _to(t, mine.id) == {ANN} and _to(t, theirs.id) == {MUM}
    # Ann's own link is not the agent's: no confirmation code goes out for it.
    with pytest.raises(NotFound):
        t.requests.send_agent_code(a.download_token or "")
    assert b.download_token and re.fullmatch(r"[\w-]+", b.download_token)


def test_an_agents_email_is_opened_for_the_agent(t: Troth, tmp_path: Any) -> None:
    from test_requests_intake import eml

    buy(t, ANN)
    eml(tmp_path, "1", "Access request", "On behalf of my daughter Ann", sender=MUM)
    [req] = t.requests.ingest(tmp_path).opened
    assert (req.on_behalf, req.agent_email, req.email, req.subject_id) == (True, MUM, None, None)
    assert _to(t, req.id) == {MUM}


def test_cli_opens_for_a_named_subject_and_refuses_bad_agent_input(
    t: Troth, capsys: pytest.CaptureFixture[str]
) -> None:
    from cli_runner import run

    sid = buy(t, ANN)
    home = str(t.ctx.home)
    code, out, err = run(
        capsys,
        "--home",
        home,
        "requests",
        "open",
        "access",
        "--subject",
        sid[:12],
        "--on-behalf-of",
        "Mary Buyer (mother) mum@example.ie",
        "-q",
    )
    assert code != 0 and "agent_email" in err.replace("--agent-email", "agent_email")
    code, out, err = run(
        capsys,
        "--home",
        home,
        "requests",
        "open",
        "access",
        "--subject",
        sid,
        "--on-behalf-of",
        "Mary Buyer, mother",
        "--agent-email",
        "mum@example",
        "-q",
    )
    assert code != 0 and "agent_email" in err
    code, out, _err = run(
        capsys,
        "--home",
        home,
        "requests",
        "open",
        "access",
        "--subject",
        sid,
        "--on-behalf-of",
        "Mary Buyer, mother",
        "--agent-email",
        MUM,
        "-q",
    )
    assert code == 0
    req = t.requests.get(out.strip())
    assert (req.subject_id, req.agent_email, req.on_behalf_of) == (sid, MUM, "Mary Buyer, mother")
    assert _to(t, req.id) == {MUM}


def test_the_agent_downloads_on_the_web_with_a_mailed_code(lite: Any) -> None:
    from _http import client_for

    t = Troth(lite)
    buy(t, ANN)
    req = _for_mum(t, email=ANN)
    t.requests.verify_by_staff(req.id, staff="olive", reason="mother's ID seen")
    token = t.requests.execute(req.id).download_token
    with client_for(lite) as c:
        page = c.get("/privacy/download").text
        assert 'id="agent-code"' in page
        r = c.post("/privacy/download", data={"code": token})
        assert r.status_code == 200 and 'name="confirm"' in r.text
        assert mails_for(t, req.id)[-1]["to_addr"] == MUM
        r = c.post(
            "/privacy/download",
            data={"code": token, "confirm": "not-it"},
            headers={"Accept": "text/html"},
        )
        assert r.status_code == 401
        r = c.post("/privacy/download", data={"code": token, "confirm": code_of(t, req.id)})
        assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
        # Any other code, not signed in: sign in first (401), as before agents (whose
        # codes alone are answered without a session).
        r = c.post("/privacy/download", data={"code": "unknown"}, headers={"Accept": "text/html"})
        assert r.status_code == 401 and "PK" not in r.text[:2]


def test_over_http_an_agent_is_named_by_address_and_never_shown_back(mindlink: Any) -> None:
    """``POST /api/v1/requests`` with ``agent_email``: the agent's letters, nothing of the
    agent's address in the answer; bad agent input a 422 naming the field, nothing stored."""
    from _http import api_key, client_for, is_problem

    t = Troth(mindlink)
    buy(t, ANN)
    with client_for(mindlink) as c:
        admin = api_key(c, ["requests:admin"])
        body = {"kind": "access", "email": ANN, "on_behalf_of": "Mary Buyer, mother"}
        for bad, code in (
            ({}, "agent_address_required"),
            ({"agent_email": "mum@"}, "invalid_agent_addr"),
            ({"agent_email": ANN.upper()}, "agent_is_person"),
        ):
            problem = is_problem(
                c.post("/api/v1/requests", json={**body, **bad}, headers=admin), 422
            )
            assert problem["code"] == code, problem
        with mindlink.engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(requests)).scalar_one() == 0
        r = c.post("/api/v1/requests", json={**body, "agent_email": MUM}, headers=admin)
        assert r.status_code == 201, r.text
        out = r.json()
        assert out["state"] == "awaiting_approval" and MUM not in r.text and ANN not in r.text
        assert _to(t, out["id"]) == {MUM}
        shown = c.get(f"/api/v1/requests/{out['id']}", headers=admin)
        assert shown.status_code == 200 and MUM not in shown.text


@pytest.mark.parametrize(
    ("kind", "extra"),
    [
        ("delete", ()),
        ("close_account", ()),
        ("correct", ("--change", "name=Ann Byrne")),
        ("restrict", ("--purpose", "support")),
        ("object", ("--purpose", "support")),
    ],
)
def test_the_persons_letter_is_delivered_after_a_change_made_for_them_on_the_cli(
    t: Troth, capsys: pytest.CaptureFixture[str], kind: str, extra: tuple[str, ...]
) -> None:
    """Trial 10: a parent's erasure naming the child's own address; the child's letter
    ("made on your behalf by ...") is delivered, after their data was erased too, for each
    kind that changes their data, opened, verified and carried out as a user types it."""
    from cli_runner import run

    buy(t, ANN)
    home = ("--home", str(t.ctx.home))
    code, out, err = run(
        capsys,
        *home,
        "requests",
        "open",
        kind,
        "--email",
        ANN,
        "--on-behalf-of",
        "Mary Buyer, mother",
        "--agent-email",
        MUM,
        *extra,
        "-q",
    )
    assert code == 0, err
    rid = out.strip()
    assert (
        run(capsys, *home, "requests", "verify", rid, "--staff", "olive", "--reason", "seen")[0]
        == 0
    )
    code, _out, err = run(capsys, *home, "requests", "execute", rid)
    assert code == 0, err
    assert run(capsys, *home, "outbox", "deliver")[0] == 0
    mine = [m for m in mails_for(t, rid) if m["to_addr"] == ANN]
    assert [(m["idempotency_key"].rsplit(":", 1)[1], m["status"]) for m in mine] == [
        ("for_you", "sent")
    ]
    assert "made on your behalf by Mary Buyer, mother" in mine[0]["body_text"]
    assert "contact" in mine[0]["body_text"] and "/privacy/download" not in mine[0]["body_text"]
    sent = [p.read_text() for p in (t.ctx.home / "mail").glob("*.eml")]
    assert any(f"To: {ANN}" in m and "on your behalf" in m for m in sent)
