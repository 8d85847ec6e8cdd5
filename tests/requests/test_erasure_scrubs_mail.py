"""An erasure reaches the outbox too: the letters already sent to the person (their address,
the words written to them) are scrubbed at once, not 30 days later by housekeeping, while
another person's mail stays and the erasure's own letter still goes. Before, an erased
person's address and letters stayed in the outbox until ``outbox_keep_days`` had passed."""

from __future__ import annotations

from typing import Any

from outbox_helpers import outbox_mail
from requests_helpers import mails_for, verified
from troth.notices.delivery import deliver_due
from troth.notices.outbox import MailStatus
from troth.notices.purge import SCRUBBED

ORDER = {
    "name": "Ann Lee",
    "email": "ann@example.com",
    "address": "1 Main St",
    "card_number": "4111111111111111",
    "card_expiry": "12/29",
    "order_items": "1 widget",
}


def _mail(t: Any, sid: str) -> list[Any]:
    return outbox_mail(t, subject_id=sid)


def test_an_erasure_scrubs_the_persons_sent_mail_at_once(home: Any, db_url: str) -> None:
    t = home("itechno", db_url)
    ann = t.collect("order_form", ORDER).subject_id
    bo = t.collect("order_form", {**ORDER, "name": "Bo", "email": "bo@example.com"}).subject_id
    t.requests.execute(verified(t, "access", "ann@example.com"))
    t.requests.execute(verified(t, "access", "bo@example.com"))
    deliver_due(t.ctx, limit=100)
    sent = [m for m in _mail(t, ann) if m.status == MailStatus.sent.value]
    assert sent and all(m.to_addr == "ann@example.com" for m in sent)
    rid = verified(t, "delete", "ann@example.com")
    report = t.requests.execute(rid).result
    for m in _mail(t, ann):
        if m.id in {s.id for s in sent}:
            assert (m.to_addr, m.body_text) == (SCRUBBED, ""), m
    troth_part = next(p for p in report["systems"] if p["system"] == "troth")
    assert troth_part["mail_scrubbed"] == len(sent)  # settled mail; the queued still goes
    # The erasure's own letter still goes to her, and Bo's mail is untouched.
    deliver_due(t.ctx, limit=100)
    done = mails_for(t, rid)[-1]
    assert done["status"] == MailStatus.sent.value and done["to_addr"] == "ann@example.com"
    assert all(m.to_addr == "bo@example.com" and m.body_text for m in _mail(t, bo))
