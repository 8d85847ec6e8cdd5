"""The outbox against a real local SMTP server (aiosmtpd) and the .eml fallback, on SQLite
and PostgreSQL: headers, refusals, retries, no duplicates, suppression after unsubscribe."""

from __future__ import annotations

import email
from collections.abc import Iterator
from email.message import Message
from email.policy import default
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, insert, select

from outbox_helpers import outbox_mail
from served import free_port
from troth.audit.entries import list_entries
from troth.audit.log import transaction
from troth.clock import ManualClock
from troth.consent import ConsentLedger
from troth.consent.unsubscribe import unsubscribe
from troth.context import Context
from troth.errors import Refused, ValidationError
from troth.notices.delivery import deliver_due
from troth.notices.outbox import MailStatus, enqueue, list_outbox, outbox, submit
from troth.store.ids import new_id
from troth.store.tables import subjects


class Inbox:
    """aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content, policy=default))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, Controller]]:
    inbox = Inbox()
    ctl = Controller(inbox, hostname="127.0.0.1", port=free_port())
    ctl.start()
    yield inbox, ctl
    ctl.stop()


def make_ctx(home: Any, db_url: str, **settings: Any) -> Context:
    ctx = home("ixanet", db_url, clock=ManualClock(), context=True)
    ctx.settings = ctx.settings.model_copy(update=settings)
    return ctx


def person(ctx: Context, *purposes: str) -> str:
    sid = new_id()
    with ctx.engine.begin() as conn:
        conn.execute(
            insert(subjects).values(
                id=sid, jurisdiction="pipeda", status="active", created_at=ctx.clock.now()
            )
        )
    for p in purposes:
        ConsentLedger(ctx).grant(sid, p)
    return sid


def offer(ctx: Context, sid: str, key: str = "offer-1") -> int:
    return submit(
        ctx,
        idempotency_key=f"{key}:{sid}",
        to_addr="ann@example.org",
        subject="Our offers",
        body_text="Hello",
        body_html="<p>Hello</p>",
        list_id="offers",
        subject_id=sid,
    )


def actions(ctx: Context) -> list[str]:
    return [e.entry.action for e in list_entries(ctx, limit=1000)]


def test_marketing_mail_via_smtp_carries_rfc8058_headers(
    home: Any, db_url: str, smtp: tuple[Inbox, Controller]
) -> None:
    inbox, ctl = smtp
    ctx = make_ctx(
        home,
        db_url,
        smtp_host="127.0.0.1",
        smtp_port=ctl.port,
        public_url="https://privacy.ixanet.example",
        mail_from="news@ixanet.example",
    )
    sid = person(ctx, "marketing")
    oid = offer(ctx, sid)
    report = deliver_due(ctx)
    assert (report.claimed, report.sent) == (1, 1)
    [msg] = inbox.messages
    assert msg["To"] == "ann@example.org" and msg["Subject"] == "Our offers"
    lu = msg["List-Unsubscribe"]
    assert lu.startswith("<https://privacy.ixanet.example/u/") and lu.endswith(">")
    token = lu[1:-1].rsplit("/", 1)[1]
    assert len(token) == 43 and sid not in lu
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["Message-ID"].endswith("@ixanet.example>")
    assert msg.get_body(("html",)) is not None
    [row] = list_outbox(ctx)
    assert row["id"] == oid and row["status"] == "sent" and row["message_id"] == msg["Message-ID"]
    assert "mail.queued" in actions(ctx) and "mail.sent" in actions(ctx)
    # Nothing is sent twice: a rerun finds nothing due, a re-enqueue returns the same row.
    assert deliver_due(ctx).claimed == 0
    assert offer(ctx, sid) == oid
    assert deliver_due(ctx).claimed == 0
    assert len(inbox.messages) == 1


def test_eml_fallback_without_smtp(home: Any, db_url: str) -> None:
    ctx = make_ctx(home, db_url)
    sid = person(ctx, "marketing")
    oid = offer(ctx, sid)
    assert deliver_due(ctx).sent == 1
    path = ctx.settings.resolved_mail_dir / f"{oid}.eml"
    msg = email.message_from_bytes(path.read_bytes(), policy=default)
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert [p.name for p in path.parent.iterdir()] == [f"{oid}.eml"]


def test_retry_after_smtp_down_then_up(home: Any, db_url: str) -> None:
    port = free_port()
    ctx = make_ctx(home, db_url, smtp_host="127.0.0.1", smtp_port=port)
    sid = person(ctx, "marketing")
    offer(ctx, sid)
    r1 = deliver_due(ctx)  # nobody listening on the port
    assert (r1.sent, r1.retrying) == (0, 1)
    [row] = list_outbox(ctx)
    assert row["status"] == "queued" and row["attempts"] == 1 and row["last_error"]
    assert deliver_due(ctx).claimed == 0  # not due before its backoff
    inbox = Inbox()
    ctl = Controller(inbox, hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        ctx.clock.advance(minutes=1)  # type: ignore[attr-defined]
        r2 = deliver_due(ctx)
        assert r2.sent == 1 and len(inbox.messages) == 1
        assert deliver_due(ctx).claimed == 0
        ctx.clock.advance(hours=1)  # type: ignore[attr-defined]
        assert deliver_due(ctx).claimed == 0
        assert len(inbox.messages) == 1
    finally:
        ctl.stop()
    [row] = list_outbox(ctx)
    assert row["status"] == "sent" and row["attempts"] == 2


def test_gives_up_after_max_attempts(home: Any, db_url: str) -> None:
    ctx = make_ctx(home, db_url, smtp_host="127.0.0.1", smtp_port=free_port())
    sid = person(ctx, "marketing")
    offer(ctx, sid)
    for _ in range(8):
        deliver_due(ctx)
        ctx.clock.advance(hours=7)  # type: ignore[attr-defined]
    [row] = list_outbox(ctx)
    assert row["status"] == "failed" and row["attempts"] == 8
    assert "mail.failed" in actions(ctx)


def test_refused_without_consent_and_audited(home: Any, db_url: str) -> None:
    ctx = make_ctx(home, db_url)
    sid = person(ctx)  # no consent to marketing
    with pytest.raises(Refused) as exc:
        offer(ctx, sid)
    assert exc.value.reason == "no_consent"
    assert "mail.refused" in actions(ctx)
    with ctx.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(outbox)).scalar_one() == 0


def test_suppressed_after_unsubscribe_even_if_queued(home: Any, db_url: str) -> None:
    ctx = make_ctx(home, db_url)
    sid = person(ctx, "marketing")
    offer(ctx, sid, "first")
    offer(ctx, sid, "second")
    [row, _] = outbox_mail(ctx, newest_first=True)
    token = row["headers"]["List-Unsubscribe"].rsplit("/", 1)[1].rstrip(">")
    unsubscribe(ctx, token)
    report = deliver_due(ctx)
    assert (report.sent, report.suppressed) == (0, 2)
    assert {r["status"] for r in list_outbox(ctx)} == {MailStatus.suppressed.value}
    assert "mail.suppressed" in actions(ctx)
    assert not list(ctx.settings.resolved_mail_dir.glob("*.eml"))
    with pytest.raises(Refused):
        offer(ctx, sid, "third")


def test_bad_messages_are_refused_with_clear_errors(home: Any, db_url: str) -> None:
    ctx = make_ctx(home, db_url)
    sid = person(ctx, "marketing")
    base = dict(idempotency_key="k", to_addr="a@example.org", subject="s", body_text="b")
    bad = [
        ({"list_id": "nope", "subject_id": sid}, "unknown_list"),
        ({"list_id": "offers"}, "subject_required"),
        ({"subject": "hi\r\nBcc: everyone@example.org"}, "invalid_header"),
        ({"to_addr": "not-an-address"}, "invalid_addr"),
        ({"headers": {"List-Unsubscribe": "<x>"}}, "reserved_header"),
        ({"idempotency_key": ""}, "invalid_key"),
        ({"kind": "marketing"}, "subject_required"),
    ]
    for change, code in bad:
        with transaction(ctx) as conn, pytest.raises(ValidationError) as exc:
            enqueue(conn, ctx, **{**base, **change})
        assert exc.value.code == code, change
    assert list_outbox(ctx) == []
    # Transactional mail to someone with no list needs no consent.
    assert submit(ctx, **base) > 0
