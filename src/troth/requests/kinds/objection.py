"""Objection: no more marketing. The purposes named (default: every marketing
purpose) are withdrawn from the person's consents, or restricted."""

from __future__ import annotations

from typing import Any

from troth.requests.kinds.handler import Handler, Job
from troth.requests.record import RequestRecord
from troth.requests.states import Channel, RequestKind


def object_to(job: Job) -> RequestRecord:
    from troth.audit.log import transaction
    from troth.consent.events import ConsentMethod
    from troth.requests import execution

    ctx, req = job.ctx, job.req
    purposes = list(req.details.get("purposes") or execution.marketing_purposes(ctx))
    purposes = execution.check_purposes(ctx, purposes) if purposes else []
    method = {
        Channel.self_service: ConsentMethod.web_form,
        Channel.api: ConsentMethod.api,
    }.get(req.channel, ConsentMethod.staff)
    with transaction(ctx) as conn:
        part: dict[str, Any] = {"system": "troth", "withdrawn": [], "restricted": []}
        if req.subject_id is not None and purposes:
            part = execution.object_in_store(
                conn, ctx, req.subject_id, purposes, req.id, method, job.actor.label
            )
        summary = [f"no more marketing for: {', '.join(purposes) or 'none held'}"]
        return job.complete(conn, {"systems": [part]}, summary=summary)


HANDLER = Handler(
    kind=RequestKind.object,
    words="stopping marketing to you",
    noun="objection",
    phrases=r"\bunsubscribe\b|\bopt[- ]?out\b|\bno\s+more\s+(marketing|newsletters?|e-?mails)\b"
    r"|\bstop\s+(sending|marketing|e-?mailing|the\s+newsletter)\b"
    r"|\bobject\s+to\b|\bdirect\s+marketing\b",
    rank=60,
    run=object_to,
)
