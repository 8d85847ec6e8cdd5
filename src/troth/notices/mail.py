"""Turning an outbox row into an e-mail, and the two ways it leaves: SMTP, or an ``.eml``
file in the home's mail folder when no SMTP server is configured.

A transport is a tiny interface (``send(message, outbox_id)``, ``close()``) so a test or an
application can swap it, like httpx's transports.
"""

from __future__ import annotations

import hashlib
import logging
import os
import smtplib
import ssl
from collections.abc import Iterable, Mapping
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from troth.settings import Settings

if TYPE_CHECKING:
    from troth.notices.sealed import Mail

RESERVED_HEADERS = frozenset(
    {"from", "to", "subject", "message-id", "date", "list-unsubscribe", "list-unsubscribe-post"}
)

log = logging.getLogger("troth.mail")

# CRLF line ends, and no folding below the RFC 5322 limit: a List-Unsubscribe URL stays on
# its header line, unbroken, for the receivers that parse it.
_POLICY = SMTP.clone(max_line_length=998)


class MailTransport(Protocol):
    def send(self, message: EmailMessage, outbox_id: int) -> None:
        """Hand the message over; raise OSError/smtplib.SMTPException when it was not."""
        ...

    def close(self) -> None: ...


def message_id(idempotency_key: str, mail_from: str) -> str:
    """A Message-ID fixed by the idempotency key: a retry, or a resend after a crash,
    carries the same id, so a duplicate is detectable downstream."""
    domain = mail_from.rsplit("@", 1)[-1].strip("> ") or "localhost"
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    return f"<troth.{digest}@{domain}>"


def build_message(row: Mapping[str, Any], mail: Mail, settings: Settings) -> EmailMessage:
    """The e-mail for one outbox row (its envelope) and its words, decrypted just before
    sending (troth.notices.sealed.open_mail): text, plus HTML alternative when given."""
    msg = EmailMessage(policy=_POLICY)
    msg["From"] = settings.mail_from
    msg["To"] = row["to_addr"]
    msg["Subject"] = mail.subject
    msg["Date"] = format_datetime(row["created_at"])
    msg["Message-ID"] = row["message_id"]
    for name, value in mail.headers.items():
        msg[name] = value
    msg.set_content(mail.body_text)
    if mail.body_html:
        msg.add_alternative(mail.body_html, subtype="html")
    return msg


class SmtpTransport:
    """One SMTP connection per delivery run, opened on the first message."""

    def __init__(self, settings: Settings, timeout: float = 30.0) -> None:
        self.settings = settings
        self.timeout = timeout
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        smtp = smtplib.SMTP(s.smtp_host or "", s.smtp_port, timeout=self.timeout)
        try:
            if s.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if s.smtp_username:
                smtp.login(s.smtp_username, s.smtp_password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, message: EmailMessage, outbox_id: int) -> None:
        if self._smtp is None:
            self._smtp = self._connect()
        try:
            self._smtp.send_message(message)
        except (smtplib.SMTPServerDisconnected, OSError):
            self.close()
            raise

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                self._smtp.close()
            self._smtp = None


class MailDirTransport:
    """Writes ``<outbox id>.eml`` into a folder, atomically (a rerun rewrites the same file).

    Each file is the recipient's alone (their address, a one-time code, an unsubscribe
    link): written ``0600``, in a folder made ``0700``; the home's own folder (``own``:
    HOME/mail, no ``mail_dir`` set) is made ``0700`` again when an older troth left it
    open. An erasure removes the person's files, and scrubbing old mail removes theirs
    (:func:`remove_mail_files`, :mod:`troth.notices.purge`)."""

    def __init__(self, folder: Path, *, own: bool = False) -> None:
        self.folder = folder
        self.own = own

    def send(self, message: EmailMessage, outbox_id: int) -> None:
        private_folder(self.folder, own=self.own)
        final, tmp = mail_paths(self.folder, outbox_id)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), 0o600)  # a tmp file left by a crash kept its mode
            out.write(message.as_bytes())
        os.replace(tmp, final)

    def close(self) -> None:
        return None


def private_folder(folder: Path, *, own: bool) -> None:
    """Make ``folder`` (``0700``) if it is missing; the home's own folder is closed to
    others if it is not (a folder set with ``mail_dir`` keeps the mode its operator gave)."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if own and folder.stat().st_mode & 0o077:
        folder.chmod(0o700)


def mail_paths(folder: Path, outbox_id: int) -> tuple[Path, Path]:
    """The file of outbox message ``outbox_id`` in ``folder``, and its temporary name."""
    final = folder / f"{int(outbox_id)}.eml"
    return final, final.with_suffix(".eml.tmp")


def remove_mail_files(folder: Path, outbox_ids: Iterable[int]) -> int:
    """Remove the ``.eml`` files (and any temporary file) of ``outbox_ids`` from
    ``folder``; returns how many files were removed. Never raises: a file that cannot be
    removed is logged (``troth audit verify`` is not about files; the next scrub of old
    mail tries again)."""
    removed = 0
    for oid in outbox_ids:
        for path in mail_paths(folder, oid):
            try:
                path.unlink()
                removed += 1
            except FileNotFoundError:
                continue
            except OSError as exc:
                log.warning("could not remove %s: %s", path, exc)
    return removed


def mail_folder(settings: Settings) -> Path | None:
    """The folder ``.eml`` files go to, when it exists (with SMTP set too: files written
    before it was set are still there); None when it does not."""
    folder = settings.resolved_mail_dir
    return folder if folder.is_dir() else None


def transport_for(settings: Settings) -> MailTransport:
    """SMTP when ``smtp_host`` is set, otherwise ``.eml`` files in the mail folder."""
    if settings.smtp_host:
        return SmtpTransport(settings)
    return MailDirTransport(settings.resolved_mail_dir, own=settings.mail_dir is None)
