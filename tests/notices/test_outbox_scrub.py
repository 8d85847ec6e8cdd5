"""Settled mail loses its address and body after outbox_keep_days; the row and its
idempotency key stay, so a rerun still sends nothing twice."""

from __future__ import annotations

import sqlalchemy as sa

from outbox_helpers import outbox_mail
from troth.notices.delivery import deliver_due
from troth.notices.outbox import outbox, submit
from troth.notices.purge import SCRUBBED, scrub_settled_mail


def _send(t, key: str) -> int:
    return submit(
        t.ctx,
        idempotency_key=key,
        to_addr="ann@example.com",
        subject="Your sign-in code",
        body_text="123456",
        kind="transactional",
    )


def test_settled_mail_is_scrubbed_after_its_keep_days(home, db_url, clock):
    t = home("itechno", db_url)
    first = _send(t, "code-1")
    deliver_due(t.ctx)
    queued = _send(t, "code-2")  # not delivered: never scrubbed while it may still go out
    clock.advance(days=29)
    assert scrub_settled_mail(t.ctx) == 0
    clock.advance(days=2)
    assert scrub_settled_mail(t.ctx) == 1
    assert scrub_settled_mail(t.ctx) == 0  # idempotent
    rows = {r.id: r for r in outbox_mail(t)}
    assert rows[first].to_addr == SCRUBBED and rows[first].body_text == ""
    assert rows[first].status == "sent" and rows[first].idempotency_key == "code-1"
    assert rows[queued].to_addr == "ann@example.com"
    # The same key again is still recognised: nothing is queued twice.
    assert _send(t, "code-1") == first
    with t.ctx.engine.connect() as conn:  # what the database holds of it, as stored
        stored = conn.execute(sa.select(outbox).where(outbox.c.id == first)).one()
    raw = b"".join(str(v).encode() for v in (*rows[first].values(), *stored))
    assert b"ann@example.com" not in raw and b"123456" not in raw
