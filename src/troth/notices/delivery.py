"""Delivering the outbox (:mod:`troth.notices.outbox`): due messages claimed a batch at a
time, transactional mail first, consent checked again, sent, and recorded.

Each claimed row is checked against its seal and its words decrypted just before it is
sent (troth.notices.sealed): a row changed outside troth is marked failed, never sent,
and audited ``mail.refused`` (``record_tampered``).

Delivery is three committed steps: claim (``queued`` -> ``sending``, with a lease), send,
record (``sending`` -> ``sent``). If the process dies after the SMTP server accepted a
message but before ``sent`` was committed, the row stays ``sending``; when its lease ends it
is sent again (at-least-once, the only window for a duplicate). The Message-ID is fixed by
the idempotency key, so such a duplicate carries the same Message-ID and receiving
systems can detect and drop it.
"""

from __future__ import annotations

import smtplib
from collections.abc import Mapping, Sequence
from dataclasses import astuple, dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update

from troth.audit.entry import AuditEntry, Outcome
from troth.audit.log import append_entries, transaction
from troth.audit.refusals import denial
from troth.context import Context
from troth.dialects import dialect_for
from troth.gate import Reason
from troth.notices.mail import MailTransport, build_message
from troth.notices.mail import transport_for as _transport_for
from troth.notices.outbox import MailStatus, mail_refusal, outbox
from troth.notices.sealed import Mail, MailTampered, forget_once, open_mail

MAX_ATTEMPTS = 8
LEASE = timedelta(minutes=10)
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CAP = timedelta(hours=6)


# deliver_due claims this many at a time, so mail queued during a long run (a code asked
# for while 2,000 notices go out) is picked up by the next batch, ahead of the rest.
CLAIM_BATCH = 25


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """What one :func:`deliver_due` run did."""

    claimed: int = 0
    sent: int = 0
    suppressed: int = 0
    retrying: int = 0
    failed: int = 0


def deliver_due(
    ctx: Context, limit: int = 100, transport: MailTransport | None = None
) -> DeliveryReport:
    """Send up to ``limit`` due messages, transactional mail first (then notices, then
    marketing; oldest first within each), claimed :data:`CLAIM_BATCH` at a time so that
    mail queued meanwhile overtakes the rest of a bulk run: consent is checked again first
    (an unsubscribe since queueing suppresses the message), failures are retried with
    exponential backoff and marked failed after MAX_ATTEMPTS."""
    total = DeliveryReport()
    sender = transport or _transport_for(ctx.settings)
    try:
        while total.claimed < limit:
            done = _deliver_batch(ctx, min(CLAIM_BATCH, limit - total.claimed), sender)
            if not done.claimed:
                break
            total = DeliveryReport(
                *(a + b for a, b in zip(astuple(total), astuple(done), strict=True))
            )
    finally:
        sender.close()
    return total


def _deliver_batch(ctx: Context, limit: int, sender: MailTransport) -> DeliveryReport:
    rows = _claim(ctx, limit)
    if not rows:
        return DeliveryReport()
    report = {"sent": 0, "suppressed": 0, "retrying": 0, "failed": 0}
    words, bad = _opened(ctx, rows)
    if bad:
        _refuse_tampered(ctx, bad)
        report["failed"] += len(bad)
    rows = [r for r in rows if r["id"] in words]
    blocked = _suppressed(ctx, rows)
    if blocked:
        _record_suppressed(ctx, rows, blocked)
        report["suppressed"] = len(blocked)
    for row in rows:
        if row["id"] in blocked:
            continue
        mail = words[row["id"]]
        try:
            sender.send(build_message(row, mail, ctx.settings), row["id"])
        except (OSError, smtplib.SMTPException) as exc:
            report[_record_failure(ctx, row, exc)] += 1
            continue
        _record_sent(ctx, row, mail)
        report["sent"] += 1
    return DeliveryReport(claimed=len(rows) + len(bad), **report)


def _opened(
    ctx: Context, rows: Sequence[Mapping[str, Any]]
) -> tuple[dict[int, Mail], list[Mapping[str, Any]]]:
    """The words of each claimed row that matches its seal, decrypted just before it is
    sent (by id), and the rows that do not (or do not decrypt): those are never sent."""
    words: dict[int, Mail] = {}
    bad: list[Mapping[str, Any]] = []
    for r in rows:
        try:
            words[r["id"]] = open_mail(ctx.keys, r)
        except MailTampered:
            bad.append(r)
    return words, bad


def _refuse_tampered(ctx: Context, rows: Sequence[Mapping[str, Any]]) -> None:
    """Mark rows changed outside troth failed, never sent, each refusal audited
    (``mail.refused``, reason ``record_tampered``, the message's id only: its person,
    list and words are not trusted)."""
    now = ctx.clock.now()
    ids = [r["id"] for r in rows]
    with transaction(ctx) as conn:
        conn.execute(
            update(outbox)
            .where(outbox.c.id.in_(ids))
            .values(status=MailStatus.failed.value, last_error=TAMPERED_ERROR)
        )
        append_entries(
            conn,
            now,
            [
                denial(
                    "mail.refused",
                    "system",
                    Reason.record_tampered,
                    details={"outbox_id": i, "why": "does not match its seal; not sent"},
                )
                for i in ids
            ],
        )


TAMPERED_ERROR = (
    "not sent: the row does not match its seal (changed outside troth, or another home's"
    " key file); run `troth audit verify`"
)


def _record_suppressed(
    ctx: Context, rows: Sequence[Mapping[str, Any]], blocked: Mapping[int, tuple[Reason, str]]
) -> None:
    now = ctx.clock.now()
    with transaction(ctx) as conn:
        conn.execute(
            update(outbox)
            .where(outbox.c.id.in_(list(blocked)))
            .values(status=MailStatus.suppressed.value, last_error=None)
        )
        append_entries(
            conn,
            now,
            [
                denial(
                    "mail.suppressed",
                    "system",
                    blocked[r["id"]][0],
                    subject_id=r["subject_id"],
                    purpose=r["purpose"],
                    details={
                        "outbox_id": r["id"],
                        "list_id": r["list_id"],
                        "why": blocked[r["id"]][1],
                    },
                )
                for r in rows
                if r["id"] in blocked
            ],
        )


def transport_for(ctx: Context) -> MailTransport:
    return _transport_for(ctx.settings)


def _claim(ctx: Context, limit: int) -> list[dict[str, Any]]:
    now = ctx.clock.now()
    o = outbox.c
    due = and_(
        or_(o.status == MailStatus.queued.value, o.status == MailStatus.sending.value),
        o.next_attempt_at <= now,
    )
    stmt = select(o.id).where(due).order_by(o.priority, o.next_attempt_at, o.id).limit(limit)
    # Several workers: each takes rows the others have not locked.
    stmt = dialect_for(ctx.engine).claim(stmt)
    with ctx.engine.begin() as conn:
        ids = list(conn.execute(stmt).scalars())
        if not ids:
            return []
        conn.execute(
            update(outbox)
            .where(o.id.in_(ids))
            .values(
                status=MailStatus.sending.value,
                attempts=o.attempts + 1,
                next_attempt_at=now + LEASE,
            )
        )
        return [
            dict(m)
            for m in conn.execute(
                select(outbox).where(o.id.in_(ids)).order_by(o.priority, o.id)
            ).mappings()
        ]


def _suppressed(ctx: Context, rows: Sequence[Mapping[str, Any]]) -> dict[int, tuple[Reason, str]]:
    """Rows whose person no longer allows their purpose (checked at delivery time)."""
    out: dict[int, tuple[Reason, str]] = {}
    with ctx.engine.connect() as conn:
        for r in rows:
            if r["subject_id"] is None:
                continue
            why = mail_refusal(conn, ctx, r["subject_id"], r["purpose"], r["kind"])
            if why is not None:
                out[int(r["id"])] = why
    return out


def _record_sent(ctx: Context, row: Mapping[str, Any], mail: Mail) -> None:
    """Mark the row sent, audited; a message that carried a one-time code or link keeps
    only its subject line from now on (troth.notices.sealed.forget_once)."""
    now = ctx.clock.now()
    with transaction(ctx) as conn:
        conn.execute(
            update(outbox)
            .where(outbox.c.id == row["id"])
            .values(status=MailStatus.sent.value, sent_at=now, last_error=None)
        )
        forget_once(conn, ctx.keys, row, mail)
        append_entries(
            conn,
            now,
            [
                AuditEntry(
                    action="mail.sent",
                    actor="system",
                    subject_id=row["subject_id"],
                    purpose=row["purpose"],
                    details={
                        "outbox_id": row["id"],
                        "list_id": row["list_id"],
                        "kind": row["kind"],
                        "message_id": row["message_id"],
                        "attempt": row["attempts"],
                    },
                )
            ],
        )


def _record_failure(ctx: Context, row: Mapping[str, Any], exc: BaseException) -> str:
    now = ctx.clock.now()
    permanent = isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code >= 500
    permanent = permanent or isinstance(exc, smtplib.SMTPRecipientsRefused)
    error = f"{type(exc).__name__}: {exc}"[:1000]
    final = permanent or row["attempts"] >= MAX_ATTEMPTS
    values: dict[str, Any] = {"last_error": error}
    if final:
        values["status"] = MailStatus.failed.value
    else:
        values["status"] = MailStatus.queued.value
        values["next_attempt_at"] = now + _backoff(int(row["attempts"]))
    with transaction(ctx) as conn:
        conn.execute(update(outbox).where(outbox.c.id == row["id"]).values(**values))
        if final:
            append_entries(
                conn,
                now,
                [
                    AuditEntry(
                        action="mail.failed",
                        actor="system",
                        outcome=Outcome.info,
                        subject_id=row["subject_id"],
                        purpose=row["purpose"],
                        reason="delivery_failed",
                        details={
                            "outbox_id": row["id"],
                            "attempts": row["attempts"],
                            "error": error,
                        },
                    )
                ],
            )
    return "failed" if final else "retrying"


def _backoff(attempts: int) -> timedelta:
    """1, 2, 4, 8... minutes after each failed attempt, at most 6 hours."""
    delay: timedelta = BACKOFF_BASE * (2 ** max(attempts - 1, 0))
    return min(delay, BACKOFF_CAP)
