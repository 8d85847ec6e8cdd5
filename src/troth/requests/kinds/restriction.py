"""Restriction (P26): the purposes the request names (``details["purposes"]``) limited
for the person until lifted (``lift_restriction``); the gate refuses those uses."""

from __future__ import annotations

from troth.requests.kinds.handler import Handler, Job
from troth.requests.record import RequestRecord
from troth.requests.states import RequestKind


def restrict(job: Job) -> RequestRecord:
    from troth.audit.log import transaction
    from troth.requests import execution

    ctx, req = job.ctx, job.req
    purposes = execution.check_purposes(ctx, list(req.details.get("purposes") or []))
    with transaction(ctx) as conn:
        new: list[str] = []
        if req.subject_id is not None:
            new = execution.restrict_in_store(
                conn, ctx, req.subject_id, purposes, req.id, ctx.clock.now()
            )
        result = {"systems": [{"system": "troth", "restricted": purposes, "new": new}]}
        return job.complete(conn, result, summary=[f"limited: {', '.join(purposes)}"])


HANDLER = Handler(
    kind=RequestKind.restrict,
    words="limiting how we use your data",
    noun="restriction",
    phrases=r"\brestrict(ion)?\b|\blimit\s+(the\s+|your\s+)?(use|processing)\b"
    r"|\bstop\s+(using|processing)\s+my\b",
    rank=70,
    run=restrict,
)
