"""Account closure (P28): the relationship ends and the person is erased as a deletion
erases them; many at once run batch by batch, the relationships ended in one statement."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from troth.requests.kinds.deletion import erase
from troth.requests.kinds.handler import Handler, Job
from troth.requests.record import RequestRecord
from troth.requests.states import RequestKind

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from troth.context import Context


def close(job: Job) -> RequestRecord:
    return erase(job, close_account=True)


def end_relationships(
    conn: Connection, ctx: Context, subject_ids: Sequence[str], at: datetime
) -> None:
    """The batch's customers stopped using the service: their relationships end now."""
    from sqlalchemy import and_

    from troth.store.subject_seals import update_subjects
    from troth.store.tables import subjects

    if subject_ids:
        ids, open_ = subjects.c.id.in_(list(subject_ids)), subjects.c.relationship_ended_at
        where = and_(ids, open_.is_(None))
        update_subjects(conn, ctx.keys, where, relationship_ended_at=at, status="closed")


HANDLER = Handler(
    kind=RequestKind.close_account,
    words="closing your account and deleting your data",
    noun="account closure",
    phrases=r"\b(close|cancel|terminate|delete|deactivate)\s+(my|our|the)\s+account\b",
    rank=10,
    run=close,
    implies=frozenset({RequestKind.delete}),
    batch=end_relationships,
)
