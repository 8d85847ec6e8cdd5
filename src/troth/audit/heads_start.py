"""Whether the heads file starts where the log does: a heads file deleted (or replaced by
an empty one) is started again by the next audited commit, whose head covers the whole
log as it is then, so the log would verify against it. But troth signs a head within
``audit_head_every_seconds`` (plus slack) of every commit, the home's first included: a
heads file whose smallest head was signed long after the log's first entry has lost the
heads before it (``troth audit verify`` fails on it, :func:`started_late`)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from troth.audit.tables import audit_entries

if TYPE_CHECKING:
    from troth.audit.heads import SignedHead
    from troth.context import Context


def started_late(ctx: Context, first: SignedHead, path: Path, slack: float) -> str | None:
    """What is wrong when ``first`` (the heads file's smallest head) was signed more than
    the interval and ``slack`` seconds after the log's first entry was written, or None."""
    if first.size == 0:
        return None
    with ctx.engine.connect() as conn:
        began = conn.execute(select(audit_entries.c.at).where(audit_entries.c.seq == 0)).scalar()
    try:
        signed_at = datetime.fromisoformat(first.at)
    except ValueError:
        return None  # a signed head always carries its time; the signature was checked
    if began is None:
        return None
    limit = ctx.settings.audit_head_every_seconds + slack
    late = (signed_at - began).total_seconds()
    if late <= limit:
        return None
    return (
        f"the heads file {path} begins with a head of size {first.size} signed {late:.0f} s"
        f" after the log's first entry (troth signs a head within {limit:.0f} s of every"
        f" commit): the heads that covered entries 0..{first.size - 1} as they were are"
        " missing, so the heads file was deleted, replaced or started again (a fresh one"
        " signs whatever the log holds then). Restore the heads file from a backup, or"
        " check the log against your witness (`troth audit verify --witness`); if it was"
        " lost for good, keep this report with the incident record"
    )
