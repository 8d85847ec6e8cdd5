"""Many verified requests at once, batch by batch (issue 19).

    report = t.requests.execute_many(ids, batch_size=500)   # or None: every one waiting

Erasures (the kinds whose handler has a ``batch`` step: delete, close_account) run set-
based: per batch, one transaction moves every request to in_progress (an event and an
audit entry per person, the batch's job id in both), one resumable connector job erases
the whole batch's identities from every connected dataset (one set of statements per
table), then one transaction does troth's part for every person
(:mod:`troth.requests.bulk_store`: the same legal holds, legal minimums, consents and
mail rules as one by one) and completes every request (its event, its audit entries, its
letter). Access and portability requests (handlers with ``batch_export``) run batch by
batch too, last (:mod:`troth.requests.bulk_export`: one read of troth's store and one walk
per connected dataset for the batch, a ZIP per person, one completing transaction). Other
kinds run one by one through ``execute``, after the erasures and before the exports.

A run killed anywhere resumes: a request already completed is skipped, one in_progress
with a batch job finishes that job (the connector never redoes a step it finished) and
then troth's part, which commits with the completion or not at all; an export batch is
simply redone (a read; the completion checks the state, so no link is issued twice).
"""

from __future__ import annotations

import builtins
import os
import signal
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, select, update

from troth.access.seals import resealing
from troth.audit.entry import AuditEntry
from troth.audit.log import append_entries, transaction
from troth.connectors import Connector
from troth.errors import ConnectorError, TrothError
from troth.gate import SYSTEM, Actor
from troth.requests.bulk_store import erase_many_in_store
from troth.requests.connected import erase_people, shared_connector
from troth.requests.elsewhere import left_to_customers
from troth.requests.kinds import handler_for
from troth.requests.record import RequestRecord
from troth.requests.runner import RequestRunner
from troth.requests.states import RequestKind, RequestState
from troth.requests.steps import RequestSteps, request_entry
from troth.requests.tables import request_events, requests
from troth.store.ids import new_id

if TYPE_CHECKING:
    from troth.keys import Keyring

STARTABLE = (RequestState.verified, RequestState.extended)
BATCH = 500
Progress = Callable[[int, int], None]


@dataclass
class BulkReport:
    """What a bulk run did: requests completed, those left open (id -> why), erasures
    deferred because a legal hold blocks them (waiting ``awaiting_hold``), the batch jobs
    it ran."""

    completed: builtins.list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    jobs: builtins.list[str] = field(default_factory=list)
    deferred: builtins.list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "completed": len(self.completed),
            "failed": dict(self.failed),
            "jobs": list(self.jobs),
            "deferred": len(self.deferred),
        }


@dataclass
class _Work:
    """A bulk run's requests sorted: erasure and export batches to start (fresh) or to
    finish (by the job id a killed run recorded), and the ones run one by one."""

    fresh: builtins.list[RequestRecord] = field(default_factory=list)
    resumed: dict[str, builtins.list[RequestRecord]] = field(default_factory=dict)
    fresh_exports: builtins.list[RequestRecord] = field(default_factory=list)
    resumed_exports: dict[str, builtins.list[RequestRecord]] = field(default_factory=dict)
    single: builtins.list[str] = field(default_factory=list)


def _fault(point: str) -> None:
    """Test-only: with ``TROTH_TEST_FAULT`` naming ``point`` the process is killed here."""
    if os.environ.get("TROTH_TEST_FAULT") == point:
        os.kill(os.getpid(), signal.SIGKILL)


_COMPLETE = (
    update(requests)
    .where(requests.c.id == bindparam("rid"), requests.c.state == RequestState.in_progress.value)
    .values(
        result=bindparam("result"),
        error=None,
        closed_at=bindparam("now"),
        state=RequestState.completed.value,
        updated_at=bindparam("now"),
    )
)
_START = (
    update(requests)
    .where(requests.c.id == bindparam("rid"), requests.c.state == bindparam("from_state"))
    .values(state=RequestState.in_progress.value, updated_at=bindparam("now"))
)


class BulkRunner:
    """``waiting`` and ``execute_many``: the bulk path of :meth:`RequestRunner.execute`."""

    def __init__(
        self, steps: RequestSteps, runner: RequestRunner, environ: Mapping[str, str] | None = None
    ) -> None:
        self.steps = steps
        self.ctx = steps.ctx
        self.runner = runner
        self.environ = environ

    def waiting(self, kinds: Iterable[RequestKind] | None = None) -> builtins.list[str]:
        """Ids of the verified requests waiting to be carried out (oldest first); an
        erasure waiting for a legal hold only once the hold has ended."""
        from troth.requests.deferral import ready

        r = requests.c
        q = (
            select(r.id)
            .where(
                r.state.in_([s.value for s in (*STARTABLE, RequestState.in_progress)]),
                r.verified_at.is_not(None),
            )
            .order_by(r.received_at, r.id)
        )
        if kinds is not None:
            q = q.where(r.kind.in_([k.value for k in kinds]))
        with self.ctx.engine.connect() as conn:
            ids = [str(x) for x in conn.execute(q).scalars()]
        if kinds is None or any(handler_for(k).batch for k in kinds):
            ids += [i for i in ready(self.ctx) if kinds is None or self._kind_in(i, kinds)]
        return ids

    def _kind_in(self, request_id: str, kinds: Iterable[RequestKind]) -> bool:
        return self.steps.get(request_id).kind in set(kinds)

    def execute_many(
        self,
        request_ids: Iterable[str] | None = None,
        *,
        actor: Actor = SYSTEM,
        batch_size: int = BATCH,
        progress: Progress | None = None,
    ) -> BulkReport:
        """Carry out many verified requests (default: every one waiting): erasures batch
        by batch, then other kinds one by one, then exports batch by batch. A request that
        cannot be done (not verified, closed, a connected database down) is reported in
        ``failed`` and left as ``execute`` would leave it; the others go on. Needs the office power
        ``manage_requests`` (requests of every tenant: a tenant-bound actor is refused,
        audited, before anything is read)."""
        from troth.office import authorize
        from troth.policy.model import Power

        authorize(self.ctx, actor, Power.manage_requests, details={"bulk": True})
        if batch_size < 1 or batch_size > 5_000:
            from troth.errors import ValidationError

            raise ValidationError("batch_size must be 1 to 5000", code="invalid_batch")
        from troth.requests.bulk_export import sweep_pending

        sweep_pending(self.ctx)  # files a killed export batch left behind
        ids = list(dict.fromkeys(request_ids if request_ids is not None else self.waiting()))
        out = BulkReport()
        work = self._sort(ids)
        connector = shared_connector(self.ctx, self.environ)
        done = [0]

        def step(n: int) -> None:
            done[0] += n
            if progress:
                progress(done[0], len(ids))

        fresh = [work.fresh[i : i + batch_size] for i in range(0, len(work.fresh), batch_size)]

        def erase(job_id: str, recs: builtins.list[RequestRecord]) -> None:
            self._finish_batch(job_id, recs, connector, actor, out)

        self._batches(work.resumed, fresh, erase, actor, out, step)
        for rid in work.single:
            try:
                rec = self.runner.execute(rid, actor=actor)
                if rec.state is RequestState.completed:
                    out.completed.append(rid)
                elif rec.state is RequestState.awaiting_hold:
                    out.deferred.append(rid)
            except TrothError as exc:
                out.failed[rid] = exc.message
            step(1)
        self._exports(work, connector, actor, batch_size, out, step)
        return out

    def _exports(
        self,
        work: _Work,
        connector: Connector | None,
        actor: Actor,
        batch_size: int,
        out: BulkReport,
        step: Callable[[int], None],
    ) -> None:
        """Access and portability batch by batch (:mod:`troth.requests.bulk_export`):
        batches a killed run left in_progress are redone, then the fresh ones."""
        from troth.requests.bulk_export import export_batch, plan_batches

        def export(job_id: str, recs: builtins.list[RequestRecord]) -> None:
            export_batch(self, job_id, recs, connector, actor, out)

        fresh = plan_batches(work.fresh_exports, batch_size)
        self._batches(work.resumed_exports, fresh, export, actor, out, step, "export.started")

    def _batches(
        self,
        resumed: Mapping[str, builtins.list[RequestRecord]],
        fresh: Iterable[builtins.list[RequestRecord]],
        finish: Callable[[str, builtins.list[RequestRecord]], None],
        actor: Actor,
        out: BulkReport,
        step: Callable[[int], None],
        fault: str = "bulk.started",
    ) -> None:
        """Run batches: first those a killed run left in_progress (finished by the job id
        it recorded, never started again), then each fresh one, started (``fault``: the
        test's crash point once it is) and finished; ``step`` counts each batch's
        requests, a request that moved meanwhile included."""
        for job_id, recs in resumed.items():
            finish(job_id, recs)
            step(len(recs))
        for batch in fresh:
            part = self._start_batch(batch, actor, out, fault=fault)
            if part is not None:
                finish(*part)
            step(len(batch))

    def _sort(self, ids: builtins.list[str]) -> _Work:
        """Which requests run batch by batch (fresh, or resuming the batch a killed run
        started) and which one by one through ``execute`` (which says why an unknown or
        unverified one cannot run)."""
        from troth.requests.deferral import holds_on

        work = _Work()
        for start in range(0, len(ids), 1_000):
            chunk = ids[start : start + 1_000]
            recs = self._load_many(chunk)
            batches = self._batches_of([r.id for r in recs.values()])
            with self.ctx.engine.connect() as conn:
                held = holds_on(conn, [r.subject_id for r in recs.values() if r.subject_id])
            for rid in chunk:
                rec = recs.get(rid)
                handler = handler_for(rec.kind) if rec is not None else None
                batched = handler is not None and (handler.batch or handler.batch_export)
                if rec is None or handler is None or not batched or rec.verified_at is None:
                    work.single.append(rid)
                elif handler.batch and rec.subject_id in held:
                    # Deferred (or still waiting) one by one: a legal hold blocks it.
                    work.single.append(rid)
                elif rec.state in STARTABLE or rec.state is RequestState.awaiting_hold:
                    (work.fresh if handler.batch else work.fresh_exports).append(rec)
                elif rec.state is RequestState.in_progress and rid in batches:
                    into = work.resumed if handler.batch else work.resumed_exports
                    into.setdefault(batches[rid], []).append(rec)
                else:
                    work.single.append(rid)
        return work

    # -- internals -----------------------------------------------------------------------
    def _load_many(self, ids: builtins.list[str]) -> dict[str, RequestRecord]:
        with self.ctx.engine.connect() as conn:
            rows = conn.execute(select(requests).where(requests.c.id.in_(ids))).mappings()
            recs = [self.steps.record(r) for r in rows]
        # One changed outside troth goes the single way, which refuses it (audited).
        return {rec.id: rec for rec in recs if not rec.tampered}

    def _batches_of(self, ids: builtins.list[str]) -> dict[str, str]:
        """request id -> the batch job its (latest) start recorded, for requests started
        by a bulk run."""
        e = request_events.c
        out: dict[str, str] = {}
        with self.ctx.engine.connect() as conn:
            rows = conn.execute(
                select(e.request_id, e.details)
                .where(e.request_id.in_(ids), e.event == "started")
                .order_by(e.id)
            )
            for rid, details in rows:
                job = (details or {}).get("batch")
                if job:
                    out[str(rid)] = str(job)
                else:
                    out.pop(str(rid), None)
        return out

    def _start_batch(
        self,
        recs: builtins.list[RequestRecord],
        actor: Actor,
        out: BulkReport,
        *,
        fault: str = "bulk.started",
    ) -> tuple[str, builtins.list[RequestRecord]] | None:
        """Move the batch to in_progress in one transaction, recording its job id; a
        request that moved meanwhile is left out (reported)."""
        job_id = f"bulk-{new_id()}"
        now = self.ctx.clock.now()
        started: builtins.list[RequestRecord] = []
        with transaction(self.ctx) as conn:
            for rec in recs:
                with resealing(conn, self.ctx.keys, requests, [rec.id]):
                    n = conn.execute(
                        _START, {"rid": rec.id, "from_state": rec.state.value, "now": now}
                    ).rowcount
                if n == 1:
                    started.append(rec)
                else:
                    out.failed[rec.id] = f"request {rec.id} changed meanwhile; look again"
            if not started:
                return None
            conn.execute(
                request_events.insert(),
                [
                    {
                        "request_id": rec.id,
                        "at": now,
                        "actor": actor.label[:255],
                        "event": "started",
                        "from_state": rec.state.value,
                        "to_state": RequestState.in_progress.value,
                        "details": {"batch": job_id},
                    }
                    for rec in started
                ],
            )
            append_entries(
                conn,
                now,
                [
                    request_entry(rec, actor, "request.started", to="in_progress", batch=job_id)
                    for rec in started
                ],
            )
        _fault(fault)
        return job_id, started

    def _finish_batch(
        self,
        job_id: str,
        recs: builtins.list[RequestRecord],
        connector: Connector | None,
        actor: Actor,
        out: BulkReport,
    ) -> None:
        out.jobs.append(job_id)
        sids = [r.subject_id for r in recs if r.subject_id is not None]
        datasets: builtins.list[dict[str, Any]] = []
        if connector is not None:
            # Not the address of a request left to the customers who hold it (elsewhere).
            emails = [r.email for r in recs if r.email and not left_to_customers(self.ctx, r)]
            try:
                datasets = erase_people(self.ctx, connector, job_id, sids, emails)
            except ConnectorError as exc:
                interrupted(self.steps, recs, exc, out)
                return
        _fault("bulk.connected")
        now = self.ctx.clock.now()
        with transaction(self.ctx) as conn:
            for kind, people in _people_by_kind(recs).items():
                step = handler_for(kind).batch
                if step is not None:
                    step(conn, self.ctx, people, now)
            own = erase_many_in_store(conn, self.ctx, sids)
            results: dict[str, dict[str, Any]] = {}
            summaries: dict[str, builtins.list[str]] = {}
            for rec in recs:
                mine = (
                    own[rec.subject_id]
                    if rec.subject_id is not None
                    else {"system": "troth", "found": 0, "deleted": 0, "kept": 0}
                )
                systems = [mine, *datasets]
                results[rec.id], summaries[rec.id] = self.steps.note_elsewhere(
                    conn,
                    rec,
                    {"systems": systems, "batch": job_id, "people": len(recs)},
                    _summary(mine, datasets, len(recs)),
                )
            complete_batch(conn, self.ctx.keys, recs, results, actor, now, job_id)
            for rec in recs:
                self.steps.tell(conn, rec, "done", summary=summaries[rec.id])
        out.completed += [r.id for r in recs]


def interrupted(
    steps: RequestSteps, recs: builtins.list[RequestRecord], exc: ConnectorError, out: BulkReport
) -> None:
    """A connected database failed a batch: each request waits in_progress (its event), and
    the report says how to resume."""
    for rec in recs:
        steps.interrupted(rec, exc)
        out.failed[rec.id] = (
            f"{exc.message}. Request {rec.id} waits in_progress: run it again to resume"
        )


def complete_batch(
    conn: Connection,
    keys: Keyring,
    recs: builtins.list[RequestRecord],
    results: Mapping[str, dict[str, Any]],
    actor: Actor,
    now: datetime,
    job_id: str,
) -> None:
    """Complete a batch's requests in the caller's transaction, as ``Job.complete`` does one:
    each result stored and the request closed (Conflict, rolling everything back, when one
    left in_progress meanwhile), its "completed" event, its ``request.completed`` and
    ``request.<kind>`` audit entries (with the result's categories). The letters are the
    caller's."""
    params = [{"rid": r.id, "result": results[r.id], "now": now} for r in recs]
    with resealing(conn, keys, requests, [r.id for r in recs]):
        changed = conn.execute(_COMPLETE, params).rowcount
    if changed != len(recs):
        from troth.errors import Conflict

        raise Conflict(f"requests of batch {job_id} changed meanwhile; run again", code="changed")
    conn.execute(
        request_events.insert(),
        [
            {
                "request_id": rec.id,
                "at": now,
                "actor": actor.label[:255],
                "event": "completed",
                "from_state": RequestState.in_progress.value,
                "to_state": RequestState.completed.value,
                "details": {},
            }
            for rec in recs
        ],
    )
    entries: builtins.list[AuditEntry] = []
    for rec in recs:
        result = results[rec.id]
        entries.append(request_entry(rec, actor, "request.completed", to="completed"))
        entries.append(
            request_entry(
                rec,
                actor,
                f"request.{rec.kind.value}",
                categories=tuple(result.get("categories", ())),
                result=result,
            )
        )
    append_entries(conn, now, entries)


def _people_by_kind(recs: builtins.list[RequestRecord]) -> dict[RequestKind, builtins.list[str]]:
    """The subject ids of a batch's requests, by kind (requests matched to no one left out)."""
    out: dict[RequestKind, builtins.list[str]] = {}
    for r in recs:
        if r.subject_id is not None:
            out.setdefault(r.kind, []).append(r.subject_id)
    return out


def _summary(
    own: dict[str, Any], datasets: builtins.list[dict[str, Any]], people: int
) -> builtins.list[str]:
    """The person's letter, in their words (:func:`troth.requests.erasure.system_line`):
    troth's counts are theirs; a connected dataset was erased for the whole batch at once,
    so its line says so without other people's counts."""
    from troth.requests.erasure import system_line

    lines = [system_line(own)]
    lines += [
        f'In our system "{d["system"].split(":", 1)[-1]}": erased together with'
        f" {people - 1} other requests."
        for d in datasets
    ]
    reasons = [k.get("words") or k["reason"] for k in own.get("kept_because", [])]
    reasons += sorted({k["reason"] for d in datasets for k in d.get("kept_because", [])})
    return lines + reasons
