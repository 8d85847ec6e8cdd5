"""Outbox housekeeping: once a message is settled (sent, suppressed or failed for good)
and older than ``outbox_keep_days``, its address, headers and body are scrubbed. The row
stays, with its idempotency key, state and times, so nothing is ever sent twice. An
erasure scrubs the person's settled mail at once (:func:`scrub_for_subjects`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import Connection, select, update

from troth.audit.entry import AuditEntry
from troth.audit.log import append_entries, transaction
from troth.context import Context
from troth.notices.outbox import MailStatus, outbox

SCRUBBED = "[scrubbed]"
SETTLED = (MailStatus.sent.value, MailStatus.suppressed.value, MailStatus.failed.value)


def scrub_settled_mail(ctx: Context, *, batch: int = 5000) -> int:
    """Scrub settled messages older than the setting, in batches; returns how many."""
    days = ctx.settings.outbox_keep_days
    cutoff = ctx.clock.now() - timedelta(days=days)
    o = outbox.c
    total = 0
    while True:
        with transaction(ctx) as conn:
            ids = list(
                conn.execute(
                    select(o.id)
                    .where(
                        o.status.in_(SETTLED),
                        o.created_at < cutoff,
                        o.to_addr != SCRUBBED,
                    )
                    .order_by(o.id)
                    .limit(batch)
                ).scalars()
            )
            if not ids:
                return total
            conn.execute(
                update(outbox)
                .where(o.id.in_(ids))
                .values(
                    to_addr=SCRUBBED, subject=SCRUBBED, body_text="", body_html=None, headers={}
                )
            )
            append_entries(
                conn,
                ctx.clock.now(),
                [
                    AuditEntry(
                        action="outbox.scrub",
                        actor="system",
                        details={"messages": len(ids), "older_than_days": days},
                    )
                ],
            )
            total += len(ids)


def scrub_for_subjects(conn: Connection, subject_ids: Sequence[str]) -> dict[str, int]:
    """Scrub the settled mail of people being erased, whatever its age: the outbox keeps
    copies of what was sent to them (their address, the letters' words), which an erasure
    reaches too. Mail still to go (what the law requires telling them, the erasure's own
    letter) is left to go. In the caller's transaction; returns how many per person."""
    o = outbox.c
    counts = dict.fromkeys(subject_ids, 0)
    ids = list(counts)
    for start in range(0, len(ids), 500):
        rows = conn.execute(
            select(o.id, o.subject_id).where(
                o.subject_id.in_(ids[start : start + 500]),
                o.status.in_(SETTLED),
                o.to_addr != SCRUBBED,
            )
        ).all()
        if not rows:
            continue
        conn.execute(
            update(outbox)
            .where(o.id.in_([r.id for r in rows]))
            .values(to_addr=SCRUBBED, subject=SCRUBBED, body_text="", body_html=None, headers={})
        )
        for r in rows:
            counts[str(r.subject_id)] += 1
    return counts
