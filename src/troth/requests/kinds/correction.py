"""Correction (P24): the changes the request names (``details["changes"]``), checked
against what is held, made in troth's store and in every connected dataset that maps the
field."""

from __future__ import annotations

from typing import Any

from troth.requests.kinds.handler import Handler, Job
from troth.requests.record import RequestRecord
from troth.requests.states import RequestKind


def correct(job: Job) -> RequestRecord:
    from troth.audit.log import transaction
    from troth.requests import execution
    from troth.requests.connected import dataset_summary

    ctx, req, connector = job.ctx, job.req, job.connector
    changes = dict(req.details.get("changes") or {})
    values = job.values()
    mapped: set[str] = set()
    if connector is not None:
        for name in connector.datasets:
            for per in connector.runner(name).field_map().values():
                mapped |= set(per.values())
    execution.check_corrections(ctx, values, changes, mapped)
    systems: list[dict[str, Any]] = []
    wanted = {k: v for k, v in changes.items() if k in mapped}
    if connector is not None and wanted:
        for rep in connector.correct(job.identities(values), wanted):
            systems.append(dataset_summary(rep.to_dict()))
    with transaction(ctx) as conn:
        if req.subject_id is not None:
            systems.insert(0, execution.correct_in_store(conn, ctx, req.subject_id, changes))
        summary = [f"{s['system']}: {s.get('corrected', 0)} corrected" for s in systems]
        return job.complete(conn, {"systems": systems, "fields": sorted(changes)}, summary=summary)


HANDLER = Handler(
    kind=RequestKind.correct,
    words="correcting your data",
    noun="correction",
    phrases=r"\b(correct|rectify|fix|update|change|amend)\s+(my|the)\s+"
    r"(\w+\s+)?(address|name|e-?mail|phone|number|details|data|information)\b"
    r"|\brectification\b",
    rank=50,
    run=correct,
)
