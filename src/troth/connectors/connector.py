"""Requests over every connected dataset: one runner per dataset, erasure as a resumable
job whose plan and progress live in troth's own database."""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine

from troth.clock import Clock
from troth.connectors.declaration import Dataset
from troth.connectors.jobs import Job, JobState, JobStore, Step, StepState
from troth.connectors.report import DatasetExport, Report
from troth.connectors.runner import DatasetRunner, Hook
from troth.connectors.walk import Identities
from troth.db import make_engine
from troth.errors import ConfigError, Conflict, ConnectorError, NotFound, ValidationError
from troth.keys import Keyring


class Connector:
    """The organisation's connected datasets, as one thing a request runs over.

    Engines come from ``engines`` (by dataset name) or from each dataset's ``url_env``
    variable in ``environ`` (default: the process environment), created on first use.
    """

    def __init__(
        self,
        datasets: list[Dataset],
        *,
        store: JobStore,
        keys: Keyring,
        clock: Clock,
        engines: Mapping[str, Engine] | None = None,
        environ: Mapping[str, str] | None = None,
        hook: Hook | None = None,
    ) -> None:
        self.datasets = {d.name: d for d in datasets}
        self.store = store
        self.keys = keys
        self.clock = clock
        self.hook = hook
        self._environ = environ if environ is not None else os.environ
        self._engines: dict[str, Engine] = dict(engines or {})
        self._owned: list[Engine] = []
        self._runners: dict[str, DatasetRunner] = {}

    def runner(self, name: str) -> DatasetRunner:
        """The runner of dataset ``name`` (its engine created from ``url_env`` if needed)."""
        if name not in self._runners:
            ds = self.datasets.get(name)
            if ds is None:
                raise NotFound(f"no dataset {name!r} is declared")
            engine = self._engines.get(name)
            if engine is None:
                url = self._environ.get(ds.url_env)
                if not url:
                    raise ConnectorError(
                        f"dataset {name}: environment variable {ds.url_env} is not set; set it"
                        " to the database's SQLAlchemy URL",
                        dataset=name,
                    )
                try:
                    engine = make_engine(url, setting=ds.url_env, create=False)
                except ConfigError as exc:
                    raise ConnectorError(f"dataset {name}: {exc.message}", dataset=name) from None
                self._engines[name] = engine
                self._owned.append(engine)
            self._runners[name] = DatasetRunner(
                ds, engine, keys=self.keys, clock=self.clock, hook=self.hook
            )
        return self._runners[name]

    def close(self) -> None:
        """Dispose of the engines this connector created."""
        for engine in self._owned:
            engine.dispose()

    # -- operations --------------------------------------------------------------------
    def export(self, identities: Identities | Mapping[str, Any]) -> list[DatasetExport]:
        """What every dataset holds about the person."""
        ids = Identities.of(identities)
        return [self.runner(name).export(ids) for name in self.datasets]

    def export_many(
        self, people: Mapping[str, Identities | Mapping[str, Any]]
    ) -> dict[str, list[DatasetExport]]:
        """:meth:`export` for many people at once (keyed as the caller likes): per dataset
        one walk for all of them, each row given to everyone whose own walk reaches it.
        For each person the result equals ``export`` of their identities alone."""
        ids = {p: Identities.of(v) for p, v in people.items()}
        out: dict[str, list[DatasetExport]] = {p: [] for p in ids}
        for name in self.datasets:
            for person, export in self.runner(name).export_many(ids).items():
                out[person].append(export)
        return out

    def correct(
        self, identities: Identities | Mapping[str, Any], changes: Mapping[str, Any]
    ) -> list[Report]:
        """Correct ``changes`` (field -> value) in every dataset that maps those fields."""
        ids = Identities.of(identities)
        reports = []
        mapped: set[str] = set()
        for name in self.datasets:
            runner = self.runner(name)
            fields = {f for per in runner.field_map().values() for f in per.values()}
            mine = {k: v for k, v in changes.items() if k in fields}
            mapped |= set(mine)
            if mine:
                reports.append(runner.correct(ids, mine))
        if set(changes) - mapped:
            missing = sorted(set(changes) - mapped)[0]
            raise ValidationError(
                f"no connected dataset maps the field {missing!r}; add `field: {missing}` to a"
                " column in the declaration"
            )
        return reports

    def erase(
        self, identities: Identities | Mapping[str, Any], job_id: str | None = None
    ) -> list[Report]:
        """Erase the person from every dataset as job ``job_id`` (plan stored first); the
        same job id again resumes or returns the finished reports, never erases twice.
        Without ``job_id`` nobody can resume the job by its id: its plan is stored with
        the first step's record, before that dataset commits (one write to troth's
        database instead of two); a dataset that fails first stores it, interrupted."""
        ids = Identities.of(identities)
        if not ids:
            raise ValidationError("an erasure needs at least one email, phone or customer_id")
        if job_id is None:
            steps = [Step(name, StepState.pending, None) for name in self.datasets]
            job = Job(uuid.uuid4().hex, "erase", JobState.in_progress, ids.to_dict(), None, steps)
            return self._run(job, stored=False)
        try:
            job = self.store.create(job_id, "erase", ids.to_dict(), list(self.datasets))
        except Conflict:
            job = self.store.get(job_id)  # the same job again: resume or report it
        return self._run(job)

    def resume(self, job_id: str) -> list[Report]:
        """Finish job ``job_id`` after a crash or an unreachable database: steps done are
        not redone; a step caught mid-commit is rerun (idempotent) and reconciled."""
        return self._run(self.store.get(job_id))

    def _run(self, job: Job, *, stored: bool = True) -> list[Report]:
        if job.state is JobState.complete:
            return [s.report for s in job.steps if s.report is not None]
        if job.identities is None:
            raise ConnectorError(f"job {job.id} lost its identities; start a new erasure")
        ids = Identities.of(job.identities)
        if stored and job.state is not JobState.in_progress:
            self.store.set_state(job.id, JobState.in_progress)
        reports = []
        todo = [s for s in job.steps if not (s.state is StepState.done and s.report)]
        for step in job.steps:
            if step not in todo:
                assert step.report is not None
                reports.append(step.report)
                continue
            reports.append(
                self._erase_step(job, step.dataset, ids, last=step is todo[-1], stored=stored)
            )
            stored = True
        if not todo:
            self.store.set_state(job.id, JobState.complete)
        return reports

    def job(self, job_id: str) -> Job:
        return self.store.get(job_id)

    def _erase_step(
        self, job: Job, dataset: str, ids: Identities, *, last: bool, stored: bool = True
    ) -> Report:
        prior = next(s for s in job.steps if s.dataset == dataset)
        exists = [stored]

        def create(applying: tuple[str, Report] | None = None) -> None:
            assert job.identities is not None
            names = [s.dataset for s in job.steps]
            self.store.create(job.id, job.operation, job.identities, names, applying=applying)
            exists[0] = True

        def record(report: Report) -> None:
            # Written before the dataset commits: a crash after its commit keeps the report.
            # A rerun that finds the work already done must not overwrite the real report.
            if not exists[0]:
                create((dataset, report))  # the plan and this step's record, one write
                return
            if prior.state is StepState.applying and prior.report and report.changed() == 0:
                return
            self.store.set_step(job.id, dataset, StepState.applying, report)

        try:
            report = self.runner(dataset).erase(ids, before_commit=record)
        except ConnectorError as exc:
            if not exists[0]:
                create()
            self.store.set_state(job.id, JobState.interrupted, exc.message)
            raise
        if prior.state is StepState.applying and prior.report and report.changed() == 0:
            report = prior.report  # the earlier run had committed; its report is the true one
        self.store.set_step(job.id, dataset, StepState.done, report, complete=last)
        return report
