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
    from troth.collection.minors import Minors, makes_a_minor
    from troth.requests import execution
    from troth.requests.connected import dataset_summary
    from troth.store.subjects import get_subject

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
    minor = False
    with transaction(ctx) as conn:
        result: dict[str, Any] = {"systems": systems, "fields": sorted(changes)}
        if req.subject_id is not None:
            systems.insert(0, execution.correct_in_store(conn, ctx, req.subject_id, changes))
            regime = get_subject(conn, req.subject_id, ctx.keys).jurisdiction
            minor = makes_a_minor(ctx, regime, changes)
        summary = [f"{s['system']}: {s.get('corrected', 0)} corrected" for s in systems]
        if minor:
            result["minor"] = True
            summary.append("the corrected date of birth is under the minimum age: erased")
        done = job.complete(conn, result, summary=summary)
    if minor and req.subject_id is not None:
        # Told they are under the minimum age, troth keeps none of their data (P04): the
        # minor's erasure, everywhere, as `troth minors report` does it (a legal hold makes
        # it wait; what a legal minimum keeps stays, restricted).
        Minors(ctx).report(
            req.subject_id,
            evidence=f"request {req.id}: the corrected date of birth is under the minimum age",
            actor=job.actor,
            connector=connector,
        )
    return done


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
