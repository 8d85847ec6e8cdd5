"""Deletion (P25): the person erased from every connected dataset (a resumable connector
job), then from troth's store, keeping what the law requires (restricted, and said why).
Many deletions at once run batch by batch (:mod:`troth.requests.bulk`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from troth.requests.kinds.handler import Handler, Job
from troth.requests.record import RequestRecord
from troth.requests.states import RequestKind

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from troth.context import Context


def erase(job: Job, *, close_account: bool = False) -> RequestRecord:
    """Connected datasets first (their job is resumable and keeps the identities it
    needs), troth's own part (which erases those identities) last, then complete.
    ``close_account``: the relationship ends too (account closure, P28). A person under a
    legal hold (theirs or their tenant's) is erased nowhere yet: the request waits for the
    hold to end (:mod:`troth.requests.deferral`)."""
    from troth.audit.log import transaction
    from troth.requests.connected import dataset_summary
    from troth.requests.deferral import defer, holds_on
    from troth.requests.erasure import erase_own, summarise

    req = job.req
    if req.subject_id is not None:
        with job.ctx.engine.connect() as conn:
            held = holds_on(conn, [req.subject_id]).get(req.subject_id)
        if held:
            return defer(job, req.subject_id, close_account=close_account)
    systems: list[dict[str, Any]] = []
    if job.connector is not None:
        ids = job.identities()
        if ids:
            for rep in job.connector.erase(ids, job_id=f"request-{req.id}"):
                systems.append(dataset_summary(rep.to_dict()))
    with transaction(job.ctx) as conn:
        systems.insert(0, erase_own(conn, job.ctx, req.subject_id, close_account=close_account))
        return job.complete(conn, {"systems": systems}, summary=summarise(systems))


def nothing_first(conn: Connection, ctx: Context, subject_ids: Sequence[str], at: datetime) -> None:
    """A deletion needs nothing before the erasure itself."""


HANDLER = Handler(
    kind=RequestKind.delete,
    words="deleting your data",
    noun="deletion",
    phrases=r"\b(delete|erase|remove|destroy|wipe)\s+(all\s+)?(of\s+)?(my|our)\s+"
    r"(personal\s+)?(data|information|details|records)\b"
    r"|\berasure\b|\bright\s+to\s+(be\s+forgotten|erasure)\b|\bforget\s+me\b",
    rank=20,
    run=erase,
    batch=nothing_first,
)
