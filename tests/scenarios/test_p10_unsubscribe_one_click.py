"""P10 (mindlink): every newsletter carries a one-click unsubscribe link (RFC 8058); the
POST takes effect at once and later sends are suppressed; a GET changes nothing."""

from __future__ import annotations

import email
from email.policy import default
from pathlib import Path
from typing import Any

import pytest

from outbox_helpers import outbox_mail
from troth.audit.entries import list_entries
from troth.audit.log import transaction
from troth.clock import ManualClock
from troth.consent import ConsentLedger
from troth.consent.unsubscribe import describe_token, unsubscribe
from troth.engine import Troth
from troth.errors import NotFound, Refused
from troth.notices.delivery import deliver_due
from troth.notices.outbox import enqueue, list_outbox, submit


@pytest.fixture
def troth(home: Any, db_url: str) -> Troth:
    ctx = home("mindlink", db_url, clock=ManualClock(), context=True)
    return Troth(ctx)


def sign_up(t: Troth, addr: str) -> str:
    res = t.collect(
        "newsletter_signup",
        {"name": "Ann Reader", "email": addr},
        consents=["newsletter"],
        jurisdiction="uk_gdpr",
    )
    return res.subject_id


def send_issue(t: Troth, sid: str, addr: str, issue: int) -> int:
    return submit(
        t.ctx,
        idempotency_key=f"newsletter-{issue}:{sid}",
        to_addr=addr,
        subject=f"Newsletter #{issue}",
        body_text="News",
        list_id="newsletter",
        subject_id=sid,
    )


def token_of(path: Path) -> str:
    msg = email.message_from_bytes(path.read_bytes(), policy=default)
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = msg["List-Unsubscribe"].strip("<>")
    assert url.startswith("http://127.0.0.1:8000/u/")
    return url.rsplit("/", 1)[1]


def test_p10_unsubscribe_takes_effect_at_once_and_suppresses_later_sends(troth: Troth) -> None:
    t, ctx = troth, troth.ctx
    ann = sign_up(t, "ann@example.org")
    bob = sign_up(t, "bob@example.org")
    assert ConsentLedger(ctx).state(ann)["newsletter"].granted
    send_issue(t, ann, "ann@example.org", 1)
    send_issue(t, bob, "bob@example.org", 1)
    assert deliver_due(ctx).sent == 2
    [ann_row] = [r for r in list_outbox(ctx) if r["subject_id"] == ann]
    token = token_of(ctx.settings.resolved_mail_dir / f"{ann_row['id']}.eml")

    # Issue 2 is queued for Ann before she unsubscribes.
    send_issue(t, ann, "ann@example.org", 2)

    # GET: the confirmation page reads the token and changes nothing.
    info = describe_token(ctx, token)
    assert (info.list_id, info.purpose, info.already_unsubscribed) == (
        "newsletter",
        "newsletter",
        False,
    )
    describe_token(ctx, token)
    assert ConsentLedger(ctx).state(ann)["newsletter"].granted

    # POST: one click, no login; takes effect for the very next decision.
    result = unsubscribe(ctx, token)
    assert not result.already_done and result.event_id
    with ctx.engine.connect() as conn:
        assert "newsletter" not in ConsentLedger.active_purposes(conn, ann)
    assert describe_token(ctx, token).already_unsubscribed

    # The queued issue 2 is suppressed; issue 3 is refused; Bob still gets his.
    send_issue(t, bob, "bob@example.org", 2)
    report = deliver_due(ctx)
    assert (report.sent, report.suppressed) == (1, 1)
    with pytest.raises(Refused) as exc:
        send_issue(t, ann, "ann@example.org", 3)
    assert exc.value.reason == "no_consent"

    # Replaying the POST is reported as done and records nothing new.
    before = len(ConsentLedger(ctx).history(ann))
    assert unsubscribe(ctx, token).already_done
    assert len(ConsentLedger(ctx).history(ann)) == before
    kinds = [h["kind"] for h in ConsentLedger(ctx).history(ann)]
    assert kinds == ["grant", "unsubscribe"]
    actions = [e.entry.action for e in list_entries(ctx, subject_id=ann, limit=1000)]
    assert {"consent.unsubscribe", "mail.suppressed", "mail.refused"} <= set(actions)


def test_p10_tokens_are_per_person_per_list_and_unforgeable(troth: Troth) -> None:
    t, ctx = troth, troth.ctx
    ann = sign_up(t, "ann@example.org")
    ConsentLedger(ctx).grant(ann, "service_updates")
    with transaction(ctx) as conn:
        a = enqueue(
            conn,
            ctx,
            idempotency_key="n1",
            to_addr="ann@example.org",
            subject="N",
            body_text="x",
            list_id="newsletter",
            subject_id=ann,
        )
        b = enqueue(
            conn,
            ctx,
            idempotency_key="s1",
            to_addr="ann@example.org",
            subject="S",
            body_text="x",
            list_id="service_updates",
            subject_id=ann,
        )
        c = enqueue(
            conn,
            ctx,
            idempotency_key="n2",
            to_addr="ann@example.org",
            subject="N2",
            body_text="x",
            list_id="newsletter",
            subject_id=ann,
        )
    rows = {r["id"]: r["headers"]["List-Unsubscribe"] for r in outbox_mail(ctx)}
    assert rows[a] == rows[c] and rows[a] != rows[b]
    # Unsubscribing from the newsletter leaves service updates alone.
    unsubscribe(ctx, rows[a].strip("<>").rsplit("/", 1)[1])
    with ctx.engine.connect() as conn:
        assert ConsentLedger.active_purposes(conn, ann) >= {"service_updates"}
    for forged in ["A" * 43, "short", "", "../../etc/passwd", rows[b].strip("<>")]:
        with pytest.raises(NotFound):
            unsubscribe(ctx, forged)
        with pytest.raises(NotFound):
            describe_token(ctx, forged)
    # Signing up again gives a fresh, working link.
    ConsentLedger(ctx).grant(ann, "newsletter")
    with transaction(ctx) as conn:
        d = enqueue(
            conn,
            ctx,
            idempotency_key="n3",
            to_addr="ann@example.org",
            subject="N3",
            body_text="x",
            list_id="newsletter",
            subject_id=ann,
        )
    fresh = next(r for r in outbox_mail(ctx) if r["id"] == d)["headers"]["List-Unsubscribe"]
    assert fresh != rows[a]
    assert not unsubscribe(ctx, fresh.strip("<>").rsplit("/", 1)[1]).already_done


def test_p10_an_expired_link_is_refused_when_the_home_ends_links(troth: Troth) -> None:
    """Links work forever by default; with unsubscribe_link_days set, an older link is a
    clear error pointing to the privacy centre, and nothing is recorded."""
    t = troth
    sid = sign_up(t, "old@example.com")
    send_issue(t, sid, "old@example.com", 1)
    deliver_due(t.ctx)
    [path] = sorted(t.ctx.settings.resolved_mail_dir.glob("*.eml"))
    token = token_of(path)
    clock = t.ctx.clock
    assert isinstance(clock, ManualClock)
    clock.advance(days=400)
    assert describe_token(t.ctx, token).already_unsubscribed is False  # default: forever
    t.ctx.settings = t.ctx.settings.model_copy(update={"unsubscribe_link_days": 365})
    for attempt in (lambda: describe_token(t.ctx, token), lambda: unsubscribe(t.ctx, token)):
        with pytest.raises(NotFound) as exc:
            attempt()
        assert exc.value.code == "expired_token" and "privacy centre" in exc.value.message
    with t.ctx.engine.connect() as conn:
        assert "newsletter" in ConsentLedger.active_purposes(conn, sid)
