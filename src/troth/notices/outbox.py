"""The outbox: the only way troth's mail leaves. Queued in the caller's transaction,
refused without consent, never twice (the idempotency key); delivered by
:func:`troth.notices.delivery.deliver_due` with retries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, insert, or_, select, update

from troth.access.seals import seal_new
from troth.audit.entry import AuditEntry, Outcome
from troth.audit.log import append_entries, transaction
from troth.audit.refusals import denial, refuse
from troth.consent.state import active_purposes, opted_out_purposes
from troth.consent.unsubscribe import issue_token, unsubscribe_url
from troth.context import Context
from troth.errors import Refused, ValidationError
from troth.gate import Reason
from troth.notices.mail import RESERVED_HEADERS, message_id
from troth.notices.sealed import Mail, read_mail, stored_columns
from troth.notices.tables import outbox as outbox  # the table, where it always was
from troth.notices.unsubscribe_link import with_link
from troth.policy.model import LegalBasis
from troth.store.tables import restrictions, subjects


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
    once: bool = False,
) -> int:
    """Queue one message in the caller's transaction; returns its outbox id. The same
    ``idempotency_key`` again returns the first id and queues nothing. Marketing mail
    gets the one-click unsubscribe headers and the link in its body (where
    ``{{ unsubscribe_url }}`` stands, else a footer: :mod:`.unsubscribe_link`). Mail for a list
    whose purpose the person has not consented to (or opted out of) is refused with
    reason ``no_consent``; the refusal is audited in the caller's transaction (catch the
    Refused inside it to keep that entry, or use :func:`submit`). The subject line,
    bodies and headers are stored encrypted and the row sealed (troth.notices.sealed);
    ``once``: the body carries a one-time code or link, dropped once it was sent."""
    now = ctx.clock.now()
    extra = _checked_headers(idempotency_key, to_addr, subject, headers)
    to = _target(ctx, list_id, subject_id, purpose, kind)
    purpose, mail_kind = to.purpose, to.kind
    existing = conn.execute(
        select(outbox.c.id).where(outbox.c.idempotency_key == idempotency_key)
    ).scalar()
    if existing is not None:
        return int(existing)
    _refuse_unwelcome(conn, ctx, to, actor, idempotency_key)
    if mail_kind is MailKind.marketing:
        if subject_id is None or list_id is None:
            raise ValidationError(
                "marketing mail goes to a list member: give list_id and subject_id",
                code="subject_required",
            )
        url = unsubscribe_url(ctx, issue_token(conn, ctx, subject_id, list_id))
        extra["List-Unsubscribe"] = f"<{url}>"
        extra["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        # ... and in the body too, text and HTML: many clients never show the headers.
        body_text, body_html = with_link(body_text, body_html, url)
    words = Mail(subject, body_text, body_html, extra, once)
    new_id = conn.execute(
        insert(outbox)
        .returning(outbox.c.id)
        .values(
            idempotency_key=idempotency_key,
            to_addr=to_addr,
            subject_id=subject_id,
            list_id=list_id,
            purpose=purpose,
            kind=mail_kind.value,
            priority=PRIORITY[mail_kind],
            **stored_columns(ctx.keys, idempotency_key, words),
            message_id=message_id(idempotency_key, ctx.settings.mail_from),
            status=MailStatus.queued.value,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    ).scalar_one()
    seal_new(conn, ctx.keys, outbox, [new_id])
    details = {"outbox_id": int(new_id), "list_id": list_id, "kind": mail_kind.value}
    entry = AuditEntry(
        "mail.queued", actor, Outcome.info, subject_id=subject_id, purpose=purpose, details=details
    )
    append_entries(conn, now, [entry])
    return int(new_id)


def _checked_headers(
    key: str, to_addr: str, subject: str, headers: Mapping[str, str] | None
) -> dict[str, str]:
    """The message's own headers, once its key, address, subject and headers are found
    sound (no header injection, no header troth sets itself)."""
    if not key or len(key) > 200:
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
    return extra


@dataclass(frozen=True, slots=True)
class _Target:
    """Whom a message goes to and why: the person, the list, the purpose, the kind."""

    subject_id: str | None
    list_id: str | None
    purpose: str | None
    kind: MailKind


def _target(
    ctx: Context,
    list_id: str | None,
    subject_id: str | None,
    purpose: str | None,
    kind: MailKind | str | None,
) -> _Target:
    """Whom a message goes to: a list's purpose and kind, else as given (default kind:
    transactional)."""
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
    mail_kind = MailKind(kind or MailKind.transactional)
    if purpose is not None and purpose not in ctx.policy.purposes:
        raise ValidationError(f"unknown purpose {purpose!r}", code="unknown_purpose")
    return _Target(subject_id, list_id, purpose, mail_kind)


def _refuse_unwelcome(conn: Connection, ctx: Context, to: _Target, actor: str, key: str) -> None:
    """Refuse (audited, in the caller's transaction) mail the person does not allow."""
    if to.subject_id is None:
        return
    refusal = mail_refusal(conn, ctx, to.subject_id, to.purpose, to.kind)
    if refusal is None:
        return
    code, reason = refusal
    subject_id, purpose, list_id = to.subject_id, to.purpose, to.list_id
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
        details={"list_id": list_id, "idempotency_key": key, "why": reason},
        shown={"purpose": purpose, "list_id": list_id},
    )


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


def list_outbox(
    ctx: Context, status: MailStatus | str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Rows of the outbox, newest first (for the CLI): each message's envelope, state and
    subject line, never its bodies nor its headers. A row that does not match its seal
    has ``subject`` None and ``tampered`` True (troth.notices.sealed)."""
    stmt = select(outbox).order_by(outbox.c.id.desc()).limit(limit)
    if status is not None:
        stmt = stmt.where(outbox.c.status == MailStatus(status).value)
    with ctx.engine.connect() as conn:
        rows = [read_mail(ctx.keys, m) for m in conn.execute(stmt).mappings()]
    for r in rows:
        for hidden in ("body_text", "body_html", "headers"):
            r.pop(hidden)
    return rows


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


def mail_refusal(
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
