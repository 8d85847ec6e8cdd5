"""Reading the audit log: entries by subject, actor, time, outcome or action, paged; the
subjects whose data was touched in a window (breach scoping)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    func,
    select,
)

from troth.audit.entry import AuditEntry, Outcome
from troth.audit.tables import audit_entries, iso
from troth.context import Context
from troth.db import within
from troth.errors import ValidationError
from troth.stored import member, parsed


# -- reading -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LoggedEntry:
    """An entry as stored: its place in the log, its time and what it says."""

    seq: int
    at: datetime
    entry: AuditEntry
    leaf_hash: bytes = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        e = self.entry
        return {
            "seq": self.seq,
            "at": iso(self.at),
            "actor": e.actor,
            "action": e.action,
            "outcome": str(e.outcome),
            "subject_id": e.subject_id,
            "tenant_id": e.tenant_id,
            "purpose": e.purpose,
            "categories": list(e.categories),
            "reason": e.reason,
            "details": dict(e.details),
            "leaf_hash": self.leaf_hash.hex(),
        }


@dataclass(frozen=True)
class EntryFilter:
    """Which entries a read of the log asks for: every filter given must hold (``since`` <=
    at < ``until``; ``action`` is that action or, ending in ``.``, every action it begins).
    One value for a page and for its count, so the two cannot disagree."""

    subject_id: str | None = None
    actor: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    outcome: str | None = None
    action: str | None = None

    def where(self) -> list[Any]:
        """The filters as conditions on ``audit_entries``."""
        c = audit_entries.c
        where: list[Any] = []
        if self.subject_id is not None:
            where.append(c.subject_id == self.subject_id)
        if self.actor is not None:
            where.append(c.actor == self.actor)
        if self.outcome is not None:
            where.append(c.outcome == self.outcome)
        if self.action is not None:
            if self.action.endswith("."):
                where.append(c.action.startswith(self.action, autoescape=True))
            else:
                where.append(c.action == self.action)
        return where + within(c.at, self.since, self.until)


def _logged(row: Any) -> LoggedEntry:
    entry = AuditEntry(
        action=row.action,
        actor=row.actor,
        outcome=member(Outcome, row.outcome, "audit_entries.outcome"),
        subject_id=row.subject_id,
        tenant_id=row.tenant_id,
        purpose=row.purpose,
        categories=tuple(parsed(row.categories, "audit_entries.categories", list)),
        reason=row.reason,
        details=parsed(row.details, "audit_entries.details", dict),
    )
    return LoggedEntry(int(row.seq), row.at, entry, bytes(row.leaf_hash))


def list_entries(
    ctx: Context,
    subject_id: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    after_seq: int | None = None,
    newest_first: bool = False,
    outcome: str | None = None,
    action: str | None = None,
    offset: int = 0,
) -> list[LoggedEntry]:
    """Entries matching every filter given (``since`` <= at < ``until``, ``outcome``,
    ``action``: that action or, ending in ``.``, every action it begins), in seq order
    (newest first when asked); page with ``after_seq`` = the last seq seen, or ``offset``."""
    if limit < 1 or limit > 10_000:
        raise ValidationError("limit must be between 1 and 10000")
    if offset < 0:
        raise ValidationError("offset must be 0 or more")
    t = audit_entries
    which = EntryFilter(subject_id, actor, since, until, outcome, action)
    stmt = select(t).where(*which.where())
    if after_seq is not None:
        stmt = stmt.where(t.c.seq < after_seq if newest_first else t.c.seq > after_seq)
    stmt = stmt.order_by(t.c.seq.desc() if newest_first else t.c.seq).limit(limit)
    if offset:
        stmt = stmt.offset(offset)
    with ctx.engine.connect() as conn:
        return [_logged(row) for row in conn.execute(stmt)]


def count_entries(ctx: Context, which: EntryFilter = EntryFilter()) -> int:
    """How many entries :func:`list_entries` with the same filters would page through."""
    stmt = select(func.count()).select_from(audit_entries).where(*which.where())
    with ctx.engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def accessed_subjects(conn: Connection, since: datetime, until: datetime) -> list[str]:
    """Distinct subjects any entry names with ``since`` <= at < ``until`` (breach scoping)."""
    t = audit_entries
    stmt = (
        select(t.c.subject_id)
        .where(t.c.at >= since, t.c.at < until, t.c.subject_id.is_not(None))
        .distinct()
        .order_by(t.c.subject_id)
    )
    return [str(s) for s in conn.execute(stmt).scalars()]


def details_of(text: Any) -> dict[str, Any]:
    """An entry's ``details`` as stored (JSON text), read back; {} for anything else."""
    try:
        parsed = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return parsed if isinstance(parsed, dict) else {}
