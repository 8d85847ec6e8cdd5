"""Mail at rest: what a message says is kept encrypted, and what it is is sealed.

A message's subject line, text, HTML and headers (a one-time code, a download or
invitation link, an unsubscribe link, a letter about a request) are stored in the outbox's
``content`` column, AES-256-GCM encrypted under a key derived from the key file's token
key (``Keyring.mac("troth:outbox:content-key")``, never stored), with the message's
idempotency key as associated data. The token key never changes in a home, so a key
rotation (`troth keys rotate --reencrypt --retire-old`) leaves queued mail deliverable.
Someone who reads the database without the key file reads no code, link or letter.

Each row is sealed (troth.access.seals, ``OUTBOX_COLUMNS``: its id, key, address, person,
list, purpose, kind, headers, subject, bodies, content, Message-ID and creation time). A
row that does not match its seal (re-addressed, given another person, list, kind or
words, inserted, the seal cleared) or whose content does not decrypt (another home's key
file) is never sent: delivery refuses it, audited ``record_tampered``, and `troth audit
verify` names it (``bad_mail``).

:func:`read_mail` and :func:`open_mail` are the only readers of a message's words;
:func:`stored_columns` is what every write of them stores. Rows written before schema 0021
(plain text, no seal) are encrypted and sealed once, by the first `troth db migrate` that
has the key file (:func:`seal_existing_mail`, audited ``outbox.sealed``); a row without a
seal after that was written outside troth and stays refused.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select, update

from troth.access.seals import OUTBOX_COLUMNS, access_matches, seal_new, write_sealed
from troth.errors import IntegrityError
from troth.notices.tables import outbox

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from troth.context import Context
    from troth.keys import Keyring

# What a scrubbed message keeps of its address and subject (troth.notices.purge).
SCRUBBED = "[scrubbed]"
# What a message that carried a one-time code or link keeps of its text once sent.
SENT_NOTE = (
    "[sent; this message carried a one-time code or link, which troth does not keep once"
    " the message has gone]"
)
_LABEL = "troth:outbox:content-key"
_NONCE = 12
_PAGE = 2_000
# The columns a message's words used to be stored in, and are read from when ``content``
# is NULL (a scrubbed row).
_WORDS = ("subject", "body_text", "body_html", "headers")


@dataclass(frozen=True, slots=True)
class Mail:
    """A message's words: what the outbox keeps encrypted. ``once``: it carries a
    one-time code or link, so only its subject line is kept once it was sent."""

    subject: str
    body_text: str
    body_html: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    once: bool = False


class MailTampered(IntegrityError, code="record_tampered", status=409):
    """An outbox row does not match its seal, or its words do not decrypt: it was changed
    outside troth (or the key file is not the home's). It is never sent."""


def tampered(outbox_id: Any) -> MailTampered:
    return MailTampered(
        f"outbox message {outbox_id} does not match its seal: its address, person, list,"
        " kind or words were changed outside troth (a database writer without the key"
        " file; or this key file is not the home's), so it is not sent. Run `troth audit"
        " verify`, then restore the row from a backup or delete it",
        outbox_id=outbox_id,
    )


def _content_key(keys: Keyring) -> bytes:
    return keys.mac(_LABEL, b"")


def _ad(idempotency_key: str) -> bytes:
    """Associated data: the message's idempotency key (unique), so content copied to
    another row does not decrypt."""
    return json.dumps(["troth:outbox:1", idempotency_key]).encode()


def stored_columns(keys: Keyring, idempotency_key: str, mail: Mail) -> dict[str, Any]:
    """The columns a message's words are stored as: ``content`` encrypted, the plain
    columns empty."""
    words = {
        "subject": mail.subject,
        "body_text": mail.body_text,
        "body_html": mail.body_html,
        "headers": dict(mail.headers),
        "once": mail.once,
    }
    nonce = os.urandom(_NONCE)
    plain = json.dumps(words, ensure_ascii=False).encode()
    blob = nonce + AESGCM(_content_key(keys)).encrypt(nonce, plain, _ad(idempotency_key))
    return {"content": blob, "subject": "", "body_text": "", "body_html": None, "headers": {}}


def _fields(row: Any) -> Mapping[str, Any]:
    """A row as read (a Row, a RowMapping or a dict of it) as a mapping by column name."""
    return getattr(row, "_mapping", row)  # type: ignore[no-any-return]


def mail_matches(keys: Keyring, row: Any) -> bool:
    """Whether an outbox row read with every sealed column and ``seal`` matches."""
    m = _fields(row)
    try:
        cols, seal = [m[c] for c in OUTBOX_COLUMNS], m["seal"]
    except KeyError:  # not read with every sealed column: nothing to trust
        return False
    return access_matches(keys, outbox, cols, seal)


def open_mail(keys: Keyring, row: Any) -> Mail:
    """The words of an outbox row read with every column (``select(outbox)``), once the
    row is found to match its seal; :class:`MailTampered` when it does not, or when its
    content does not decrypt."""
    m = _fields(row)
    if not mail_matches(keys, m):
        raise tampered(m.get("id"))
    blob = m["content"]
    if blob is None:  # scrubbed: what is left is in the plain columns
        return Mail(m["subject"], m["body_text"], m["body_html"], dict(m["headers"] or {}))
    blob = bytes(blob)
    try:
        plain = AESGCM(_content_key(keys)).decrypt(
            blob[:_NONCE], blob[_NONCE:], _ad(m["idempotency_key"])
        )
        words = json.loads(plain)
        return Mail(
            str(words["subject"]),
            str(words["body_text"]),
            words["body_html"],
            dict(words["headers"] or {}),
            bool(words.get("once")),
        )
    except (InvalidTag, ValueError, KeyError, TypeError):
        raise tampered(m.get("id")) from None


def read_mail(keys: Keyring, row: Any) -> dict[str, Any]:
    """The one reader of what a message says: the outbox row as a dict with its
    ``subject``, ``body_text``, ``body_html`` and ``headers`` as sent (decrypted), without
    ``content`` and ``seal``, and ``tampered`` False. A row that does not match its seal
    (or does not decrypt) has those four None and ``tampered`` True: nothing of what it
    says is shown."""
    m = dict(_fields(row))
    m.pop("seal", None)
    m.pop("content", None)
    try:
        mail = open_mail(keys, row)
    except MailTampered:
        m.update(dict.fromkeys(_WORDS), tampered=True)
        return m
    m.update(
        subject=mail.subject,
        body_text=mail.body_text,
        body_html=mail.body_html,
        headers=mail.headers,
        tampered=False,
    )
    return m


def forget_once(conn: Connection, keys: Keyring, row: Mapping[str, Any], mail: Mail) -> None:
    """After a message that carried a one-time code or link was sent: keep its subject
    line, put :data:`SENT_NOTE` in place of its text, drop its HTML and headers (in the
    caller's transaction; the row sealed again as it now is)."""
    if not mail.once:
        return
    kept = Mail(mail.subject, SENT_NOTE)
    content = stored_columns(keys, row["idempotency_key"], kept)["content"]
    write_sealed(conn, keys, outbox, outbox.c.id == row["id"], content=content)


def bad_mail(conn: Connection, keys: Keyring) -> tuple[int, list[str]]:
    """How many messages the outbox holds, and ``outbox:ID`` for each that does not match
    its seal (a page at a time)."""
    q = select(*(outbox.c[c] for c in OUTBOX_COLUMNS), outbox.c.seal).order_by(outbox.c.id)
    checked, after = 0, 0
    bad: list[str] = []
    while True:
        page = conn.execute(q.where(outbox.c.id > after).limit(_PAGE)).all()
        if not page:
            return checked, bad
        checked += len(page)
        bad += [f"outbox:{r[0]}" for r in page if not access_matches(keys, outbox, r[:-1], r[-1])]
        after = page[-1][0]


def seal_existing_mail(ctx: Context) -> dict[str, int] | None:
    """Encrypt the words of every message stored before schema 0021 (plain text, no
    seal) and seal it, once per home, audited (``outbox.sealed``); None when the home's
    outbox was sealed before (a row without a seal now was written outside troth)."""
    from troth.audit.entry import AuditEntry
    from troth.audit.log import append_entry, transaction
    from troth.store.sealing import OUTBOX_SEALED_ACTION, OUTBOX_SEALED_FLAG, sealed_before

    with transaction(ctx) as conn:
        if sealed_before(conn, OUTBOX_SEALED_ACTION, OUTBOX_SEALED_FLAG):
            return None
        ids = list(conn.execute(select(outbox.c.id).where(outbox.c.seal.is_(None))).scalars())
        encrypted = 0
        for start in range(0, len(ids), _PAGE):
            chunk = ids[start : start + _PAGE]
            for r in conn.execute(select(outbox).where(outbox.c.id.in_(chunk))).mappings():
                if r["content"] is not None or r["to_addr"] == SCRUBBED:
                    continue
                words = Mail(r["subject"], r["body_text"], r["body_html"], r["headers"] or {})
                values = stored_columns(ctx.keys, r["idempotency_key"], words)
                conn.execute(update(outbox).where(outbox.c.id == r["id"]).values(**values))
                encrypted += 1
        done = {"encrypted": encrypted, "sealed": seal_new(conn, ctx.keys, outbox, ids)}
        entry = AuditEntry(action=OUTBOX_SEALED_ACTION, actor="system", details=done)
        append_entry(conn, ctx.clock.now(), entry)
    return done
