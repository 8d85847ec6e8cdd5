"""Access and portability requests in ``execute_many``, batch by batch (issue 19).

Per batch: one transaction moves the requests to in_progress (an event and an audit entry
each, the batch's job id in both: :meth:`BulkRunner._start_batch`); troth's store is read
for everyone at once (:func:`troth.requests.holdings.holdings_with_values`) and every
connected dataset is walked once for the whole batch (:meth:`Connector.export_many`);
each person gets their own ZIP (:func:`troth.requests.kinds.access.packaged`, the one-by-one
path's); then ONE transaction stores every link and completes every request with what the
one-by-one path writes for each (result, event, audit entries, the letter with the link).

A person is at most once in a batch: their second request goes in a later batch, after
the first has completed, so its export shows the first as one by one it would.

Resuming: an export is a read, so a batch killed anywhere is simply redone (its requests
wait in_progress with the batch's job id); the completion UPDATE checks the state, so no
request completes twice and no link is issued twice. The files are written inside the
completing transaction; if it fails they are removed. Against SIGKILL, the paths are
listed first in a marker file (``HOME/exports/pending-<job>.txt``, with the process id);
:func:`sweep_pending` (the next bulk run, and ``purge_exports``) removes the files of a
marker whose process is gone that no stored link names, then the marker.
"""

from __future__ import annotations

import builtins
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from troth.audit.log import transaction
from troth.connectors import Connector, DatasetExport, Identities
from troth.context import Context
from troth.errors import ConnectorError, TrothError
from troth.gate import Actor
from troth.requests import holdings, package
from troth.requests.connected import identities_of
from troth.requests.elsewhere import left_to_customers
from troth.requests.kinds.access import packaged
from troth.requests.receipt import local_stamp
from troth.requests.record import ExportLink, RequestRecord
from troth.requests.tables import request_exports
from troth.store.ids import new_token

if TYPE_CHECKING:
    from troth.requests.bulk import BulkReport, BulkRunner

Made = tuple[bytes, dict[str, Any], builtins.list[str]]  # the ZIP, the result, the summary


def plan_batches(
    recs: builtins.list[RequestRecord], size: int
) -> builtins.list[builtins.list[RequestRecord]]:
    """Batches of at most ``size`` requests in the order given, a person at most once per
    batch and each person's requests in successive batches (one by one's order for them)."""
    out: builtins.list[builtins.list[RequestRecord]] = []
    last: dict[str, int] = {}  # person -> the batch their latest request went to
    open_from = 0  # batches before this one are full
    for rec in recs:
        who = rec.subject_id or f"request:{rec.id}"
        i = max(open_from, last.get(who, -1) + 1)
        while i < len(out) and len(out[i]) >= size:
            i += 1
        if i == len(out):
            out.append([])
        out[i].append(rec)
        last[who] = i
        while open_from < len(out) and len(out[open_from]) >= size:
            open_from += 1
    return out


def export_batch(
    bulk: BulkRunner,
    job_id: str,
    recs: builtins.list[RequestRecord],
    connector: Connector | None,
    actor: Actor,
    out: BulkReport,
) -> None:
    """Read, package, store and complete one started batch (or redo one that a killed
    run left in_progress). What fails is reported in ``out.failed`` and left in_progress,
    as ``execute`` leaves it."""
    from troth.requests.bulk import _fault, interrupted

    try:
        made, missing = _read(bulk.ctx, recs, connector)
    except ConnectorError as exc:
        interrupted(bulk.steps, recs, exc, out)
        return
    for rec in missing:
        out.failed[rec.id] = f"no person {rec.subject_id!r}: request {rec.id} waits in_progress"
    ready = [r for r in recs if r.id in made]
    if not ready:
        return
    _fault("export.read")
    tokens = {r.id: new_token() for r in ready}
    paths = [bulk.steps.export_path(t) for t in tokens.values()]
    marker = _marker(bulk.ctx, job_id)
    marker.write_text("\n".join([str(os.getpid()), *map(str, paths)]) + "\n")
    try:
        _store_and_complete(bulk, ready, made, tokens, actor, job_id)
    except TrothError as exc:
        _remove(paths)
        for rec in ready:
            out.failed[rec.id] = f"{exc.message} (request {rec.id} waits in_progress)"
        return
    except BaseException:
        _remove(paths)
        raise
    finally:
        marker.unlink(missing_ok=True)
    out.completed += [r.id for r in ready]


def _read(
    ctx: Context, recs: builtins.list[RequestRecord], connector: Connector | None
) -> tuple[dict[str, Made], builtins.list[RequestRecord]]:
    """Every request's package (by request id), from one read of troth's store and one
    walk per connected dataset; requests whose person is gone are returned apart."""
    read = holdings.holdings_with_values(ctx, [r.subject_id for r in recs if r.subject_id])
    bodies: dict[str, dict[str, Any]] = {}
    people: dict[str, Identities] = {}
    missing: builtins.list[RequestRecord] = []
    for rec in recs:
        if rec.subject_id is None:
            body: dict[str, Any] = {"subject": None, "categories": {}}
            values: Any = []
        elif rec.subject_id in read:
            body, values = read[rec.subject_id]
        else:
            missing.append(rec)
            continue
        bodies[rec.id] = body
        if left_to_customers(ctx, rec):  # a row there may be theirs (elsewhere)
            continue
        ids = identities_of(ctx, values, {"email": rec.email})
        if ids:
            people[rec.id] = ids
    found: Mapping[str, builtins.list[DatasetExport]] = {}
    if connector is not None and people:
        found = connector.export_many(people)
    made = {
        rec.id: packaged(ctx, rec, bodies[rec.id], found.get(rec.id, []))
        for rec in recs
        if rec.id in bodies
    }
    return made, missing


def _store_and_complete(
    bulk: BulkRunner,
    recs: builtins.list[RequestRecord],
    made: dict[str, Made],
    tokens: dict[str, str],
    actor: Actor,
    job_id: str,
) -> None:
    """One transaction: every link stored, every request completed as ``Job.complete``
    completes it (result, event, ``request.completed`` and ``request.<kind>`` entries,
    the letter with the link)."""
    from troth.requests.bulk import _fault, complete_batch

    ctx, steps = bulk.ctx, bulk.steps
    now = ctx.clock.now()
    links: dict[str, ExportLink] = {}
    with transaction(ctx) as conn:
        for rec in recs:
            data, result, summary = made[rec.id]
            link = steps.store_export(
                conn, data, request_id=rec.id, tenant_id=None, token=tokens[rec.id]
            )
            result["export"] = {"expires_at": link.expires_at.isoformat(), "bytes": len(data)}
            links[rec.id] = link
            # What customers hold of the address, as one by one (Job.complete) says it.
            made[rec.id] = (data, *steps.note_elsewhere(conn, rec, result, summary))
        _fault("export.stored")
        complete_batch(
            conn, ctx.keys, recs, {r.id: made[r.id][1] for r in recs}, actor, now, job_id
        )
        for rec in recs:
            link = links[rec.id]
            steps.tell(
                conn,
                rec,
                "done",
                summary=made[rec.id][2],
                link=link.url,
                expires=local_stamp(link.expires_at, steps.zone(rec.regime)),
            )


def _marker(ctx: Context, job_id: str) -> Path:
    return package.exports_dir(ctx) / f"pending-{job_id}.txt"


def _remove(paths: builtins.list[Path]) -> None:
    for p in paths:
        p.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_pending(ctx: Context) -> int:
    """Remove the files a killed bulk export wrote but never committed: those its marker
    lists that no stored link names, once the process that wrote it is gone. Returns how
    many files were removed."""
    removed = 0
    for marker in sorted(package.exports_dir(ctx).glob("pending-*.txt")):
        try:
            pid, *listed = marker.read_text().splitlines()
        except OSError:
            continue
        if not pid.isdigit() or (int(pid) != os.getpid() and _alive(int(pid))):
            continue
        with ctx.engine.connect() as conn:
            named = set(
                conn.execute(
                    select(request_exports.c.path).where(request_exports.c.path.in_(listed))
                ).scalars()
            )
        for path in listed:
            if path not in named and Path(path).exists():
                Path(path).unlink(missing_ok=True)
                removed += 1
        marker.unlink(missing_ok=True)
    return removed
