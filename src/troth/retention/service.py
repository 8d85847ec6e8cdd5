"""Retention (P30): data is kept only as long as its purposes need, then deleted,
anonymised or crypto-shredded, automatically, batch by batch, with a record of what went.

A record expires when *every* purpose it serves has passed its ``keep_for`` (and its
``legal_minimum``), counted from collection or from the end of the relationship (no end
yet: not expired); a purpose without a retention rule never expires what it serves. A
record kept by a deletion request until ``restricted_until`` expires when that day passes.
Legal holds (on a person: ``subjects.legal_hold``; on a tenant:
:data:`troth.retention.tables.legal_holds`) override everything and are reported. The
policy validator makes ``keep_for`` at least the legal minimum, so no sweep deletes inside
one.

Every sweep is set-based: one statement per batch (``... WHERE id IN (SELECT ... ORDER BY id
LIMIT n)``, keyset-paged), each batch its own transaction with one audit entry of counts
per category and purpose (never values). A rerun finds nothing left to do.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from troth.audit.entry import AuditEntry, Outcome
from troth.audit.log import append_entries, transaction
from troth.context import Context
from troth.errors import ValidationError
from troth.gate import SYSTEM, Actor
from troth.office import authorize
from troth.policy.model import Power, RetentionAction
from troth.retention import holds
from troth.retention.rules import Expiry, purpose_list
from troth.retention.sweep import Progress, RetentionReport, Sweep
from troth.store.erasure import drop_spent_identities
from troth.store.ids import new_id

log = logging.getLogger("troth.retention")


@dataclass(eq=False)
class RetentionService:
    """Applies the policy's retention rules to troth's store."""

    ctx: Context

    # -- holds ---------------------------------------------------------------------------
    def place_hold(
        self,
        *,
        reason: str,
        actor: Actor = SYSTEM,
        subject_id: str | None = None,
        tenant_id: str | None = None,
        purposes: Sequence[str] | None = None,
    ) -> str:
        """Put a person or a whole tenant under legal hold: retention deletes nothing of
        theirs until the hold is lifted. ``purposes``: those the hold serves (the
        investigation's), which stay usable for the person while it runs even when an
        erasure it defers restricts the others (the gate still checks who acts). Returns
        the hold id. Needs the power ``manage_holds`` (troth.office)."""
        authorize(self.ctx, actor, Power.manage_holds, subject_id=subject_id, tenant_id=tenant_id)
        if (subject_id is None) == (tenant_id is None):
            raise ValidationError("name exactly one of subject_id and tenant_id for a legal hold")
        if not reason or not reason.strip():
            raise ValidationError("a legal hold needs a reason (the case, the order, who asked)")
        served = holds.hold_purposes(self.ctx, purposes)
        now = self.ctx.clock.now()
        hold = holds.Hold(new_id(), reason[:200], subject_id, tenant_id, served)
        with transaction(self.ctx) as conn:
            holds.place(conn, now, hold, actor.label, self.ctx.keys)
        return hold.id

    def lift_hold(self, hold_id: str, *, actor: Actor = SYSTEM) -> dict[str, Any]:
        """Lift a hold (power ``manage_holds``); retention catches up on the next run, and
        the erasures that waited for it (and for no other hold: deletion requests, and
        those an offboarding or a minor's erasure left, troth.requests.held_erasures) are
        carried out now by troth itself. Returns what became of them: ``erasures_done``
        (how many), and ``erasures_left`` (id -> why not yet: a connected database down,
        say), which the worker retries until done."""
        authorize(self.ctx, actor, Power.manage_holds, details={"hold": hold_id[:64]})
        now = self.ctx.clock.now()
        with transaction(self.ctx) as conn:
            holds.lift(conn, now, hold_id, actor.label, self.ctx.keys)
        from troth.errors import TrothError
        from troth.requests.service import RequestService

        try:
            report = RequestService(self.ctx).resume_held()
        except TrothError as exc:  # the hold is lifted; the worker resumes what is left
            log.warning("erasures waiting for legal hold %s: %s", hold_id, exc.message)
            return {"erasures_done": 0, "erasures_left": {"*": exc.message}}
        return {"erasures_done": len(report.completed), "erasures_left": dict(report.failed)}

    def active_holds(
        self, *, subject_id: str | None = None, actor: Actor = SYSTEM
    ) -> list[dict[str, Any]]:
        """The legal holds in force (power ``manage_holds``), oldest first; with
        ``subject_id``, those that hold that person (on them or on their tenant). The
        office's own view: a request, its history and an erasure report never name a
        hold (the person and their tenant read those)."""
        authorize(self.ctx, actor, Power.manage_holds, subject_id=subject_id)
        with self.ctx.engine.connect() as conn:
            return holds.active(conn, subject_id)

    # -- planning and running -----------------------------------------------------------
    def plan(self, now: datetime | None = None, *, actor: Actor = SYSTEM) -> RetentionReport:
        """What a run at ``now`` would do, changing nothing (the dry run); power
        ``run_retention``."""
        authorize(self.ctx, actor, Power.run_retention, details={"dry_run": True})
        now = now or self.ctx.clock.now()
        expiry = Expiry(self.ctx, now)
        report = RetentionReport(dry_run=True, at=now)
        sweep = Sweep(expiry)
        with self.ctx.engine.connect() as conn:
            for action in RetentionAction:
                _plan_action(conn, sweep, action, report)
            report.held.update(expiry.held_counts(conn))
        report.datasets = self._sweep_datasets(now, dry_run=True)
        return report

    def plan_for_day(self, day: date, *, actor: Actor = SYSTEM) -> RetentionReport:
        """What a run on ``day`` would do (at noon in the organisation's zone, a time
        every day has once), changing nothing: what will have gone by then, if nothing
        new is collected and no hold changes. A day before today is refused (what is gone
        cannot be shown); power ``run_retention``."""
        # Who asks first: a caller without the power learns nothing of the day.
        authorize(self.ctx, actor, Power.run_retention, details={"dry_run": True})
        zone = self.ctx.policy.policy.organisation.zone()
        today = self.ctx.clock.now().astimezone(zone).date()
        if day < today:
            raise ValidationError(
                f"{day.isoformat()} is before today ({today.isoformat()} in {zone.key}):"
                " a plan looks ahead; give today or a later day",
                field="as_of",
            )
        return self.plan(datetime.combine(day, time(12), tzinfo=zone), actor=actor)

    def run(
        self,
        dry_run: bool = False,
        batch: int = 10_000,
        progress: Progress | None = None,
        *,
        actor: Actor = SYSTEM,
    ) -> RetentionReport:
        """Apply every rule now: delete, crypto-shred and anonymise what has expired,
        ``batch`` rows per transaction (power ``run_retention``)."""
        authorize(self.ctx, actor, Power.run_retention, details={"dry_run": dry_run})
        if batch < 1:
            raise ValidationError("batch must be at least 1")
        if dry_run:
            return self.plan(actor=actor)
        now = self.ctx.clock.now()
        expiry = Expiry(self.ctx, now)
        sweep = Sweep(expiry)
        report = RetentionReport(dry_run=False, at=now)
        for action in (RetentionAction.delete, RetentionAction.crypto_shred):
            sweep.remove(action, batch, report, progress)
        sweep.anonymise(batch, report, progress)
        with transaction(self.ctx) as conn:
            # An erased person's identities go with the last value the law kept of them.
            drop_spent_identities(conn)
        with self.ctx.engine.connect() as conn:
            report.held.update(expiry.held_counts(conn))
        if report.held:
            with transaction(self.ctx) as conn:
                append_entries(
                    conn,
                    now,
                    [
                        AuditEntry(
                            "retention.held",
                            "system:troth",
                            Outcome.info,
                            categories=tuple(sorted(report.held)),
                            details={"held": dict(sorted(report.held.items()))},
                        )
                    ],
                )
        report.datasets = self._sweep_datasets(now, dry_run=False, batch=batch, progress=progress)
        return report

    # -- connected datasets --------------------------------------------------------------
    def _sweep_datasets(
        self,
        now: datetime,
        *,
        dry_run: bool,
        batch: int = 5000,
        progress: Progress | None = None,
    ) -> list[dict[str, Any]]:
        """Sweep the ``retention:`` rules of every connected dataset (the declarations in
        ``settings.resolved_datasets_dir``), after troth's own store; a declaration that
        does not load or a database that is down is reported, and the others still run.
        Each real sweep is audited with its counts."""
        import os

        from troth.connectors import Connector, DeclarationError, JobStore, load_datasets
        from troth.connectors.loader import builtin_categories, declaration_files
        from troth.connectors.sweep import SweepReport, sweep_datasets

        ctx = self.ctx
        categories = builtin_categories() | set(ctx.policy.categories)
        purposes = set(ctx.policy.purposes)
        out: list[SweepReport] = []
        datasets = []
        seen: set[str] = set()
        for path in declaration_files(ctx.settings.resolved_datasets_dir):
            try:
                found = load_datasets(path, categories, purposes)
            except DeclarationError as exc:
                out.append(SweepReport(path.name, dry_run, now, error=exc.message))
                continue
            for ds in found:
                if ds.name in seen:
                    msg = f"{path}: dataset {ds.name!r} is declared in another file too"
                    out.append(SweepReport(ds.name, dry_run, now, error=msg))
                    continue
                seen.add(ds.name)
                datasets.append(ds)
        if datasets:
            connector = Connector(
                datasets,
                store=JobStore(ctx.engine, ctx.clock),
                keys=ctx.keys,
                clock=ctx.clock,
                environ=os.environ,
            )
            try:
                held = self._held_identities()
                for r in sweep_datasets(connector, now, dry_run=dry_run, batch=batch, held=held):
                    out.append(r)
                    if progress is not None and r.total:
                        progress(r.total)
            finally:
                connector.close()
        if not dry_run and out:
            with transaction(ctx) as conn:
                append_entries(conn, now, [_dataset_entry(r) for r in out])
        return [r.to_dict() for r in out]

    def _held_identities(self) -> Any:
        """The identities of everyone under a legal hold (their own identifying values in
        troth), which a dataset's sweep keeps; None when no one is held."""
        from troth.requests.connected import people_identities

        with self.ctx.engine.connect() as conn:
            sids = holds.held_subjects(conn)
            every = people_identities(conn, self.ctx, sids) if sids else None
        return every or None


_PLAN_PAGE = 10_000


def _plan_action(conn: Any, sweep: Sweep, action: RetentionAction, report: RetentionReport) -> None:
    """Count what a run would do for ``action``, a page at a time, as the run does: a
    value, or a person, that does not match its seal is counted ``skipped_tampered``, not
    done (a run leaves it as it is)."""
    after = 0
    while True:
        good, bad = sweep.sealed_due(conn, sweep.expiry.batch_ids(action, after, _PLAN_PAGE))
        report.skipped_tampered += len(bad)
        for _, category, purposes in good:
            report.done[(action.value, category)] += 1
            for p in purpose_list(purposes):
                report.by_purpose[p] += 1
        ids = [int(r[0]) for r in good] + bad
        if not ids:
            return
        after = max(ids)


def _dataset_entry(r: Any) -> AuditEntry:
    """The audit entry of one dataset's sweep: counts per table, never values."""
    details: dict[str, Any] = {"dataset": r.dataset, "rows": r.total}
    if r.error:
        details["error"] = r.error
    else:
        details["tables"] = {
            name: {
                "deleted": t.deleted,
                "anonymised": t.anonymised,
                "kept": t.kept,
                "held": t.held,
            }
            for name, t in r.tables.items()
        }
    outcome = Outcome.info if r.error else Outcome.allow
    return AuditEntry("retention.dataset", "system:troth", outcome, details=details)


__all__ = ["RetentionReport", "RetentionService"]
