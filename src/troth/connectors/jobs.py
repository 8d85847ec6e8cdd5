"""Connector jobs in troth's own database: the plan of a request over connected datasets
and the progress of each dataset's part, so a crash resumes without loss or double effect.

A step moves pending -> applying (its report is written *before* the dataset commits)
-> done. A step found ``applying`` after a crash is run again: the work is idempotent, and
if the rerun changes nothing the stored report is the true one (the commit had happened).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine

from troth.clock import Clock
from troth.columns import document, key, ref, stamp, stamps
from troth.connectors.report import Report
from troth.db import metadata
from troth.errors import Conflict, NotFound
from troth.stored import member


class JobState(StrEnum):
    pending = "pending"
    in_progress = "in_progress"
    interrupted = "interrupted"
    complete = "complete"


class StepState(StrEnum):
    pending = "pending"
    applying = "applying"
    done = "done"


connector_jobs = sa.Table(
    "connector_jobs",
    metadata,
    key(length=64),
    sa.Column("operation", sa.String(16), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    # The identities the walk starts from; cleared once the job is complete.
    document("identities", required=False),
    sa.Column("error", sa.Text, nullable=True),
    *stamps("created_at", "updated_at"),
    sa.Index(None, "state", "updated_at"),
)

connector_steps = sa.Table(
    "connector_steps",
    metadata,
    ref("job_id", "connector_jobs.id", cascade=True, primary_key=True, length=64),
    sa.Column("dataset", sa.String(64), primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    document("report", required=False),
    stamp("updated_at"),
)


@dataclass
class Step:
    dataset: str
    state: StepState
    report: Report | None


@dataclass
class Job:
    id: str
    operation: str
    state: JobState
    identities: dict[str, list[str]] | None
    error: str | None
    steps: list[Step]


class JobStore:
    """Reads and writes connector jobs; every write is its own short transaction."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock

    def create_tables(self) -> None:
        """Create the two tables if missing (tests and first runs; migrations do it too)."""
        metadata.create_all(self.engine, tables=[connector_jobs, connector_steps])

    def create(
        self,
        job_id: str,
        operation: str,
        identities: dict[str, list[str]],
        datasets: list[str],
        *,
        applying: tuple[str, Report] | None = None,
    ) -> Job:
        """Store the plan (one pending step per dataset) of a job that starts now;
        ``applying`` (dataset, report): that step is already applying, in the same
        transaction (the first step's record before its dataset commits)."""
        now = self.clock.now()
        try:
            self._insert(job_id, operation, identities, datasets, now, applying)
        except sa.exc.IntegrityError:
            raise Conflict(f"connector job {job_id!r} exists already") from None
        steps = [Step(name, StepState.pending, None) for name in datasets]
        return Job(job_id, operation, JobState.in_progress, identities, None, steps)

    def _insert(
        self,
        job_id: str,
        operation: str,
        identities: dict[str, list[str]],
        datasets: list[str],
        now: datetime,
        applying: tuple[str, Report] | None = None,
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                connector_jobs.insert().values(
                    id=job_id,
                    operation=operation,
                    state=JobState.in_progress.value,
                    identities=identities,
                    created_at=now,
                    updated_at=now,
                )
            )
            conn.execute(
                connector_steps.insert(),
                [
                    {
                        "job_id": job_id,
                        "dataset": name,
                        "position": i,
                        "state": (
                            StepState.applying
                            if applying and applying[0] == name
                            else StepState.pending
                        ).value,
                        "report": applying[1].to_dict()
                        if applying and applying[0] == name
                        else None,
                        "updated_at": now,
                    }
                    for i, name in enumerate(datasets)
                ],
            )

    def get(self, job_id: str) -> Job:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(connector_jobs).where(connector_jobs.c.id == job_id)
            ).first()
            if row is None:
                raise NotFound(f"no connector job {job_id!r}; start it with erase()")
            steps = conn.execute(
                sa.select(connector_steps)
                .where(connector_steps.c.job_id == job_id)
                .order_by(connector_steps.c.position)
            ).all()
        return Job(
            id=row.id,
            operation=row.operation,
            state=member(JobState, row.state, "connector_jobs.state"),
            identities=row.identities,
            error=row.error,
            steps=[
                Step(
                    s.dataset,
                    member(StepState, s.state, "connector_steps.state"),
                    Report.from_dict(s.report) if s.report else None,
                )
                for s in steps
            ],
        )

    def set_state(self, job_id: str, state: JobState, error: str | None = None) -> None:
        values: dict[str, Any] = {"state": state.value, "error": error}
        if state is JobState.complete:
            values["identities"] = None  # keep no personal data once the job is done
        with self.engine.begin() as conn:
            conn.execute(
                connector_jobs.update()
                .where(connector_jobs.c.id == job_id)
                .values(updated_at=self.clock.now(), **values)
            )

    def set_step(
        self,
        job_id: str,
        dataset: str,
        state: StepState,
        report: Report,
        *,
        complete: bool = False,
    ) -> None:
        """Record a step's state and report; ``complete`` also closes the job (same
        transaction: the last step done and the job complete are one fact)."""
        now = self.clock.now()
        with self.engine.begin() as conn:
            conn.execute(
                connector_steps.update()
                .where(connector_steps.c.job_id == job_id, connector_steps.c.dataset == dataset)
                .values(state=state.value, report=report.to_dict(), updated_at=now)
            )
            if complete:
                conn.execute(
                    connector_jobs.update()
                    .where(connector_jobs.c.id == job_id)
                    .values(
                        state=JobState.complete.value, identities=None, error=None, updated_at=now
                    )
                )
