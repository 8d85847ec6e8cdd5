"""The outbox: the only way troth's mail leaves. Queued in the caller's transaction,
refused without consent, delivered by :func:`deliver_due` with retries, never twice.

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
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    and_,
    insert,
    or_,
    select,
    update,
)

from troth.audit.entry import AuditEntry, Outcome
from troth.audit.log import append_entries, transaction
from troth.audit.refusals import denial, refuse
from troth.consent.state import active_purposes, opted_out_purposes
from troth.consent.unsubscribe import issue_token, unsubscribe_url
from troth.context import Context
from troth.db import BigId, JsonType, UtcDateTime, metadata
from troth.dialects import dialect_for
from troth.errors import Refused, ValidationError
from troth.gate import Reason
from troth.notices.mail import RESERVED_HEADERS, MailTransport, build_message, message_id
from troth.notices.mail import transport_for as _transport_for
from troth.policy.model import LegalBasis
from troth.store.tables import restrictions, subjects

MAX_ATTEMPTS = 8
LEASE = timedelta(minutes=10)
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CAP = timedelta(hours=6)


class MailStatus(StrEnum):
    queued = "queued"
    sending = "sending"
    sent = "sent"
    failed = "failed"
    suppressed = "suppressed"


class MailKind(StrEnum):
    marketing = "marketing"
    notice = "notice"
    transactional = "transactional"


# Lower goes first: a sign-in code or a request's letter never waits behind a mailing.
PRIORITY = {MailKind.transactional: 0, MailKind.notice: 1, MailKind.marketing: 2}
# deliver_due claims this many at a time, so mail queued during a long run (a code asked
# for while 2,000 notices go out) is picked up by the next batch, ahead of the rest.
CLAIM_BATCH = 25


outbox = Table(
    "outbox",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("idempotency_key", String(200), nullable=False, unique=True),
    Column("to_addr", String(320), nullable=False),
    Column("subject_id", String(32), ForeignKey("subjects.id", ondelete="CASCADE")),
    Column("list_id", String(64)),
    Column("purpose", String(64)),
    Column("kind", String(16), nullable=False),
    Column("headers", JsonType, nullable=False),
    Column("subject", String(998), nullable=False),
    Column("body_text", Text, nullable=False),
    Column("body_html", Text),
    Column("message_id", String(255), nullable=False),
    Column("status", String(16), nullable=False),
    # 0 transactional, 1 notice, 2 marketing (PRIORITY): due rows go out lowest first.
    Column("priority", Integer, nullable=False, default=1, server_default="1"),
    Column("attempts", Integer, nullable=False, default=0),
    # When a queued row is due; for a ``sending`` row, when its lease ends.
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("last_error", String(1000)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("sent_at", UtcDateTime),
    Index("ix_outbox_due", "status", "next_attempt_at"),
    Index("ix_outbox_next", "status", "priority", "next_attempt_at"),
    Index("ix_outbox_subject_id", "subject_id"),
)


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """What one :func:`deliver_due` run did."""

    claimed: int = 0
    sent: int = 0
    suppressed: int = 0
    retrying: int = 0
    failed: int = 0


def enqueue(
    conn: Connection,
    ctx: Context,
    *,
    idempotency_key: str,
    to_addr: str,
    subject: str,
    body_text: str,
    body_html: str | None = None,
    list_id: str | None = None,
    subject_id: str | None = None,
    purpose: str | None = None,
    kind: MailKind | str | None = None,
    headers: Mapping[str, str] | None = None,
    actor: str = "system",
) -> int:
    """Queue one message in the caller's transaction; returns its outbox id. The same
    ``idempotency_key`` again returns the first id and queues nothing. Mail for a list
    whose purpose the person has not consented to (or opted out of) is refused with
    reason ``no_consent``; the refusal is audited in the caller's transaction (catch the
    Refused inside it to keep that entry, or use :func:`submit`)."""
    now = ctx.clock.now()
    if not idempotency_key or len(idempotency_key) > 200:
        raise ValidationError("idempotency_key must be 1-200 characters", code="invalid_key")
    _check_header_text("to_addr", to_addr, 320)
    if "@" not in to_addr:
        raise ValidationError(f"to_addr {to_addr!r} is not an e-mail address", code="invalid_addr")
    _check_header_text("subject", subject, 998)
    extra = dict(headers or {})
    for name, value in extra.items():
        _check_header_text(f"header {name!r}", f"{name}{value}", 2000)
        if name.lower() in RESERVED_HEADERS:
            raise ValidationError(f"header {name!r} is set by troth", code="reserved_header")
    if list_id is not None:
        lst = next((x for x in ctx.policy.policy.lists if x.id == list_id), None)
        if lst is None:
            known = ", ".join(sorted(ctx.policy.lists)) or "none"
            raise ValidationError(
                f"unknown list {list_id!r} (lists in the policy: {known})", code="unknown_list"
            )
        if subject_id is None:
            raise ValidationError(
                f"mail for list {list_id!r} needs subject_id: consent and unsubscribe are "
                "per person",
                code="subject_required",
            )
        purpose = lst.purpose
        kind = kind or (MailKind.marketing if lst.marketing else MailKind.notice)
    kind = MailKind(kind or MailKind.transactional)
    if purpose is not None and purpose not in ctx.policy.purposes:
        raise ValidationError(f"unknown purpose {purpose!r}", code="unknown_purpose")
    existing = conn.execute(
        select(outbox.c.id).where(outbox.c.idempotency_key == idempotency_key)
    ).scalar()
    if existing is not None:
        return int(existing)
    if subject_id is not None:
        refusal = _refusal(conn, ctx, subject_id, purpose, kind)
        if refusal is not None:
            code, reason = refusal
            refuse(
                ctx,
                "mail.refused",
                actor,
                code,
                f"not queued: {reason}; nothing is sent to this person"
                + (f" for {purpose!r}" if purpose else ""),
                conn=conn,
                subject_id=subject_id,
                purpose=purpose,
                details={"list_id": list_id, "idempotency_key": idempotency_key, "why": reason},
                shown={"purpose": purpose, "list_id": list_id},
            )
    if kind is MailKind.marketing:
        if subject_id is None or list_id is None:
            raise ValidationError(
                "marketing mail goes to a list member: give list_id and subject_id",
                code="subject_required",
            )
        url = unsubscribe_url(ctx, issue_token(conn, ctx, subject_id, list_id))
        extra["List-Unsubscribe"] = f"<{url}>"
        extra["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    new_id = conn.execute(
        insert(outbox)
        .returning(outbox.c.id)
        .values(
            idempotency_key=idempotency_key,
            to_addr=to_addr,
            subject_id=subject_id,
            list_id=list_id,
            purpose=purpose,
            kind=kind.value,
            priority=PRIORITY[kind],
            headers=extra,
            subject=subject,
            body_text=body_text,
            body_html=body_html,
            message_id=message_id(idempotency_key, ctx.settings.mail_from),
            status=MailStatus.queued.value,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    ).scalar_one()
    append_entries(
        conn,
        now,
        [
            AuditEntry(
                action="mail.queued",
                actor=actor,
                outcome=Outcome.info,
                subject_id=subject_id,
                purpose=purpose,
                details={"outbox_id": int(new_id), "list_id": list_id, "kind": kind.value},
            )
        ],
    )
    return int(new_id)


def submit(ctx: Context, **message: Any) -> int:
    """:func:`enqueue` in its own transaction; a refusal is committed to the audit log
    before the Refused is raised."""
    refused: Refused | None = None
    with transaction(ctx) as conn:
        try:
            return enqueue(conn, ctx, **message)
        except Refused as exc:
            refused = exc
    raise refused


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
    blocked = _suppressed(ctx, rows)
    if blocked:
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
        report["suppressed"] = len(blocked)
    for row in rows:
        if row["id"] in blocked:
            continue
        try:
            sender.send(build_message(row, ctx.settings), row["id"])
        except (OSError, smtplib.SMTPException) as exc:
            report[_record_failure(ctx, row, exc)] += 1
            continue
        _record_sent(ctx, row)
        report["sent"] += 1
    return DeliveryReport(claimed=len(rows), **report)


def transport_for(ctx: Context) -> MailTransport:
    return _transport_for(ctx.settings)


def list_outbox(
    ctx: Context, status: MailStatus | str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Rows of the outbox, newest first (for the CLI and the admin console)."""
    stmt = select(outbox).order_by(outbox.c.id.desc()).limit(limit)
    if status is not None:
        stmt = stmt.where(outbox.c.status == MailStatus(status).value)
    with ctx.engine.connect() as conn:
        return [dict(m) for m in conn.execute(stmt).mappings()]


# -- internals -----------------------------------------------------------------------------
def _check_header_text(what: str, value: str, limit: int) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{what} is empty", code="invalid_header")
    if "\r" in value or "\n" in value:
        raise ValidationError(
            f"{what} contains a line break (header injection)", code="invalid_header"
        )
    if len(value) > limit:
        raise ValidationError(f"{what} is longer than {limit} characters", code="invalid_header")


def _refusal(
    conn: Connection,
    ctx: Context,
    subject_id: str,
    purpose: str | None,
    kind: MailKind | str | None,
) -> tuple[Reason, str] | None:
    """(reason, why) nothing may be sent to this person for this purpose, or None.
    An erased person gets no list, marketing or purpose mail; what the law requires telling
    them (their requests' letters, a breach notice: no purpose) still goes."""
    erased = conn.execute(
        select(subjects.c.erased_at).where(subjects.c.id == subject_id)
    ).scalar_one_or_none()
    if erased is not None and (purpose is not None or kind == MailKind.marketing):
        return Reason.subject_erased, "the person's data was erased or their account closed"
    if purpose is None:
        return None
    if purpose in opted_out_purposes(conn, subject_id):
        return Reason.no_consent, "the person withdrew or opted out"
    p = ctx.policy.purposes[purpose]
    if p.legal_basis is LegalBasis.consent and purpose not in active_purposes(conn, subject_id):
        return Reason.no_consent, "the purpose needs consent and the person has not given it"
    restricted = conn.execute(
        select(restrictions.c.purpose).where(
            restrictions.c.subject_id == subject_id, restrictions.c.purpose == purpose
        )
    ).first()
    if restricted is not None:
        return Reason.no_consent, "the person restricted this use"
    return None


def subjects_with_cancellable_mail(conn: Connection, subject_ids: Sequence[str]) -> set[str]:
    """Which of ``subject_ids`` have queued mail that :func:`cancel_for_subject` would
    suppress (bulk erasure calls it for those only)."""
    o = outbox.c
    return set(
        conn.execute(
            select(o.subject_id)
            .where(
                o.subject_id.in_(list(subject_ids)),
                o.status.in_([MailStatus.queued.value, MailStatus.sending.value]),
                or_(o.purpose.is_not(None), o.kind == MailKind.marketing.value),
            )
            .distinct()
        ).scalars()
    )


def cancel_for_subject(conn: Connection, ctx: Context, subject_id: str) -> int:
    """Suppress every queued message to the person that erasure ends (list, marketing and
    purpose mail; what the law requires telling them still goes), in the caller's
    transaction, one audit entry per message. Returns how many."""
    o = outbox.c
    rows = conn.execute(
        select(o.id, o.purpose, o.list_id).where(
            o.subject_id == subject_id,
            o.status.in_([MailStatus.queued.value, MailStatus.sending.value]),
            or_(o.purpose.is_not(None), o.kind == MailKind.marketing.value),
        )
    ).all()
    if not rows:
        return 0
    conn.execute(
        update(outbox)
        .where(o.id.in_([r.id for r in rows]))
        .values(status=MailStatus.suppressed.value, last_error=None)
    )
    append_entries(
        conn,
        ctx.clock.now(),
        [
            denial(
                "mail.suppressed",
                "system",
                Reason.subject_erased,
                subject_id=subject_id,
                purpose=r.purpose,
                details={"outbox_id": int(r.id), "list_id": r.list_id, "why": "erasure"},
            )
            for r in rows
        ],
    )
    return len(rows)


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
            why = _refusal(conn, ctx, r["subject_id"], r["purpose"], r["kind"])
            if why is not None:
                out[int(r["id"])] = why
    return out


def _record_sent(ctx: Context, row: Mapping[str, Any]) -> None:
    now = ctx.clock.now()
    with transaction(ctx) as conn:
        conn.execute(
            update(outbox)
            .where(outbox.c.id == row["id"])
            .values(status=MailStatus.sent.value, sent_at=now, last_error=None)
        )
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
