"""Mail that respects people: a sign-in code never waits behind a bulk mailing. Real SMTP
(aiosmtpd), the real worker, 2,000 queued policy notices."""

from __future__ import annotations

import email
import re
import threading
from collections.abc import Iterator
from email.message import Message
from email.policy import default
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from served import free_port
from troth.access.signin import start_signin
from troth.audit.log import transaction
from troth.clock import ManualClock
from troth.context import Context
from troth.engine import Troth
from troth.notices.outbox import MailKind, MailStatus, enqueue, outbox
from troth.worker import TASKS, Worker

SUPPORT = {"name": "Ada Lovelace", "email": "ada@example.com", "message": "Please help"}
BULK = 2000


class Inbox:
    """Keeps every message in arrival order; ``on_message(n)`` runs as the n-th arrives."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.on_message: Any = None
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages.append(email.message_from_bytes(envelope.content, policy=default))
            n = len(self.messages)
        if self.on_message is not None:
            self.on_message(n)
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    ctl = Controller(inbox, hostname="127.0.0.1", port=free_port())
    ctl.start()
    yield inbox, ctl.port
    ctl.stop()


@pytest.fixture
def ctx(home: Any, smtp: tuple[Inbox, int]) -> Iterator[Context]:
    c = home("mindlink", clock=ManualClock(), context=True)
    c.settings = c.settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": smtp[1]})
    yield c
    c.engine.dispose()


def queue_notices(ctx: Context, n: int) -> None:
    with transaction(ctx) as conn:
        for i in range(n):
            enqueue(
                conn,
                ctx,
                idempotency_key=f"policy-notice:{i}",
                to_addr=f"customer{i}@example.org",
                subject="We updated our privacy policy",
                body_text="Version 2 of our policy takes effect next month.",
                kind=MailKind.notice,
            )


def is_code(m: Message) -> bool:
    return "privacy centre sign-in code" in str(m["Subject"])


def test_a_code_asked_after_2000_notices_is_sent_first_by_the_worker(
    ctx: Context, smtp: tuple[Inbox, int]
) -> None:
    inbox, _ = smtp
    Troth(ctx).collect("support_request", SUPPORT)
    queue_notices(ctx, BULK)
    ctx.clock.advance(seconds=5)  # the notices are older: oldest-first would send them first
    start_signin(ctx, "ada@example.com", client="203.0.113.7")
    worker = Worker(ctx, tasks=tuple(t for t in TASKS if t.name == "deliver_mail"))
    worker.run_once()
    assert inbox.messages, "the worker sent nothing"
    first = inbox.messages[0]
    assert is_code(first) and first["To"] == "ada@example.com"
    # The code is in the body, never in the subject line (shown in listings and banners).
    assert re.search(r"\b\d{6}\b", first.as_string().split("\n\n", 1)[1])
    assert not re.search(r"\d{6}", str(first["Subject"]))
    # The rest of the run is the bulk, oldest first; the code was not sent twice.
    assert sum(is_code(m) for m in inbox.messages) == 1
    assert inbox.messages[1]["To"] == "customer0@example.org"
    with ctx.engine.connect() as conn:
        row = conn.execute(
            select(outbox.c.status, outbox.c.priority).where(outbox.c.to_addr == "ada@example.com")
        ).one()
    assert (row.status, row.priority) == (MailStatus.sent.value, 0)


def test_a_code_asked_during_a_bulk_run_overtakes_the_rest(
    ctx: Context, smtp: tuple[Inbox, int]
) -> None:
    """The code is asked for while the notices are going out: it goes in the next batch,
    not after the 2,000."""
    inbox, _ = smtp
    Troth(ctx).collect("support_request", SUPPORT)
    queue_notices(ctx, BULK)
    asked_at: list[int] = []

    def ask(n: int) -> None:
        if n == 10 and not asked_at:
            asked_at.append(n)
            start_signin(ctx, "ada@example.com", client="203.0.113.7")

    inbox.on_message = ask
    from troth.notices.delivery import CLAIM_BATCH, deliver_due

    report = deliver_due(ctx, limit=BULK + 1)
    assert report.sent == BULK + 1
    position = next(i for i, m in enumerate(inbox.messages) if is_code(m))
    assert asked_at == [10]
    assert position <= 2 * CLAIM_BATCH, f"the code went out as message {position + 1}"
    with ctx.engine.connect() as conn:
        left = conn.execute(
            select(func.count()).select_from(outbox).where(outbox.c.status != "sent")
        ).scalar_one()
    assert left == 0
