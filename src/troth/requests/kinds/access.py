"""Access (P23): a copy of everything held about the person, troth's store and every
connected dataset, as a ZIP behind a download link that works once."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from troth.requests.kinds.handler import Handler, Job
from troth.requests.record import RequestRecord
from troth.requests.states import RequestKind

if TYPE_CHECKING:
    from troth.connectors import DatasetExport
    from troth.context import Context


def export(job: Job) -> RequestRecord:
    """The person's data as the export package, stored behind a download link; the
    request completes with a count per system (shared with portability)."""
    from troth.audit.log import transaction
    from troth.requests import holdings

    ctx, req = job.ctx, job.req
    body: dict[str, Any] = (
        holdings.subject_holdings(ctx, req.subject_id)
        if req.subject_id
        else {"subject": None, "categories": {}}
    )
    datasets: list[DatasetExport] = []
    if job.connector is not None:
        ids = job.identities()
        if ids:
            datasets = job.connector.export(ids)
    data, result, summary = packaged(ctx, req, body, datasets)
    with transaction(ctx) as conn:
        link = job.steps.store_export(conn, data, request_id=req.id, tenant_id=None)
        result["export"] = {"expires_at": link.expires_at.isoformat(), "bytes": len(data)}
        done = job.complete(
            conn,
            result,
            categories=tuple(result["categories"]),
            link=link,
            summary=summary,
        )
    return replace(done, download_token=link.token)


def packaged(
    ctx: Context, req: RequestRecord, body: dict[str, Any], found: list[DatasetExport]
) -> tuple[bytes, dict[str, Any], list[str]]:
    """The ZIP of what was read about the person (troth's ``body``, the connected
    datasets' exports), the request's result before its link, and the letter's summary;
    one by one and in bulk alike."""
    from troth.requests import own_part, package

    # At the organisation's own desk: what it holds of customers' records of the address
    # for its own purposes, as their controller (troth.requests.own_part).
    own = own_part.add_to_export(ctx, req, body)
    datasets = [d.to_dict() for d in found if d.tables]
    doc = package.document(
        ctx, body, request={"id": req.id, "kind": req.kind.value}, datasets=datasets
    )
    data = package.build_zip(doc, package.title_of(doc))
    found_values = sum(len(s["values"]) for s in body["categories"].values())
    rows = sum(len(t["rows"]) for d in datasets for t in d["tables"].values())
    result: dict[str, Any] = {
        "systems": [{"system": "troth", "found": found_values}] + [_counts(d) for d in datasets],
        "categories": sorted(body["categories"]),
    }
    summary = [f"{found_values} values in our own store, {rows} rows in our other systems"]
    if own:
        result["own_purposes"] = own
    return data, result, summary + own_part.export_line(ctx, own)


def _counts(dataset: dict[str, Any]) -> dict[str, Any]:
    tables = dataset["tables"]
    return {
        "system": f"dataset:{dataset['dataset']}",
        "found": sum(len(t["rows"]) for t in tables.values()),
        "tables": {n: len(t["rows"]) for n, t in tables.items()},
    }


HANDLER = Handler(
    kind=RequestKind.access,
    words="a copy of your data",
    noun="access",
    phrases=r"\b(subject\s+access|access\s+request|right\s+of\s+access|DSAR|SAR)\b"
    r"|\baccess\s+to\s+(my|the)\s+(personal\s+)?(data|information)\b"
    r"|\bcopy\s+of\s+(all\s+)?(my|the)\s+(personal\s+)?(data|information)\b"
    r"|\bwhat\s+(personal\s+)?(data|information)\s+(do\s+)?you\s+(hold|have|keep|store)\b"
    r"|\b(send|give)\s+me\s+(all\s+)?my\s+(personal\s+)?(data|information)\b",
    rank=40,
    run=export,
    exports=True,
    batch_export=True,
)
