"""Requests arriving by e-mail or ticket (P27): read ``.eml`` files, recognise the sender
and the kind of request from the subject and body, in the phrasings people use.

Recognition is a pattern per kind (its handler's, :mod:`troth.requests.kinds`). A message
matching no kind, or kinds that contradict each other, is reported as unrecognised: never
guessed."""

from __future__ import annotations

import email
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import parseaddr
from functools import cache
from pathlib import Path
from typing import Final

from troth.collection.validation import email_problem
from troth.errors import ValidationError
from troth.requests.receipt import header_time
from troth.requests.states import RequestKind

MAX_MESSAGE_BYTES = 5_000_000
_SCAN_CHARS = 4000  # the request is at the top; signatures and quoted threads follow


@cache
def phrases() -> tuple[tuple[RequestKind, re.Pattern[str]], ...]:
    """Each kind's pattern (its handler's), the more specific phrasings first."""
    from troth.requests.kinds import registry

    ranked = sorted(registry().values(), key=lambda h: h.rank)
    return tuple((h.kind, re.compile(h.phrases, re.IGNORECASE)) for h in ranked)


# A request made for somebody else: flagged, and only staff may verify it.
ON_BEHALF: Final = re.compile(
    r"\bon\s+behalf\s+of\b|\bmy\s+(client|mother|father|son|daughter|wife|husband|partner)'?s?\b"
    r"|\bas\s+(his|her|their)\s+(lawyer|solicitor|attorney|representative|guardian)\b",
    re.IGNORECASE,
)


@dataclass
class Recognised:
    """What a message asks, or why it could not be read as a request."""

    path: str
    message_id: str | None
    sender: str | None
    subject: str
    kind: RequestKind | None = None
    on_behalf: bool = False
    problem: str | None = None
    matched: list[str] = field(default_factory=list)
    sent_at: datetime | None = None
    """The ``Date`` header: when the person sent it (None when absent or unreadable)."""
    arrived_at: datetime | None = None
    """The newest ``Received`` header's time: when the organisation's mail server took it
    (None when absent or unreadable)."""

    @property
    def received_at(self) -> datetime | None:
        """When the request arrived: the server's stamp, else the sender's ``Date``."""
        return self.arrived_at or self.sent_at


def classify(text: str) -> tuple[RequestKind | None, list[RequestKind]]:
    """The one kind ``text`` asks for (or None), and every kind it matched."""
    from troth.requests.kinds import handler_for

    found = [kind for kind, pattern in phrases() if pattern.search(text)]
    kinds = set(found)
    for kind in list(kinds):
        # "close my account and delete my data" is one closure, not a closure and a deletion.
        kinds -= handler_for(kind).implies
    return (next(iter(kinds)) if len(kinds) == 1 else None), found


def _body(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        text = str(part.get_content())
    except (LookupError, UnicodeError):
        return ""
    if part.get_content_type() == "text/html":
        text = re.sub(r"<[^>]+>", " ", text)
    # Quoted replies and signatures are someone else's words.
    lines = []
    for line in text.splitlines():
        if line.strip() in ("--", "-- "):
            break
        if not line.lstrip().startswith(">"):
            lines.append(line)
    return "\n".join(lines)[:_SCAN_CHARS]


def read_message(path: Path) -> Recognised:
    """Read one ``.eml`` file and recognise what it asks."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ValidationError(f"{path}: cannot be read ({exc.strerror})") from exc
    if len(raw) > MAX_MESSAGE_BYTES:
        return Recognised(str(path), None, None, "", problem="larger than 5 MB; read it by hand")
    msg = email.message_from_bytes(raw, policy=default_policy)
    assert isinstance(msg, EmailMessage)
    subject = str(msg.get("Subject", "") or "").strip()
    message_id = str(msg.get("Message-ID", "") or "").strip() or None
    _name, addr = parseaddr(str(msg.get("From", "") or ""))
    addr = addr.strip()
    sender = addr.lower() if addr and email_problem(addr) is None else None
    out = Recognised(str(path), message_id, sender, subject)
    try:
        out.sent_at = header_time(str(msg.get("Date", "") or ""))
    except (TypeError, ValueError):  # the header itself does not parse
        out.sent_at = None
    try:
        # The first Received header is the last hop's: the organisation's own server.
        hops = msg.get_all("Received") or []
        out.arrived_at = header_time(str(hops[0]).rsplit(";", 1)[-1]) if hops else None
    except (TypeError, ValueError):
        out.arrived_at = None
    if sender is None:
        out.problem = (
            "no sender address in From (or not an e-mail address): cannot answer or verify"
            " the person"
        )
        return out
    if message_id is None:
        out.problem = "no Message-ID: cannot make sure it is opened only once"
        return out
    text = f"{subject}\n{_body(msg)}"
    kind, matched = classify(text)
    out.matched = [k.value for k in matched]
    out.on_behalf = bool(ON_BEHALF.search(text))
    if kind is None:
        out.problem = (
            "asks for several things (" + ", ".join(sorted(set(out.matched))) + "): open the"
            " requests by hand"
            if matched
            else f"no request recognised ({_nouns()}): read it by hand"
        )
    out.kind = kind
    return out


def _nouns() -> str:
    from troth.requests.kinds import registry

    return ", ".join(h.noun for h in registry().values())


def message_files(path: Path) -> list[Path]:
    """``path`` itself, or the ``.eml`` files of a folder (sorted; a Maildir's cur/new too)."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ValidationError(f"{path}: no such file or folder of .eml files")
    found = sorted(p for p in path.rglob("*.eml") if p.is_file())
    for sub in ("new", "cur"):  # Maildir: files without extension
        if (path / sub).is_dir():
            found += sorted(p for p in (path / sub).iterdir() if p.is_file())
    return found
