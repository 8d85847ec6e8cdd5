"""Discovery as a service: the office's scan of the connected databases (and troth's own
free-text values) for personal data the policy and the datasets file do not declare.

    report = DiscoveryService(ctx).scan(actor=officer)            # power run_discovery
    report = DiscoveryService(ctx).scan(resume=report.scan_id)    # after an interruption

A scan plans every table first (one row each in ``discovery_tables``), then samples them
one by one, each in a read-only transaction, storing each table's classification (masked
evidence only) as soon as it is done. When the time budget runs out the scan stops, is
``partial`` and resumes at the next table; a scan whose process died is found
``running`` and resumes the same way. Each run is audited (``discovery.scan``), and a
refusal too (``office.run_discovery``).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from troth.audit.entry import AuditEntry, Outcome
from troth.audit.log import append_entry, transaction
from troth.connectors.declaration import Dataset
from troth.context import Context
from troth.discovery.classify import Classifier, ColumnResult
from troth.discovery.detectors import Detectors, countries_for
from troth.discovery.drift import TROTH, drift
from troth.discovery.reports import (
    ScanReport,
    newest_scans,
    stored_scan,
    stored_table,
    unfinished_scan,
)
from troth.discovery.scan import LiveTable, live_tables, read_sample, readonly_engine
from troth.discovery.tables import discovery_scans, discovery_tables
from troth.errors import NotFound, ValidationError
from troth.gate import SYSTEM, Actor
from troth.office import authorize
from troth.policy.model import FieldType, Power
from troth.store.ids import new_id
from troth.store.tables import records

DEFAULT_ROWS = 1000
MAX_ROWS = 100_000
DEFAULT_BUDGET_S = 300.0
MAX_BUDGET_S = 24 * 3600.0


class DiscoveryService:
    def __init__(
        self,
        ctx: Context,
        *,
        datasets: Sequence[Dataset] | None = None,
        environ: Mapping[str, str] | None = None,
        nlp: Any = None,
    ) -> None:
        self.ctx = ctx
        self._datasets = list(datasets) if datasets is not None else None
        self.environ = environ if environ is not None else os.environ
        policy = ctx.policy.policy
        self.detectors = Detectors(
            countries_for(
                [j.value for j in policy.organisation.jurisdictions], policy.locations.allowed
            ),
            today=ctx.clock.now().date(),
        )
        self.classifier = Classifier(self.detectors, nlp)

    # -- what is declared ----------------------------------------------------------------
    def datasets(self) -> list[Dataset]:
        if self._datasets is None:
            from troth.requests.connected import connected_datasets

            self._datasets = connected_datasets(self.ctx)
        return self._datasets

    def text_fields(self) -> dict[str, str]:
        """troth's free-text fields, ``point.field`` -> category."""
        return {
            f"{point}.{name}": spec.category
            for point, fields in self.ctx.policy.point_fields.items()
            for name, spec in fields.items()
            if spec.type is FieldType.text
        }

    # -- a scan --------------------------------------------------------------------------
    def scan(
        self,
        names: Sequence[str] = (),
        *,
        rows: int = DEFAULT_ROWS,
        budget_s: float = DEFAULT_BUDGET_S,
        resume: str | None = None,
        actor: Actor = SYSTEM,
    ) -> ScanReport:
        """Scan ``names`` (every declared dataset and troth's own free text when empty),
        sampling at most ``rows`` rows a table, for at most ``budget_s`` seconds; or go on
        with scan ``resume`` where it stopped."""
        authorize(
            self.ctx, actor, Power.run_discovery, details={"operation": "scan", "resume": resume}
        )
        if not 1 <= rows <= MAX_ROWS:
            raise ValidationError(f"rows must be between 1 and {MAX_ROWS:,} a table")
        if not 0 < budget_s <= MAX_BUDGET_S:
            raise ValidationError("the time budget must be more than 0 and at most 24 hours")
        deadline = time.monotonic() + budget_s
        if resume is not None:
            scan_id, names, rows = self._resumable(resume)
        else:
            names = self._check_names(names)
            scan_id = self._plan(names, rows, actor, deadline)
        start = {"datasets": list(names), "rows": rows, "budget_s": budget_s}
        self._audit(actor, "start", scan_id, {**start, "resumed": resume is not None})
        sampled = self._run(scan_id, rows, deadline)
        report = self.report(scan_id, actor=SYSTEM, _authorized=True)
        report.sampled_bytes = sampled
        self._finish(scan_id, report)
        end = {"state": report.state, "tables_done": report.tables_done}
        self._audit(actor, "end", scan_id, {**end, "tables_total": report.tables_total,
                                             "counts": report.counts()})  # fmt: skip
        return report

    def _check_names(self, names: Sequence[str]) -> list[str]:
        known = [d.name for d in self.datasets()]
        unknown = [n for n in names if n not in known and n != TROTH]
        if unknown:
            listed = ", ".join(known) or "none: put declarations in the home's datasets folder"
            raise ValidationError(f"no dataset named {unknown[0]!r} (declared: {listed})")
        return list(dict.fromkeys(names)) if names else [*known, TROTH]

    def _resumable(self, scan_id: str) -> tuple[str, list[str], int]:
        with self.ctx.engine.connect() as conn:
            row = conn.execute(
                sa.select(discovery_scans).where(discovery_scans.c.id == scan_id)
            ).first()
        if row is None:
            raise NotFound(
                f"no discovery scan {scan_id!r}; `troth discover --last` shows the newest"
            )
        if row.state == "complete":
            raise ValidationError(f"scan {scan_id} is complete: start a new one")
        return row.id, list(row.datasets), int(row.options["rows"])

    def _plan(self, names: list[str], rows: int, actor: Actor, deadline: float) -> str:
        """Store the scan and one pending row per table (reflected now, read-only)."""
        scan_id = new_id()
        now = self.ctx.clock.now()
        planned: list[dict[str, Any]] = []
        by_name = {d.name: d for d in self.datasets()}
        for name in names:
            if name == TROTH:
                shape: dict[str, Any] = {"columns": [], "primary_key": [], "foreign_keys": []}
                planned.append(self._row(scan_id, TROTH, "records", len(planned), shape, now))
                continue
            ds = by_name[name]
            try:
                tables = self._reflect(ds)
            except Exception as exc:  # an unreachable database: reported, others go on
                failed = self._row(scan_id, name, "*", len(planned), {}, now)
                planned.append({**failed, "state": "failed", "error": _first_line(exc)})
                continue
            for t in tables:
                planned.append(self._row(scan_id, name, t.name, len(planned), _shape(t), now))
        with self.ctx.engine.begin() as conn:
            conn.execute(
                discovery_scans.insert().values(
                    id=scan_id,
                    state="running",
                    actor=actor.label,
                    datasets=names,
                    options={"rows": rows},
                    created_at=now,
                    updated_at=now,
                )
            )
            if planned:
                conn.execute(discovery_tables.insert(), planned)
        return scan_id

    @staticmethod
    def _row(
        scan_id: str, dataset: str, table: str, pos: int, shape: dict[str, Any], now: datetime
    ) -> dict[str, Any]:
        return {
            "scan_id": scan_id,
            "dataset": dataset,
            "table_name": table,
            "position": pos,
            "state": "pending",
            "shape": shape,
            "result": None,
            "error": None,
            "updated_at": now,
        }

    def _engine(self, ds: Dataset) -> sa.Engine:
        url = self.environ.get(ds.url_env)
        if not url:
            raise ValidationError(
                f"dataset {ds.name}: environment variable {ds.url_env} is not set; set it to"
                " the database's URL"
            )
        return readonly_engine(url)

    def _reflect(self, ds: Dataset) -> list[LiveTable]:
        engine = self._engine(ds)
        try:
            return live_tables(engine)
        finally:
            engine.dispose()

    def _run(self, scan_id: str, rows: int, deadline: float) -> int:
        with self.ctx.engine.connect() as conn:
            pending = conn.execute(
                sa.select(discovery_tables)
                .where(discovery_tables.c.scan_id == scan_id, discovery_tables.c.state == "pending")
                .order_by(discovery_tables.c.position)
            ).all()
        engines: dict[str, sa.Engine] = {}
        by_name = {d.name: d for d in self.datasets()}
        sampled = 0
        try:
            for p in pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    if p.dataset == TROTH:
                        cols = self._troth_text(rows)
                    else:
                        ds = by_name.get(p.dataset)
                        if ds is None:
                            raise ValidationError(f"dataset {p.dataset} is no longer declared")
                        if p.dataset not in engines:
                            engines[p.dataset] = self._engine(ds)
                        cols = self._table(engines[p.dataset], p.table_name, p.shape, rows, left)
                except (sa.exc.OperationalError, sa.exc.DatabaseError) as exc:
                    if time.monotonic() >= deadline:
                        break  # cut off by the budget: the table stays pending
                    self._set_table(scan_id, p, "failed", None, _first_line(exc))
                    continue
                except ValidationError as exc:
                    self._set_table(scan_id, p, "failed", None, exc.message)
                    continue
                sampled += sum(c.bytes for c in cols)
                self._set_table(scan_id, p, "done", [c.to_dict() for c in cols], None)
        finally:
            for e in engines.values():
                e.dispose()
        return sampled

    def _table(
        self, engine: sa.Engine, name: str, shape: dict[str, Any], rows: int, left: float
    ) -> list[ColumnResult]:
        table = _live(name, shape)
        values, _took = read_sample(engine, table, rows, left)
        return [
            self.classifier.column(c.name, c.type, values[c.name], c.comment) for c in table.columns
        ]

    def _troth_text(self, rows: int) -> list[ColumnResult]:
        """troth's own free-text values (support messages, notes), plain ones only (a
        sensitive category is encrypted): each field's newest ``rows`` values."""
        out = []
        with self.ctx.engine.connect() as conn:
            for key in sorted(self.text_fields()):
                point, _, name = key.partition(".")
                vals = conn.execute(
                    sa.select(records.c.value)
                    .where(
                        records.c.collection_point == point,
                        records.c.field == name,
                        records.c.value.is_not(None),
                    )
                    .order_by(records.c.id.desc())
                    .limit(rows)
                ).scalars()
                texts = [v for v in (json.loads(x) for x in vals) if isinstance(v, str)]
                col = ColumnResult(column=key, type="text", sampled=len(texts))
                col.bytes = sum(len(t) for t in texts)
                self.classifier._free_text(col, texts)
                out.append(col)
        return out

    def _set_table(
        self,
        scan_id: str,
        p: Any,
        state: str,
        result: list[dict[str, Any]] | None,
        error: str | None,
    ) -> None:
        now = self.ctx.clock.now()
        t = discovery_tables.c
        with self.ctx.engine.begin() as conn:
            conn.execute(
                discovery_tables.update()
                .where(t.scan_id == scan_id, t.dataset == p.dataset, t.table_name == p.table_name)
                .values(state=state, result=result, error=error, updated_at=now)
            )
            conn.execute(
                discovery_scans.update()
                .where(discovery_scans.c.id == scan_id)
                .values(updated_at=now)
            )

    def _finish(self, scan_id: str, report: ScanReport) -> None:
        now = self.ctx.clock.now()
        with self.ctx.engine.begin() as conn:
            conn.execute(
                discovery_scans.update()
                .where(discovery_scans.c.id == scan_id)
                .values(
                    state=report.state,
                    summary={"counts": report.counts(), "drift": report.drift},
                    updated_at=now,
                    finished_at=now if report.complete else None,
                )
            )

    def _audit(self, actor: Actor, phase: str, scan_id: str, details: dict[str, Any]) -> None:
        with transaction(self.ctx) as conn:
            entry = AuditEntry(
                action="discovery.scan",
                actor=actor.label,
                outcome=Outcome.allow if phase == "start" else Outcome.info,
                reason=None,
                details={"phase": phase, "scan_id": scan_id, **details},
            )
            append_entry(conn, self.ctx.clock.now(), entry)

    # -- reading scans back --------------------------------------------------------------
    def report(
        self, scan_id: str | None = None, *, actor: Actor = SYSTEM, _authorized: bool = False
    ) -> ScanReport:
        """The drift report of scan ``scan_id`` (the newest when None), from its stored,
        masked results."""
        if not _authorized:
            authorize(self.ctx, actor, Power.run_discovery, details={"operation": "report"})
        with self.ctx.engine.connect() as conn:
            scan, tables = stored_scan(conn, scan_id)
        done = [t for t in tables if t.state == "done"]
        errors = {
            f"{t.dataset}.{t.table_name}": t.error or "" for t in tables if t.state == "failed"
        }
        pending = sum(1 for t in tables if t.state == "pending")
        scans = [stored_table(t) for t in done]
        state = "complete" if pending == 0 else "partial"
        names = set(scan.datasets)
        findings = drift(
            scans,
            {d.name: d for d in self.datasets() if d.name in names},
            sensitive=self.sensitive(),
            policy_categories={c.id for c in self.ctx.policy.policy.categories},
            held_by_troth={
                spec.category
                for fields in self.ctx.policy.point_fields.values()
                for spec in fields.values()
            },
            text_fields=self.text_fields(),
            complete=state == "complete" and not errors,
        )
        return ScanReport(
            scan_id=scan.id,
            state=state,
            started_at=scan.created_at,
            datasets=list(scan.datasets),
            tables_done=len(done),
            tables_total=len(tables),
            findings=findings,
            errors=errors,
        )

    def sensitive(self) -> set[str]:
        """The sensitive categories: the policy's flags, else the built-in taxonomy's (a
        category the policy never names is still sensitive when found)."""
        from troth.policy.taxonomy import BUILTIN_BY_ID

        out = {c.id for c in BUILTIN_BY_ID.values() if c.sensitive}
        for cid, info in self.ctx.policy.categories.items():
            (out.add if info.sensitive else out.discard)(cid)
        return out

    def scans(self, *, limit: int = 20, actor: Actor = SYSTEM) -> list[dict[str, Any]]:
        """The newest scans: id, state, when, by whom, the counts."""
        authorize(self.ctx, actor, Power.run_discovery, details={"operation": "list"})
        with self.ctx.engine.connect() as conn:
            return newest_scans(conn, limit)

    def resumable(self) -> str | None:
        """The newest scan that did not finish (partial, or interrupted while running)."""
        with self.ctx.engine.connect() as conn:
            return unfinished_scan(conn)


def _shape(t: LiveTable) -> dict[str, Any]:
    return {
        "columns": [[c.name, c.type, c.comment] for c in t.columns],
        "comment": t.comment,
        "primary_key": list(t.primary_key),
        "foreign_keys": [list(fk) for fk in t.foreign_keys],
    }


def _live(name: str, shape: dict[str, Any]) -> LiveTable:
    from troth.discovery.scan import LiveColumn

    return LiveTable(
        name,
        tuple(LiveColumn(n, ty, cm) for n, ty, cm in shape["columns"]),
        shape.get("comment"),
    )


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return (text.splitlines() or [type(exc).__name__])[0][:300]
