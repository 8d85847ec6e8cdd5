"""Retention (P30): data is kept only as long as its purposes need, then deleted,
anonymised or crypto-shredded, automatically, batch by batch, with a record of what went.

A record expires when *every* purpose it serves has passed its ``keep_for`` (and its
``legal_minimum``), counted from collection or from the end of the relationship (no end
yet: not expired); a purpose without a retention rule never expires what it serves. A
record kept by a deletion request until ``restricted_until`` expires when that day passes.
Legal holds (on a person: ``subjects.legal_hold``; on a tenant: :data:`legal_holds`)
override everything and are reported. The policy validator makes ``keep_for`` at least
the legal minimum, so no sweep deletes inside one.

Every sweep is set-based: one statement per batch (``... WHERE id IN (SELECT ... ORDER BY id
LIMIT n)``, keyset-paged), each batch its own transaction with one audit entry of counts
per category and purpose (never values). A rerun finds nothing left to do.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    String,
    Table,
    Text,
    and_,
    bindparam,
    case,
    cast,
    delete,
    exists,
    false,
    func,
    literal,
    not_,
    null,
    or_,
    select,
    true,
    update,
)

from troth.audit.entry import AuditEntry, Outcome
from troth.audit.log import append_entries, transaction
from troth.consent.tables import consent_state
from troth.context import Context
from troth.db import UtcDateTime, metadata
from troth.dialects import find_dialect, reported_name
from troth.errors import NotFound, ValidationError
from troth.gate import SYSTEM, Actor
from troth.office import authorize
from troth.policy.model import FieldType, Power, RetentionAction, RetentionClock
from troth.store.ids import new_id
from troth.store.keystore import shred_subject_keys
from troth.store.tables import records, subjects

# Who placed a hold on a whole tenant (a person's hold lives on ``subjects.legal_hold``).
legal_holds = Table(
    "legal_holds",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(32), index=True),
    Column("subject_id", String(32), index=True),
    Column("reason", String(200), nullable=False),
    Column("placed_at", UtcDateTime, nullable=False),
    Column("placed_by", String(255), nullable=False),
    Column("lifted_at", UtcDateTime),
    Column("lifted_by", String(255)),
)

# Categories that identify a person: anonymisation drops them instead of generalising.
IDENTIFYING_CATEGORIES = frozenset(
    {
        "identity",
        "contact",
        "business_contact",
        "shipping_address",
        "payment_card",
        "financial",
        "credentials",
        "government_id",
        "location",
        "company",
    }
)
# Numbers are generalised to bands of this width (37 -> "30-39").
NUMBER_BAND = 10

Progress = Callable[[int], None]


class Disposition(StrEnum):
    """What anonymisation does to one collected field."""

    drop = "drop"
    keep = "keep"
    month = "month"  # dates and times -> "YYYY-MM"
    band = "band"  # numbers -> "30-39"


@dataclass
class RetentionReport:
    """What a sweep removed (or, dry, would remove): rows per (action, category), rows kept
    by a legal hold."""

    dry_run: bool
    at: datetime
    done: Counter[tuple[str, str]] = field(default_factory=Counter)
    by_purpose: Counter[str] = field(default_factory=Counter)
    held: Counter[str] = field(default_factory=Counter)
    keys_shredded: int = 0
    batches: int = 0
    datasets: list[dict[str, Any]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.done.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "at": self.at.isoformat(),
            "total": self.total,
            "done": [
                {"action": a, "category": c, "rows": n} for (a, c), n in sorted(self.done.items())
            ],
            "by_purpose": dict(sorted(self.by_purpose.items())),
            "held": dict(sorted(self.held.items())),
            "keys_shredded": self.keys_shredded,
            "batches": self.batches,
            "datasets": self.datasets,
        }


@dataclass(frozen=True)
class _Rule:
    purpose: str
    clock: RetentionClock
    action: RetentionAction
    cut: datetime  # anchor before this: keep_for has passed
    # Consent-based: the period also runs from the withdrawal, unsubscription or erasure
    # that ended the consent (no consent recorded: from collection) (P30).
    consent: bool = False
    # Marketing or a mailing list on another basis: an opt-out (unsubscribe, objection)
    # also starts the period.
    opt_out: bool = False


class RetentionService:
    """Applies the policy's retention rules to troth's store."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # -- holds ---------------------------------------------------------------------------
    def place_hold(
        self,
        *,
        reason: str,
        actor: Actor = SYSTEM,
        subject_id: str | None = None,
        tenant_id: str | None = None,
    ) -> str:
        """Put a person or a whole tenant under legal hold: retention deletes nothing of
        theirs until the hold is lifted. Returns the hold id. Needs the power
        ``manage_holds`` (troth.office)."""
        authorize(self.ctx, actor, Power.manage_holds, subject_id=subject_id, tenant_id=tenant_id)
        if (subject_id is None) == (tenant_id is None):
            raise ValidationError("name exactly one of subject_id and tenant_id for a legal hold")
        if not reason or not reason.strip():
            raise ValidationError("a legal hold needs a reason (the case, the order, who asked)")
        now = self.ctx.clock.now()
        hid = new_id()
        with transaction(self.ctx) as conn:
            if subject_id is not None:
                n = conn.execute(
                    update(subjects)
                    .where(subjects.c.id == subject_id)
                    .values(legal_hold=reason[:200])
                ).rowcount
                if not n:
                    raise NotFound(f"no subject {subject_id!r}", subject_id=subject_id)
            conn.execute(
                legal_holds.insert().values(
                    id=hid,
                    tenant_id=tenant_id,
                    subject_id=subject_id,
                    reason=reason[:200],
                    placed_at=now,
                    placed_by=actor.label,
                )
            )
            append_entries(
                conn,
                now,
                [
                    AuditEntry(
                        "legal_hold.place",
                        actor.label,
                        Outcome.info,
                        subject_id=subject_id,
                        tenant_id=tenant_id,
                        details={"hold": hid, "reason": reason[:200]},
                    )
                ],
            )
        return hid

    def lift_hold(self, hold_id: str, *, actor: Actor = SYSTEM) -> None:
        """Lift a hold; retention catches up on the next run (power ``manage_holds``)."""
        authorize(self.ctx, actor, Power.manage_holds, details={"hold": hold_id[:64]})
        now = self.ctx.clock.now()
        with transaction(self.ctx) as conn:
            row = conn.execute(
                select(legal_holds).where(
                    legal_holds.c.id == hold_id, legal_holds.c.lifted_at.is_(None)
                )
            ).first()
            if row is None:
                raise NotFound(f"no active legal hold {hold_id!r}")
            conn.execute(
                update(legal_holds)
                .where(legal_holds.c.id == hold_id)
                .values(lifted_at=now, lifted_by=actor.label)
            )
            if row.subject_id is not None:
                still = conn.execute(
                    select(legal_holds.c.reason).where(
                        legal_holds.c.subject_id == row.subject_id,
                        legal_holds.c.lifted_at.is_(None),
                    )
                ).scalar()
                conn.execute(
                    update(subjects).where(subjects.c.id == row.subject_id).values(legal_hold=still)
                )
            append_entries(
                conn,
                now,
                [
                    AuditEntry(
                        "legal_hold.lift",
                        actor.label,
                        Outcome.info,
                        subject_id=row.subject_id,
                        tenant_id=row.tenant_id,
                        details={"hold": hold_id},
                    )
                ],
            )

    # -- planning and running -----------------------------------------------------------
    def plan(self, now: datetime | None = None, *, actor: Actor = SYSTEM) -> RetentionReport:
        """What a run at ``now`` would do, changing nothing (the dry run); power
        ``run_retention``."""
        authorize(self.ctx, actor, Power.run_retention, details={"dry_run": True})
        now = now or self.ctx.clock.now()
        sweep = _Sweep(self.ctx, now)
        report = RetentionReport(dry_run=True, at=now)
        with self.ctx.engine.connect() as conn:
            for action in RetentionAction:
                r = records.alias("r")
                purposes = cast(r.c.purposes, Text)  # json has no equality on PostgreSQL
                stmt = (
                    select(r.c.category, purposes, func.count())
                    .where(sweep.expired(r, action), sweep.not_held(r))
                    .group_by(r.c.category, purposes)
                )
                for cat, purposes, n in conn.execute(stmt):
                    report.done[(action.value, cat)] += n
                    for p in _purpose_list(purposes):
                        report.by_purpose[p] += n
            report.held.update(sweep.held_counts(conn))
        report.datasets = self._sweep_datasets(now, dry_run=True)
        return report

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
        sweep = _Sweep(self.ctx, now)
        report = RetentionReport(dry_run=False, at=now)
        for action in (RetentionAction.delete, RetentionAction.crypto_shred):
            sweep.remove(action, batch, report, progress)
        sweep.anonymise(batch, report, progress)
        with self.ctx.engine.connect() as conn:
            report.held.update(sweep.held_counts(conn))
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
                for r in sweep_datasets(connector, now, dry_run=dry_run, batch=batch):
                    out.append(r)
                    if progress is not None and r.total:
                        progress(r.total)
            finally:
                connector.close()
        if not dry_run and out:
            with transaction(ctx) as conn:
                append_entries(conn, now, [_dataset_entry(r) for r in out])
        return [r.to_dict() for r in out]


def _dataset_entry(r: Any) -> AuditEntry:
    """The audit entry of one dataset's sweep: counts per table, never values."""
    details: dict[str, Any] = {"dataset": r.dataset, "rows": r.total}
    if r.error:
        details["error"] = r.error
    else:
        details["tables"] = {
            name: {"deleted": t.deleted, "anonymised": t.anonymised, "kept": t.kept}
            for name, t in r.tables.items()
        }
    outcome = Outcome.info if r.error else Outcome.allow
    return AuditEntry("retention.dataset", "system:troth", outcome, details=details)


def _purpose_list(value: Any) -> list[str]:
    if isinstance(value, str):
        value = json.loads(value)
    return [str(p) for p in value or ()]


class _Sweep:
    """The SQL of one retention run at one instant."""

    def __init__(self, ctx: Context, now: datetime) -> None:
        self.ctx = ctx
        self.now = now
        dialect = find_dialect(ctx.engine)
        if dialect is None or not dialect.own_database:
            name = reported_name(ctx.engine)
            raise ValidationError(f"retention runs on SQLite and PostgreSQL, not {name}")
        self.dialect = dialect
        idx = ctx.policy
        list_purposes = {lst.purpose for lst in idx.policy.lists} | {
            p.id for p in idx.policy.purposes if p.marketing
        }
        self.rules: dict[str, _Rule] = {}
        for p in idx.purposes.values():
            ret = p.retention
            if ret is None:
                continue
            keep = relativedelta(
                years=ret.keep_for.years, months=ret.keep_for.months, days=ret.keep_for.days
            )
            # The policy validator guarantees keep_for >= legal_minimum (P25, P30).
            consent = p.id in idx.consent_purposes
            self.rules[p.id] = _Rule(
                p.id,
                ret.after,
                ret.then,
                now - keep,
                consent=consent,
                opt_out=consent or p.id in list_purposes,
            )
        self.dispositions = _dispositions(ctx)
        # Business contact details exempt from consent (P05) never needed one: no consent
        # recorded does not start their clock.
        self.consent_exempt = sorted(c for c in idx.categories if idx.exempt_from(c, "consent"))
        # The purpose sets records actually carry (a handful): each one's expiry and action
        # are decided here, so the per-row test is a text comparison and a date comparison.
        p_text = cast(records.c.purposes, Text)
        with ctx.engine.connect() as conn:
            texts = (
                conn.execute(select(p_text).where(records.c.anonymised.is_(False)).distinct())
                .scalars()
                .all()
            )
            self.held_subjects = list(
                conn.execute(
                    select(subjects.c.id).where(subjects.c.legal_hold.is_not(None)).limit(1001)
                ).scalars()
            )
            self.tenant_holds = (
                conn.execute(
                    select(legal_holds.c.id)
                    .where(legal_holds.c.tenant_id.is_not(None), legal_holds.c.lifted_at.is_(None))
                    .limit(1)
                ).first()
                is not None
            )
        self.sets: dict[str, tuple[RetentionAction, list[_Rule]]] = {}
        for text in texts:
            if text is None:
                continue
            purposes = _purpose_list(text)
            rules = [self.rules.get(p) for p in purposes]
            if not purposes or any(rule is None for rule in rules):
                continue  # a purpose without a rule keeps what it serves
            known = [rule for rule in rules if rule is not None]
            actions = {rule.action for rule in known}
            # Anonymise if any purpose anonymises (the statistics still need the rows;
            # anonymous data is not personal data), else crypto-shred, else delete.
            action = next(
                a
                for a in (
                    RetentionAction.anonymise,
                    RetentionAction.crypto_shred,
                    RetentionAction.delete,
                )
                if a in actions or a is RetentionAction.delete
            )
            self.sets[text] = (action, known)

    # -- building blocks -------------------------------------------------------------
    def _set_expired(self, r: Any, rules: list[_Rule]) -> ColumnElement[bool]:
        """Every purpose of the set has passed its period: plain purposes grouped by clock
        (the latest cut decides), consent and opt-out purposes each on their own, since
        their period may also run from the end of the person's consent."""
        conds: list[ColumnElement[bool]] = []
        plain = [x for x in rules if not x.opt_out]
        coll = [x.cut for x in plain if x.clock is RetentionClock.collection]
        rel = [x.cut for x in plain if x.clock is RetentionClock.relationship_end]
        if coll:
            conds.append(r.c.collected_at < literal(min(coll), UtcDateTime))
        if rel:
            conds.append(self._relationship_ended(r, min(rel)))
        for rule in rules:
            if rule.opt_out:
                clock = (
                    r.c.collected_at < literal(rule.cut, UtcDateTime)
                    if rule.clock is RetentionClock.collection
                    else self._relationship_ended(r, rule.cut)
                )
                conds.append(or_(clock, self._consent_ended(r, rule)))
        return and_(*conds)

    @staticmethod
    def _relationship_ended(r: Any, cut: datetime) -> ColumnElement[bool]:
        return exists(
            select(literal(1)).where(
                subjects.c.id == r.c.subject_id,
                subjects.c.relationship_ended_at < literal(cut, UtcDateTime),
            )
        )

    def _consent_ended(self, r: Any, rule: _Rule) -> ColumnElement[bool]:
        """The person's consent to (or acceptance of) the purpose ended before the cut:
        withdrawn, unsubscribed, opted out or erased; for a consent purpose, also none ever
        recorded (counted from collection). A re-consent restarts the period."""
        s = consent_state.c
        mine = and_(s.subject_id == r.c.subject_id, s.purpose == rule.purpose)
        ended = exists(
            select(literal(1)).where(
                mine, s.granted.is_(False), s.at < literal(rule.cut, UtcDateTime)
            )
        )
        if not rule.consent:
            return ended
        never = and_(
            ~exists(select(literal(1)).where(mine)),
            r.c.collected_at < literal(rule.cut, UtcDateTime),
            r.c.category.not_in(self.consent_exempt) if self.consent_exempt else true(),
        )
        return or_(ended, never)

    def expired(self, r: Any, action: RetentionAction) -> ColumnElement[bool]:
        """Rows whose every purpose has expired and whose action is ``action``, plus, for
        delete, rows a deletion request kept until a day now past."""
        p_text = cast(r.c.purposes, Text)
        branches = [
            and_(p_text == text, self._set_expired(r, rules))
            for text, (a, rules) in self.sets.items()
            if a is action
        ]
        if action is RetentionAction.delete:
            branches.append(
                and_(r.c.restricted_until.is_not(None), r.c.restricted_until < self.now.date())
            )
        if not branches:
            return false()
        return and_(r.c.anonymised.is_(False), or_(*branches))

    def not_held(self, r: Any) -> ColumnElement[bool]:
        conds: list[ColumnElement[bool]] = []
        if len(self.held_subjects) > 1000:
            conds.append(
                ~exists(
                    select(literal(1)).where(
                        subjects.c.id == r.c.subject_id, subjects.c.legal_hold.is_not(None)
                    )
                )
            )
        elif self.held_subjects:
            conds.append(r.c.subject_id.not_in(self.held_subjects))
        if self.tenant_holds:
            held_tenants = select(legal_holds.c.tenant_id).where(
                legal_holds.c.tenant_id.is_not(None), legal_holds.c.lifted_at.is_(None)
            )
            conds.append(or_(r.c.tenant_id.is_(None), r.c.tenant_id.not_in(held_tenants)))
        return and_(true(), *conds)

    def held_counts(self, conn: Connection) -> Counter[str]:
        r = records.alias("r")
        any_expired = or_(*(self.expired(r, a) for a in RetentionAction))
        stmt = (
            select(r.c.category, func.count())
            .where(any_expired, not_(self.not_held(r)))
            .group_by(r.c.category)
        )
        return Counter({cat: n for cat, n in conn.execute(stmt)})

    def _batch_ids(self, action: RetentionAction, after: int, n: int, extra: Any = None) -> Any:
        r = records.alias("r")
        stmt = select(r.c.id).where(r.c.id > after, self.expired(r, action), self.not_held(r))
        if extra is not None:
            stmt = stmt.where(extra(r))
        return stmt.order_by(r.c.id).limit(n)

    # -- the sweeps ----------------------------------------------------------------------

    def remove(
        self,
        action: RetentionAction,
        batch: int,
        report: RetentionReport,
        progress: Progress | None,
    ) -> None:
        """Delete (or crypto-shred: delete, then destroy the data keys of people with no
        encrypted value left) expired rows, one batch per transaction."""
        after = 0
        while True:
            with transaction(self.ctx) as conn:
                ids = self._batch_ids(action, after, batch).scalar_subquery()
                rows = conn.execute(
                    delete(records)
                    .where(records.c.id.in_(ids))
                    .returning(
                        records.c.id,
                        records.c.category,
                        cast(records.c.purposes, Text),
                        records.c.subject_id,
                        records.c.ciphertext.is_not(None),
                    )
                ).all()
                if not rows:
                    return
                shredded = 0
                if action is RetentionAction.crypto_shred:
                    shredded = self._shred(conn, {row[3] for row in rows if row[4]})
                    report.keys_shredded += shredded
                self._account(conn, action.value, rows, report, shredded)
            after = max(row[0] for row in rows)
            if progress is not None:
                progress(len(rows))

    def _shred(self, conn: Connection, candidates: set[str]) -> int:
        if not candidates:
            return 0
        still = set(
            conn.execute(
                select(records.c.subject_id)
                .where(
                    records.c.subject_id.in_(sorted(candidates)), records.c.ciphertext.is_not(None)
                )
                .distinct()
            ).scalars()
        )
        return shred_subject_keys(conn, sorted(candidates - still))

    def anonymise(self, batch: int, report: RetentionReport, progress: Progress | None) -> None:
        """Irreversibly anonymise expired rows: identifying, encrypted and free-text values
        are deleted; dates become months, numbers bands; the collection time becomes its
        month; the rows move to a fresh pseudonymous subject per person and batch, so the
        person can no longer be found from them."""
        action = RetentionAction.anonymise
        keep_cond = self._keepable
        # 1. drop what identifies.
        after = 0
        while True:
            with transaction(self.ctx) as conn:
                ids = self._batch_ids(action, after, batch, lambda r: not_(keep_cond(r)))
                rows = conn.execute(
                    delete(records)
                    .where(records.c.id.in_(ids.scalar_subquery()))
                    .returning(records.c.id, records.c.category, cast(records.c.purposes, Text))
                ).all()
                if not rows:
                    break
                self._account(conn, "anonymise_drop", rows, report, 0, key="anonymise")
            after = max(row[0] for row in rows)
            if progress is not None:
                progress(len(rows))
        # 2. generalise the rest and detach it from the person.
        after = 0
        while True:
            with transaction(self.ctx) as conn:
                ids = self._batch_ids(action, after, batch, keep_cond).scalar_subquery()
                rows = conn.execute(
                    update(records)
                    .where(records.c.id.in_(ids))
                    .values(
                        value=self._generalised(),
                        anonymised=True,
                        collected_at=self._month_start(),
                        supplier=None,
                        updated_at=self.now,
                    )
                    .returning(
                        records.c.id,
                        records.c.category,
                        cast(records.c.purposes, Text),
                        records.c.subject_id,
                    )
                ).all()
                if not rows:
                    break
                self._detach(conn, rows)
                self._account(conn, "anonymise", rows, report, 0)
            after = max(row[0] for row in rows)
            if progress is not None:
                progress(len(rows))

    def _keepable(self, r: Any) -> ColumnElement[bool]:
        keep = [
            and_(r.c.collection_point == cp, r.c.field == f)
            for (cp, f), d in self.dispositions.items()
            if d is not Disposition.drop
        ]
        if not keep:
            return false()
        return and_(
            r.c.ciphertext.is_(None),
            r.c.category.not_in(sorted(IDENTIFYING_CATEGORIES)),
            or_(*keep),
        )

    def _fields(self, d: Disposition) -> ColumnElement[bool]:
        conds = [
            and_(records.c.collection_point == cp, records.c.field == f)
            for (cp, f), disp in self.dispositions.items()
            if disp is d
        ]
        return or_(*conds) if conds else false()

    def _generalised(self) -> Any:
        v = records.c.value
        month = func.substr(v, 1, 8) + literal('"')
        low: Any = self.dialect.band_low(v, NUMBER_BAND)
        numeric: Any = self.dialect.json_numeric(v)
        band = (
            literal('"')
            + cast(low, String)
            + literal("-")
            + cast(low + (NUMBER_BAND - 1), String)
            + literal('"')
        )
        return case(
            (self._fields(Disposition.month), month),
            (and_(self._fields(Disposition.band), numeric), band),
            (self._fields(Disposition.band), null()),
            else_=v,
        )

    def _month_start(self) -> Any:
        return self.dialect.month_start(records.c.collected_at)

    def _detach(self, conn: Connection, rows: Sequence[Any]) -> None:
        """Move anonymised rows to fresh subjects that identify no one (one per person in
        this batch, so rows of one submission still group together)."""
        old = sorted({row[3] for row in rows})
        info = {
            sid: (tenant, juris)
            for sid, tenant, juris in conn.execute(
                select(subjects.c.id, subjects.c.tenant_id, subjects.c.jurisdiction).where(
                    subjects.c.id.in_(old)
                )
            )
        }
        mapping = {sid: new_id() for sid in old}
        conn.execute(
            subjects.insert(),
            [
                {
                    "id": mapping[sid],
                    "tenant_id": info[sid][0],
                    "kind": "anonymous",
                    "jurisdiction": info[sid][1],
                    "status": "anonymous",
                    "created_at": self.now,
                }
                for sid in old
            ],
        )
        ids = sorted(row[0] for row in rows)
        conn.execute(
            update(records)
            .where(
                records.c.subject_id == bindparam("b_old"),
                records.c.anonymised.is_(True),
                records.c.id >= ids[0],
                records.c.id <= ids[-1],
            )
            .values(subject_id=bindparam("b_new")),
            [{"b_old": sid, "b_new": new} for sid, new in mapping.items()],
        )

    def _account(
        self,
        conn: Connection,
        action: str,
        rows: Sequence[Any],
        report: RetentionReport,
        shredded: int,
        key: str | None = None,
    ) -> None:
        cats: Counter[str] = Counter(row[1] for row in rows)
        purposes: Counter[str] = Counter()
        for text, n in Counter(row[2] for row in rows).items():
            for p in _purpose_list(text):
                purposes[p] += n
        for cat, n in cats.items():
            report.done[(key or action, cat)] += n
        report.by_purpose.update(purposes)
        report.batches += 1
        self._audit(conn, action, cats, purposes, shredded)

    def _audit(
        self,
        conn: Connection,
        action: str,
        cats: Counter[str],
        purposes: Counter[str],
        shredded: int = 0,
    ) -> None:
        details: dict[str, Any] = {
            "action": action,
            "rows": cats.total(),
            "categories": dict(sorted(cats.items())),
            "purposes": dict(sorted(purposes.items())),
        }
        if shredded:
            details["keys_shredded"] = shredded
        append_entries(
            conn,
            self.now,
            [
                AuditEntry(
                    "retention",
                    "system:troth",
                    Outcome.allow,
                    categories=tuple(sorted(cats)),
                    details=details,
                )
            ],
        )


def _dispositions(ctx: Context) -> dict[tuple[str, str], Disposition]:
    """How anonymisation treats each (collection point, field) the policy declares."""
    out: dict[tuple[str, str], Disposition] = {}
    idx = ctx.policy
    for cp_id, fields in idx.point_fields.items():
        for fname, spec in fields.items():
            if (
                spec.identifies
                or spec.category in IDENTIFYING_CATEGORIES
                or idx.is_sensitive(spec.category)
                or spec.type in (FieldType.email, FieldType.phone, FieldType.text)
            ):
                d = Disposition.drop
            elif spec.type in (FieldType.date, FieldType.datetime):
                d = Disposition.month
            elif spec.type in (FieldType.integer, FieldType.number):
                d = Disposition.band
            else:
                d = Disposition.keep
            out[(cp_id, fname)] = d
    return out


__all__ = [
    "IDENTIFYING_CATEGORIES",
    "Disposition",
    "RetentionReport",
    "RetentionService",
    "legal_holds",
]
