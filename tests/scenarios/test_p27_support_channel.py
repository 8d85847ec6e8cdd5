"""P27 (ilign): a request arriving by e-mail is recognised, acknowledged, verified and
tracked to completion against its legal deadline; the deadline is right for the regime;
`troth requests list --due` shows what is due and overdue."""

from __future__ import annotations

from datetime import date, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from cli_runner import run
from requests_helpers import buy, code_of, mails_for
from troth.clock import ManualClock
from troth.requests.deadlines import acknowledge_by, due_date
from troth.requests.states import Channel, RequestKind, RequestState


def write_eml(folder: Path, name: str, sender: str, subject: str, body: str) -> Path:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "privacy@ilign.example"
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{name}@mail.example>"
    msg.set_content(body)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.eml").write_bytes(bytes(msg))
    return folder / f"{name}.eml"


def test_p27_email_request_tracked_to_completion(
    home: Any, db_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    t = home("mindlink", db_url)
    sid = buy(t, "ann@example.com")
    box = tmp_path / "support-inbox"
    write_eml(box, "m1", "Ann <ann@example.com>", "Right to be forgotten", "Please forget me.")
    (req,) = t.requests.ingest(box).opened
    assert req.kind is RequestKind.delete and req.channel is Channel.email
    assert req.subject_id == sid
    # UK GDPR (the person's regime): one calendar month, day of receipt is day 1.
    assert req.received_at.date() == date(2026, 3, 2)
    assert req.due_at == date(2026, 4, 2) == due_date("uk_gdpr", date(2026, 3, 2))
    assert "2026-04-02" in mails_for(t, req.id)[0]["body_text"]
    assert [r.id for r in t.requests.list(due_within=31)] == [req.id]
    clock.advance(days=3)
    t.requests.send_code(req.id)
    t.requests.verify(req.id, code_of(t, req.id))
    done = t.requests.execute(req.id)
    assert done.state is RequestState.completed
    assert done.closed_at is not None and done.closed_at.date() <= done.due_at
    assert t.requests.list(due_within=31) == []


def test_p27_deadline_per_regime_and_overdue(home: Any, db_url: str, clock: ManualClock) -> None:
    t = home("mindlink", db_url)
    received = clock.now().date()
    ccpa = t.requests.open("access", email="cal@example.com", regime="ccpa", channel="ticket")
    assert ccpa.due_at == received + timedelta(days=45)
    assert ccpa.acknowledge_by == acknowledge_by("ccpa", received)
    nz = t.requests.open("access", email="kiwi@example.com", regime="nz")
    assert nz.due_at == due_date("nz", received)
    gdpr = t.requests.open("access", email="eu@example.com", regime="gdpr")
    assert gdpr.due_at == date(2026, 4, 2)
    clock.advance(days=32)
    overdue = [r.id for r in t.requests.list(overdue=True)]
    assert gdpr.id in overdue and ccpa.id not in overdue


def test_p27_cli_ingest_verify_list_execute(
    home: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    t = home("mindlink")
    buy(t, "ann@example.com")
    home_dir = str(t.ctx.home)
    box = tmp_path / "inbox"
    write_eml(box, "a", "ann@example.com", "Copy of my data", "Send me a copy of my data")
    write_eml(box, "b", "bob@example.com", "Hello", "Where is my parcel?")
    code, out, err = run(capsys, "--home", home_dir, "requests", "ingest", str(box))
    assert code == 2 and "not recognised" in out and "b.eml" in out
    (req,) = t.requests.list()
    code, out, _ = run(capsys, "--home", home_dir, "requests", "list", "--due", "40", "--json")
    assert code == 0 and req.id in out
    code, _, err = run(capsys, "--home", home_dir, "requests", "execute", req.id)
    assert code == 1 and "identity_unverified" in err
    code, _, err = run(capsys, "--home", home_dir, "requests", "verify", req.id, "--code", "abc")
    assert code == 1 and "wrong code" in err
    code, out, _ = run(
        capsys, "--home", home_dir, "requests", "verify", req.id, "--code", code_of(t, req.id)
    )
    assert code == 0 and "verified" in out
    code, out, _ = run(capsys, "--home", home_dir, "requests", "execute", req.id)
    assert code == 0 and "completed" in out
    token = out.split("download code (also mailed to the person): ")[1].split()[0]
    target = tmp_path / "mine.zip"
    # The code is never a command-line argument (ps, shell history): asked for, or env.
    monkeypatch.setenv("TROTH_CODE", f"https://privacy.example/privacy/download#{token}")
    code, out, _ = run(capsys, "--home", home_dir, "requests", "download", "-o", str(target))
    assert code == 0 and target.read_bytes()[:2] == b"PK"
    assert target.stat().st_mode & 0o777 == 0o600
    code, _, err = run(capsys, "--home", home_dir, "requests", "download", "-o", str(target))
    assert code == 1 and "already used" in err
    code, out, _ = run(capsys, "--home", home_dir, "requests", "show", req.id, "--json")
    assert code == 0 and '"completed"' in out
    code, _, err = run(capsys, "--home", home_dir, "requests", "show", "nope")
    assert code == 1 and "no request 'nope'" in err
    code, _, err = run(capsys, "--home", home_dir, "requests", "extend", req.id, "--reason", "x")
    assert code == 1 and "closed" in err
