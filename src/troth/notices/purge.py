"""Outbox housekeeping: once a message is settled (sent, suppressed or failed for good)
and older than ``outbox_keep_days``, its address, headers and body are scrubbed. The row
stays, with its idempotency key, state and times, so nothing is ever sent twice. An
erasure scrubs the person's settled mail at once (:func:`scrub_for_subjects`).

Without an SMTP server each message was also delivered as ``HOME/mail/<id>.eml``
(:class:`troth.notices.mail.MailDirTransport`): a copy with the same address, headers and
words. Scrubbing a message removes its file too, once the scrub has committed (a scrub
that rolls back removes nothing: the row and its file are both kept, as before). Scrubbing
old mail also removes any file left of a message scrubbed earlier (by a troth before
this rule, or on another machine, whose folder is its own) and closes to others a file
an older troth left readable."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Connection, select, update

from troth.access.seals import resealing
from troth.audit.entry import AuditEntry
from troth.audit.log import append_entries, transaction
from troth.context import Context
from troth.db import after_commit
from troth.notices.mail import mail_folder, remove_mail_files
from troth.notices.outbox import MailStatus, outbox
from troth.notices.sealed import SCRUBBED

__all__ = ["SCRUBBED", "SETTLED", "scrub_for_subjects", "scrub_settled_mail"]
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
                break
            _scrub(conn, ctx, ids)
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
            _remove_after_commit(conn, ctx, ids)
            total += len(ids)
    _sweep(ctx)
    return total


def _scrub(conn: Connection, ctx: Context, ids: Sequence[int]) -> None:
    """Scrub the messages ``ids``: their address, subject, words (``content``) and headers
    go. Each that matched its seal is sealed again as it now is; one changed outside troth
    stays unmatched (still named by `troth audit verify`)."""
    with resealing(conn, ctx.keys, outbox, ids):
        conn.execute(
            update(outbox)
            .where(outbox.c.id.in_(list(ids)))
            .values(
                to_addr=SCRUBBED,
                subject=SCRUBBED,
                body_text="",
                body_html=None,
                headers={},
                content=None,
            )
        )


def _remove_after_commit(conn: Connection, ctx: Context, ids: Sequence[int]) -> None:
    """Remove the ``.eml`` files of ``ids`` once ``conn``'s transaction has committed."""
    folder = mail_folder(ctx.settings)
    if folder is not None and ids:
        after_commit(conn, functools.partial(remove_mail_files, folder, list(ids)))


def _sweep(ctx: Context) -> int:
    """Remove the files of messages already scrubbed, and make the rest ``0600``; returns
    how many were removed."""
    folder = mail_folder(ctx.settings)
    if folder is None:
        return 0
    files: dict[int, Path] = {}
    for path in folder.glob("*.eml"):
        if path.stem.isdigit() and path.is_file():
            files[int(path.stem)] = path
    o = outbox.c
    ids = sorted(files)
    gone: list[int] = []
    with ctx.engine.connect() as conn:
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            gone += conn.execute(
                select(o.id).where(o.id.in_(chunk), o.to_addr == SCRUBBED)
            ).scalars()
    for oid in set(ids) - set(gone):
        path = files[oid]
        try:
            if path.stat().st_mode & 0o077:
                path.chmod(0o600)
        except OSError:
            continue
    return remove_mail_files(folder, gone)


def scrub_for_subjects(
    conn: Connection, ctx: Context, subject_ids: Sequence[str]
) -> dict[str, int]:
    """Scrub the settled mail of people being erased, whatever its age: the outbox keeps
    copies of what was sent to them (their address, the letters' words), which an erasure
    reaches too, and so do their ``.eml`` files (removed once the caller's transaction
    commits; those of mail scrubbed before too). Mail still to go (what the law requires
    telling them, the erasure's own letter) is left to go. In the caller's transaction;
    returns how many messages per person."""
    o = outbox.c
    counts = dict.fromkeys(subject_ids, 0)
    ids = list(counts)
    files: list[int] = []
    for start in range(0, len(ids), 500):
        rows = conn.execute(
            select(o.id, o.subject_id, o.to_addr).where(
                o.subject_id.in_(ids[start : start + 500]), o.status.in_(SETTLED)
            )
        ).all()
        files += [int(r.id) for r in rows]
        rows = [r for r in rows if r.to_addr != SCRUBBED]
        if not rows:
            continue
        _scrub(conn, ctx, [int(r.id) for r in rows])
        for r in rows:
            counts[str(r.subject_id)] += 1
    _remove_after_commit(conn, ctx, files)
    return counts
