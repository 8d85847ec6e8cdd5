"""E-mail intake (P27): the phrasings people use are recognised, ambiguous or unknown mail
is reported and never guessed, the same Message-ID is opened once."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from requests_helpers import mails_for
from troth.engine import Troth
from troth.requests.mailbox import classify, read_message
from troth.requests.states import Channel, RequestKind, RequestState

K = RequestKind


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Please delete my data", K.delete),
        ("I want you to erase all of my personal information", K.delete),
        ("Right to be forgotten", K.delete),
        ("GDPR erasure request", K.delete),
        ("forget me please", K.delete),
        ("Subject access request", K.access),
        ("Can I have a copy of my data?", K.access),
        ("What personal data do you hold about me?", K.access),
        ("DSAR", K.access),
        ("Please send me all my personal data", K.access),
        ("Please correct my address, I moved", K.correct),
        ("Update my email address", K.correct),
        ("Unsubscribe", K.object),
        ("Stop marketing to me", K.object),
        ("Please stop sending me newsletters", K.object),
        ("I opt out of direct marketing", K.object),
        ("Close my account", K.close_account),
        ("Please cancel my account and delete my data", K.close_account),
        ("Data portability: transfer my data to another provider", K.portability),
        ("Please restrict processing of my data", K.restrict),
        ("limit the use of my data", K.restrict),
    ],
)
def test_phrasings(text: str, kind: RequestKind) -> None:
    assert classify(text)[0] is kind


@pytest.mark.parametrize(
    "text",
    [
        "Where is my order?",
        "I cannot access my account, password reset please",
        "Unsubscribe me and send me a copy of my data",  # two requests: by hand
        "",
    ],
)
def test_not_guessed(text: str) -> None:
    assert classify(text)[0] is None


def eml(
    folder: Path,
    name: str,
    subject: str,
    body: str,
    sender: str = "Ann <ann@example.com>",
    message_id: str | None = None,
    html: bool = False,
) -> Path:
    msg = EmailMessage()
    if sender:
        msg["From"] = sender
    msg["To"] = "office@mindlinksoft.com"
    msg["Subject"] = subject
    if message_id != "":
        msg["Message-ID"] = message_id or f"<{name}@mail.example>"
    if html:
        msg.set_content(body, subtype="html")
    else:
        msg.set_content(body)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.eml"
    path.write_bytes(bytes(msg))
    return path


def test_read_message_ignores_quotes_and_signature(tmp_path: Path) -> None:
    path = eml(
        tmp_path,
        "a",
        "Re: your order",
        "Please erase my personal data.\n\n> Unsubscribe here\n-- \nAnn\nUnsubscribe footer",
    )
    found = read_message(path)
    assert found.kind is K.delete and found.sender == "ann@example.com"
    html = read_message(eml(tmp_path, "h", "Hi", "<p>Close my <b>account</b></p>", html=True))
    assert html.kind is K.close_account  # markup stripped before reading


def test_problems_are_named(tmp_path: Path) -> None:
    no_sender = read_message(eml(tmp_path, "s", "Delete my data", "x", sender=""))
    assert "no sender" in (no_sender.problem or "")
    no_id = read_message(eml(tmp_path, "m", "Delete my data", "x", message_id=""))
    assert "Message-ID" in (no_id.problem or "")
    two = read_message(eml(tmp_path, "two", "Unsubscribe", "and send me a copy of my data"))
    assert "several" in (two.problem or "") and two.kind is None
    behalf = read_message(eml(tmp_path, "b", "Delete my data", "I write on behalf of my mother"))
    assert behalf.on_behalf and behalf.kind is K.delete


@pytest.fixture
def t(home: Any, db_url: str) -> Troth:
    return home("mindlink", db_url)


def test_ingest_folder_once_per_message(t: Troth, tmp_path: Path) -> None:
    box = tmp_path / "inbox"
    eml(box, "1", "Delete my data", "Thanks, Ann")
    eml(box, "2", "Question", "Where is my invoice?")
    eml(box, "3", "Access request", "On behalf of my client, Mr Smith", sender="law@firm.example")
    report = t.requests.ingest(box)
    assert [r.kind for r in report.opened] == [K.delete, K.access]
    delete, behalf = report.opened
    assert delete.channel is Channel.email and delete.state is RequestState.identity_unverified
    assert delete.details["subject"] == "Delete my data"
    assert behalf.on_behalf and behalf.state is RequestState.awaiting_approval
    assert [Path(u.path).name for u in report.unrecognised] == ["2.eml"]
    assert mails_for(t, delete.id)[0]["subject"].startswith("We received your request")
    again = t.requests.ingest(box)
    assert again.opened == [] and len(again.duplicates) == 2
    assert len(t.requests.list()) == 2


def test_ingest_missing_path(t: Troth, tmp_path: Path) -> None:
    from troth.errors import ValidationError

    with pytest.raises(ValidationError, match="no such file"):
        t.requests.ingest(tmp_path / "nope")
