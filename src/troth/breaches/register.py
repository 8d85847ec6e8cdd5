"""The breach register (P33): incidents, the people they affect (computed from the data
and from the audit log), the legal notification clocks, notices drafted from a template
and sent through the outbox, and an export kept at least 24 months.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Date,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    and_,
    delete,
    func,
    insert,
    select,
    update,
)

from troth.audit.entry import AuditEntry, Outcome
from troth.audit.log import append_entries, transaction
from troth.breaches.affected import (
    STORE_SYSTEM,
    Scope,
    check_scope,
    check_systems,
    compute_affected,
    dataset_holders,
    known_categories,
)
from troth.breaches.clocks import (
    Audience,
    ClockStatus,
    clock_status,
    notification_clocks,
    register_keep_until,
)
from troth.context import Context
from troth.csvsafe import safe_cell
from troth.db import JsonType, UtcDateTime, metadata
from troth.errors import Conflict, NotFound, ValidationError
from troth.gate import SYSTEM, Actor
from troth.office import authorize
from troth.operations.idempotency import _fault
from troth.policy.model import Power, Regime
from troth.store.ids import new_id
from troth.store.tables import subjects

breaches = Table(
    "breaches",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("title", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("discovered_at", UtcDateTime, nullable=False),
    Column("aware_at", UtcDateTime, nullable=False),
    Column("occurred_from", UtcDateTime, nullable=False),
    Column("occurred_until", UtcDateTime, nullable=False),
    Column("systems", JsonType, nullable=False),
    Column("categories", JsonType, nullable=False),
    Column("regimes", JsonType, nullable=False),
    Column("high_risk", Boolean, nullable=False),
    Column("status", String(30), nullable=False),
    Column("affected_count", Integer, nullable=False),
    Column("regulator_notified_at", UtcDateTime),
    Column("individuals_notified_at", UtcDateTime),
    Column("late_reason", Text),
    Column("recorded_at", UtcDateTime, nullable=False),
    Column("recorded_by", String(255), nullable=False),
    # Register entries may not be deleted before this day (24 months, PIPEDA regs s.6).
    Column("keep_until", Date, nullable=False),
    # The officer's limits (tenants, people, actors) and what the computation found
    # (people per source, unmatched identities per connected dataset); see affected.py.
    Column("scope", JsonType),
)

breach_subjects = Table(
    "breach_subjects",
    metadata,
    Column("breach_id", String(32), ForeignKey("breaches.id"), primary_key=True),
    Column("subject_id", String(32), primary_key=True),
    Column("source", String(10), nullable=False),  # affected.Source
    Column("notified_at", UtcDateTime),
)


_ID = re.compile(r"[0-9a-f]{32}")
# The register's CSV columns, in the order of Breach.to_dict.
_CSV_ORDER = [
    "id",
    "title",
    "description",
    "discovered_at",
    "aware_at",
    "occurred_from",
    "occurred_until",
    "systems",
    "categories",
    "regimes",
    "high_risk",
    "status",
    "affected_count",
    "regulator_notified_at",
    "individuals_notified_at",
    "late_reason",
    "recorded_at",
    "keep_until",
    "scope",
    "affected_by_source",
    "unmatched_in_datasets",
]


class BreachStatus(StrEnum):
    open = "open"
    regulator_notified = "regulator_notified"
    individuals_notified = "individuals_notified"


@dataclass(frozen=True)
class Breach:
    id: str
    title: str
    description: str
    discovered_at: datetime
    aware_at: datetime
    occurred_from: datetime
    occurred_until: datetime
    systems: tuple[str, ...]
    categories: tuple[str, ...]
    regimes: tuple[str, ...]
    high_risk: bool
    status: BreachStatus
    affected_count: int
    regulator_notified_at: datetime | None
    individuals_notified_at: datetime | None
    late_reason: str | None
    recorded_at: datetime
    keep_until: date
    scope: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        def iso(v: Any) -> Any:
            return v.isoformat() if isinstance(v, datetime | date) else v

        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "discovered_at": iso(self.discovered_at),
            "aware_at": iso(self.aware_at),
            "occurred_from": iso(self.occurred_from),
            "occurred_until": iso(self.occurred_until),
            "systems": list(self.systems),
            "categories": list(self.categories),
            "regimes": list(self.regimes),
            "high_risk": self.high_risk,
            "status": self.status.value,
            "affected_count": self.affected_count,
            "regulator_notified_at": iso(self.regulator_notified_at),
            "individuals_notified_at": iso(self.individuals_notified_at),
            "late_reason": self.late_reason,
            "recorded_at": iso(self.recorded_at),
            "keep_until": iso(self.keep_until),
            "scope": {k: self.scope.get(k, []) for k in ("tenants", "subjects", "actors")},
            "affected_by_source": self.scope.get("by_source", {}),
            "unmatched_in_datasets": self.scope.get("unmatched", {}),
        }


def _aware(name: str, value: Any) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValidationError(f"{name} must be a timezone-aware date and time", field=name)
    return value


def _ids(name: str, values: Iterable[str]) -> list[str]:
    """Ids as given; a malformed one is refused (what an id looks like)."""
    out = []
    for v in values:
        if not isinstance(v, str) or not _ID.fullmatch(v):
            raise ValidationError(
                f"{v!r} is not an id (32 lowercase hexadecimal characters)", field=name
            )
        out.append(v)
    return out


def _recount(conn: Connection, breach_id: str) -> int:
    count = int(
        conn.execute(
            select(func.count())
            .select_from(breach_subjects)
            .where(breach_subjects.c.breach_id == breach_id)
        ).scalar_one()
    )
    conn.execute(update(breaches).where(breaches.c.id == breach_id).values(affected_count=count))
    return count


def _row(row: Any) -> Breach:
    return Breach(
        row.id,
        row.title,
        row.description,
        row.discovered_at,
        row.aware_at,
        row.occurred_from,
        row.occurred_until,
        tuple(row.systems),
        tuple(row.categories),
        tuple(row.regimes),
        bool(row.high_risk),
        BreachStatus(row.status),
        int(row.affected_count),
        row.regulator_notified_at,
        row.individuals_notified_at,
        row.late_reason,
        row.recorded_at,
        row.keep_until,
        dict(row.scope or {}),
    )


class BreachRegister:
    """Record breaches, compute who is affected, track the clocks, tell the people."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def record_breach(
        self,
        *,
        title: str,
        description: str,
        discovered_at: datetime,
        occurred_from: datetime,
        occurred_until: datetime,
        categories: Iterable[str],
        systems: Iterable[str] = (STORE_SYSTEM,),
        aware_at: datetime | None = None,
        regimes: Iterable[str] | None = None,
        high_risk: bool = False,
        actors: Iterable[str] | None = None,
        tenants: Iterable[str] = (),
        subject_ids: Iterable[str] = (),
        actor: Actor = SYSTEM,
    ) -> Breach:
        """Record an incident and compute the people it affects (see
        :mod:`troth.breaches.affected`), limited to ``tenants``, ``subject_ids`` and, for
        what the audit log shows was read, ``actors`` when given. An impossible window,
        an unknown system, category, tenant or person is refused and nothing is stored.
        Every method of the register needs the power ``manage_breaches`` (troth.office)."""
        ctx = self.ctx
        authorize(ctx, actor, Power.manage_breaches, details={"operation": "record"})
        now = ctx.clock.now()
        if not isinstance(title, str) or not title.strip():
            raise ValidationError("a breach needs a title", field="title")
        if not isinstance(description, str) or not description.strip():
            raise ValidationError("describe what happened (description)", field="description")
        discovered_at = _aware("discovered_at", discovered_at)
        occurred_from = _aware("occurred_from", occurred_from)
        occurred_until = _aware("occurred_until", occurred_until)
        aware = _aware("aware_at", aware_at) if aware_at is not None else discovered_at
        if occurred_until < occurred_from:
            raise ValidationError(
                f"impossible time window: it ends ({occurred_until.isoformat()}) before it"
                f" starts ({occurred_from.isoformat()})",
                field="occurred_until",
            )
        if discovered_at < occurred_from:
            raise ValidationError(
                f"impossible time window: discovered ({discovered_at.isoformat()}) before the"
                f" breach began ({occurred_from.isoformat()})",
                field="discovered_at",
            )
        if discovered_at > now or occurred_from > now:
            raise ValidationError("a breach cannot be discovered or begin in the future")
        if aware < discovered_at:
            raise ValidationError("aware_at cannot be before discovered_at", field="aware_at")
        cats = sorted(set(categories))
        if not cats:
            raise ValidationError("name the categories of data involved", field="categories")
        known_cats = known_categories(ctx)
        unknown = [c for c in cats if c not in known_cats]
        if unknown:
            raise ValidationError(
                f"unknown categor{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)}"
                f" (the policy and the connected datasets have: {', '.join(sorted(known_cats))})",
                field="categories",
            )
        syst = check_systems(ctx, systems)
        scope = Scope(
            tuple(sorted(set(_ids("tenants", tenants)))),
            tuple(sorted(set(_ids("subject_ids", subject_ids)))),
            tuple(sorted(set(actors or ()))),
        )
        regs = (
            list(regimes)
            if regimes is not None
            else [r.value for r in ctx.policy.policy.organisation.jurisdictions]
        )
        for r in regs:
            try:
                Regime(r)
            except ValueError:
                raise ValidationError(
                    f"unknown regime {r!r}: use one of {', '.join(x.value for x in Regime)}",
                    field="regimes",
                ) from None
        # Connected datasets are read before troth's transaction opens (other databases).
        holders = dataset_holders(ctx, syst, cats)
        bid = new_id()
        with transaction(ctx) as conn:
            check_scope(conn, ctx, scope)
            conn.execute(
                insert(breaches).values(
                    id=bid,
                    title=title.strip()[:200],
                    description=description.strip(),
                    discovered_at=discovered_at,
                    aware_at=aware,
                    occurred_from=occurred_from,
                    occurred_until=occurred_until,
                    systems=syst,
                    categories=cats,
                    regimes=sorted(set(regs)),
                    high_risk=bool(high_risk),
                    status=BreachStatus.open.value,
                    affected_count=0,
                    recorded_at=now,
                    recorded_by=actor.label,
                    keep_until=register_keep_until(aware.date()),
                    scope=scope.to_dict(),
                )
            )
            found = compute_affected(
                conn, ctx, bid, cats, syst, occurred_from, occurred_until, scope, holders
            )
            count = _recount(conn, bid)
            conn.execute(
                update(breaches)
                .where(breaches.c.id == bid)
                .values(
                    scope={
                        **scope.to_dict(),
                        "by_source": found.by_source,
                        "unmatched": found.unmatched,
                    }
                )
            )
            append_entries(
                conn,
                now,
                [
                    AuditEntry(
                        "breach.record",
                        actor.label,
                        Outcome.info,
                        categories=tuple(cats),
                        details={
                            "breach": bid,
                            "affected": count,
                            "systems": syst,
                            "by_source": found.by_source,
                            "unmatched": found.unmatched,
                            "scoped": bool(scope.tenants or scope.subjects or scope.actors),
                        },
                    )
                ],
            )
        return self.get(bid)

    # -- reading ---------------------------------------------------------------------------
    def get(self, breach_id: str, *, actor: Actor = SYSTEM) -> Breach:
        authorize(self.ctx, actor, Power.manage_breaches, details={"breach": breach_id[:64]})
        with self.ctx.engine.connect() as conn:
            row = conn.execute(select(breaches).where(breaches.c.id == breach_id)).first()
        if row is None:
            raise NotFound(f"no breach {breach_id!r} in the register")
        return _row(row)

    def list_breaches(self, *, actor: Actor = SYSTEM) -> list[Breach]:
        authorize(self.ctx, actor, Power.manage_breaches, details={"operation": "list"})
        with self.ctx.engine.connect() as conn:
            rows = conn.execute(select(breaches).order_by(breaches.c.discovered_at)).all()
        return [_row(r) for r in rows]

    def affected_subjects(self, breach_id: str, *, actor: Actor = SYSTEM) -> list[str]:
        """The people the breach affects (ids), as computed when it was recorded."""
        self.get(breach_id, actor=actor)
        with self.ctx.engine.connect() as conn:
            return list(
                conn.execute(
                    select(breach_subjects.c.subject_id)
                    .where(breach_subjects.c.breach_id == breach_id)
                    .order_by(breach_subjects.c.subject_id)
                ).scalars()
            )

    def affected_people(
        self,
        breach_id: str,
        *,
        limit: int | None = None,
        offset: int = 0,
        actor: Actor = SYSTEM,
    ) -> list[dict[str, Any]]:
        """The affected list for the officer's review before notifying: each person's id,
        tenant, why they are on it, whether troth has an address to tell them at, and
        when they were told. No personal data beyond the id."""
        from troth.disclosures.demands import _address

        self.get(breach_id, actor=actor)
        bs = breach_subjects
        q = (
            select(bs.c.subject_id, bs.c.source, bs.c.notified_at, subjects.c.tenant_id)
            .join(subjects, subjects.c.id == bs.c.subject_id, isouter=True)
            .where(bs.c.breach_id == breach_id)
            .order_by(bs.c.subject_id)
            .offset(max(0, offset))
        )
        if limit is not None:
            q = q.limit(max(0, limit))
        with self.ctx.engine.connect() as conn:
            rows = conn.execute(q).all()
            return [
                {
                    "subject_id": r.subject_id,
                    "tenant_id": r.tenant_id,
                    "source": r.source,
                    "reachable": _address(conn, self.ctx, r.subject_id) is not None,
                    "notified_at": r.notified_at.isoformat() if r.notified_at else None,
                }
                for r in rows
            ]

    def exclude_people(
        self,
        breach_id: str,
        subject_ids: Iterable[str],
        *,
        reason: str,
        actor: Actor = SYSTEM,
    ) -> Breach:
        """Take people off the affected list after review (e.g. their data was encrypted in
        the breached copy), with the reason, audited. Someone already told, or not on the
        list, is refused and nothing changes."""
        ids = sorted(set(_ids("subject_ids", subject_ids)))
        if not ids:
            raise ValidationError("name the people to take off the list", field="subject_ids")
        if not isinstance(reason, str) or not reason.strip():
            raise ValidationError("say why these people are not affected (reason)", field="reason")
        self.get(breach_id, actor=actor)
        bs = breach_subjects
        now = self.ctx.clock.now()
        with transaction(self.ctx) as conn:
            rows = {
                r.subject_id: r.notified_at
                for r in conn.execute(
                    select(bs.c.subject_id, bs.c.notified_at).where(
                        bs.c.breach_id == breach_id, bs.c.subject_id.in_(ids)
                    )
                )
            }
            missing = [i for i in ids if i not in rows]
            if missing:
                raise ValidationError(
                    f"not on the affected list of breach {breach_id}: {', '.join(missing)}",
                    field="subject_ids",
                )
            told = [i for i in ids if rows[i] is not None]
            if told:
                raise Conflict(
                    f"already told about breach {breach_id}: {', '.join(told)};"
                    " they stay on the list"
                )
            conn.execute(delete(bs).where(bs.c.breach_id == breach_id, bs.c.subject_id.in_(ids)))
            count = _recount(conn, breach_id)
            append_entries(
                conn,
                now,
                [
                    # Not filed under each person: the privacy centre must not show a
                    # breach before the person is told.
                    AuditEntry(
                        "breach.exclude",
                        actor.label,
                        Outcome.info,
                        details={
                            "breach": breach_id,
                            "subjects": ids,
                            "reason": reason.strip(),
                            "left": count,
                        },
                    )
                ],
            )
        return self.get(breach_id, actor=actor)

    def clocks(
        self, breach_id: str, now: datetime | None = None, *, actor: Actor = SYSTEM
    ) -> list[dict[str, Any]]:
        """Every legal clock running for the breach and where it stands now."""
        b = self.get(breach_id, actor=actor)
        now = now or self.ctx.clock.now()
        out = []
        for c in notification_clocks(
            b.regimes,
            b.aware_at,
            b.affected_count,
            b.high_risk,
            individuals_notified_at=b.individuals_notified_at,
        ):
            done = {
                Audience.regulator: b.regulator_notified_at,
                Audience.individuals: b.individuals_notified_at,
            }.get(c.audience)
            out.append(
                {
                    "regime": c.regime.value,
                    "audience": c.audience.value,
                    "starts_at": c.starts_at.isoformat(),
                    "due_at": c.due_at.isoformat() if c.due_at else None,
                    "deadline": c.text,
                    "basis": c.basis,
                    "status": clock_status(c, now, done).value,
                    "late_reasons_required": c.late_reasons_required,
                }
            )
        return out

    # -- notifying -------------------------------------------------------------------------
    def mark_regulator_notified(
        self,
        breach_id: str,
        at: datetime,
        *,
        late_reason: str | None = None,
        actor: Actor = SYSTEM,
    ) -> Breach:
        """Record when the regulator was told; later than a clock allows needs the reasons
        (GDPR Art. 33(1))."""
        b = self.get(breach_id, actor=actor)
        at = _aware("at", at)
        now = self.ctx.clock.now()
        if at < b.aware_at or at > now:
            raise ValidationError(
                "the regulator cannot have been told before the breach was known or in the future"
            )
        late = [
            c
            for c in notification_clocks(b.regimes, b.aware_at, b.affected_count, b.high_risk)
            if c.audience is Audience.regulator and c.due_at is not None and at > c.due_at
        ]
        if late and not (late_reason and late_reason.strip()):
            first = late[0]
            raise ValidationError(
                f"the regulator was told after the {first.basis} deadline"
                f" ({first.due_at.isoformat() if first.due_at else ''}): give the reasons for the"
                " delay (late_reason)",
                field="late_reason",
            )
        with transaction(self.ctx) as conn:
            conn.execute(
                update(breaches)
                .where(breaches.c.id == breach_id)
                .values(
                    regulator_notified_at=at,
                    late_reason=late_reason.strip() if late_reason else None,
                    status=BreachStatus.regulator_notified.value
                    if b.status is BreachStatus.open
                    else b.status.value,
                )
            )
            append_entries(
                conn,
                now,
                [
                    AuditEntry(
                        "breach.regulator_notified",
                        actor.label,
                        Outcome.info,
                        details={"breach": breach_id, "at": at.isoformat(), "late": bool(late)},
                    )
                ],
            )
        return self.get(breach_id)

    def notify_preview(self, breach_id: str, *, actor: Actor = SYSTEM) -> dict[str, int]:
        """What ``notify_individuals`` would do now, without doing it: how many people are
        still to be told, how many of them troth has an address for, how many were told."""
        from troth.disclosures.demands import _address

        self.get(breach_id, actor=actor)
        bs = breach_subjects
        with self.ctx.engine.connect() as conn:
            rows = conn.execute(
                select(bs.c.subject_id, bs.c.notified_at).where(bs.c.breach_id == breach_id)
            ).all()
            todo = [r.subject_id for r in rows if r.notified_at is None]
            reachable = sum(1 for sid in todo if _address(conn, self.ctx, sid) is not None)
        return {
            "to_notify": len(todo),
            "reachable": reachable,
            "unreachable": len(todo) - reachable,
            "already_notified": len(rows) - len(todo),
        }

    def render_notice(
        self,
        breach_id: str,
        template: str,
        *,
        subject: str | None = None,
        actor: Actor = SYSTEM,
    ) -> tuple[str, str]:
        """The notice :meth:`notify_individuals` would send (its subject and text),
        rendered and not sent: the officer reads it first."""
        return self._render_notice(self.get(breach_id, actor=actor), template, subject)

    def _render_notice(self, b: Breach, template: str, subject: str | None) -> tuple[str, str]:
        org = self.ctx.policy.policy.organisation
        env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
        try:
            body = env.from_string(template).render(
                organisation=org.name,
                contact=org.contact.email or "",
                breach={k: v for k, v in b.to_dict().items() if k != "late_reason"},
            )
        except TemplateError as exc:
            raise ValidationError(f"the notice template does not render: {exc}") from exc
        return subject or f"{org.name}: a security incident affecting your data", body

    def notify_individuals(
        self,
        breach_id: str,
        template: str,
        *,
        subject: str | None = None,
        actor: Actor = SYSTEM,
        batch_size: int = 1_000,
        progress: Callable[[int, int], None] | None = None,
    ) -> int:
        """Render the notice from a Jinja2 ``template`` (variables: ``organisation``,
        ``breach``, ``contact``) and queue it to every affected person not yet told, through
        the outbox, ``batch_size`` people per transaction (each batch: the addresses read
        together, the notices queued, the people marked told, one audit entry), with
        ``progress(done, total)`` after each. Returns the number queued; a rerun, or a run
        after one killed half-way, queues only what is left."""
        from troth.notices.outbox import MailKind, enqueue

        if batch_size < 1 or batch_size > 10_000:
            raise ValidationError("batch_size must be 1 to 10000", code="invalid_batch")
        b = self.get(breach_id, actor=actor)
        title, body = self._render_notice(b, template, subject)
        bs = breach_subjects.c
        waiting = (bs.breach_id == breach_id, bs.notified_at.is_(None))
        with self.ctx.engine.connect() as conn:
            total = int(conn.execute(select(func.count()).where(*waiting)).scalar_one())
        sent = done = 0
        first = True
        while True:
            now = self.ctx.clock.now()
            with transaction(self.ctx) as conn:
                todo = list(
                    conn.execute(
                        select(bs.subject_id)
                        .where(*waiting)
                        .order_by(bs.subject_id)
                        .limit(batch_size)
                    ).scalars()
                )
                if not todo and not first:
                    break
                first = False
                to = _addresses(conn, self.ctx, todo)
                queued = 0
                for sid in todo:
                    if to.get(sid) is None:
                        continue
                    enqueue(
                        conn,
                        self.ctx,
                        idempotency_key=f"breach:{breach_id}:{sid}",
                        to_addr=to[sid] or "",
                        subject=title,
                        body_text=body,
                        subject_id=sid,
                        kind=MailKind.notice,
                        actor=actor.label,
                    )
                    queued += 1
                if todo:
                    conn.execute(
                        update(breach_subjects)
                        .where(*waiting, bs.subject_id.in_(todo))
                        .values(notified_at=now)
                    )
                    conn.execute(
                        update(breaches)
                        .where(breaches.c.id == breach_id)
                        .values(
                            individuals_notified_at=func.coalesce(
                                breaches.c.individuals_notified_at, now
                            ),
                            status=BreachStatus.individuals_notified.value,
                        )
                    )
                append_entries(
                    conn,
                    now,
                    [
                        AuditEntry(
                            "breach.individuals_notified",
                            actor.label,
                            Outcome.info,
                            details={
                                "breach": breach_id,
                                "queued": queued,
                                "undeliverable": len(todo) - queued,
                            },
                        )
                    ],
                )
            _fault("breach.notified")
            sent += queued
            done += len(todo)
            if progress is not None:
                progress(done, total)
            if len(todo) < batch_size:
                break
        return sent

    # -- the register ----------------------------------------------------------------------
    def export(self, fmt: str = "json", *, actor: Actor = SYSTEM) -> str:
        """The whole register as JSON or CSV."""
        items = [b.to_dict() for b in self.list_breaches(actor=actor)]
        if fmt == "json":
            return json.dumps(items, indent=2, ensure_ascii=False)
        if fmt == "csv":
            buf = io.StringIO()
            w = csv.DictWriter(buf, fieldnames=list(_CSV_ORDER))
            w.writeheader()
            for item in items:
                w.writerow(
                    {
                        k: safe_cell(
                            ";".join(v)
                            if isinstance(v, list)
                            else json.dumps(v, sort_keys=True)
                            if isinstance(v, dict)
                            else v
                        )
                        for k, v in item.items()
                    }
                )
            return buf.getvalue()
        raise ValidationError(f"unknown export format {fmt!r}: use json or csv")

    def delete_breach(self, breach_id: str, *, actor: Actor = SYSTEM) -> None:
        """Remove an entry from the register: refused before its 24 months are over."""
        b = self.get(breach_id, actor=actor)
        now = self.ctx.clock.now()
        if now.date() < b.keep_until:
            raise Conflict(
                f"breach {breach_id} must stay in the register until {b.keep_until.isoformat()}"
                " (24 months, PIPEDA Breach of Security Safeguards Regulations s.6)"
            )
        with transaction(self.ctx) as conn:
            conn.execute(delete(breach_subjects).where(breach_subjects.c.breach_id == breach_id))
            conn.execute(delete(breaches).where(and_(breaches.c.id == breach_id)))
            append_entries(
                conn,
                now,
                [
                    AuditEntry(
                        "breach.delete", actor.label, Outcome.info, details={"breach": breach_id}
                    )
                ],
            )


__all__ = [
    "STORE_SYSTEM",
    "Breach",
    "BreachRegister",
    "BreachStatus",
    "ClockStatus",
    "breach_subjects",
    "breaches",
]


def _addresses(conn: Connection, ctx: Context, subject_ids: list[str]) -> dict[str, str | None]:
    """Each person's e-mail address (as ``troth.disclosures.demands._address`` finds it:
    the last value of a field their collection point marks as an e-mail), read together."""
    from troth.store.values import read_subjects

    idx = ctx.policy
    out: dict[str, str | None] = dict.fromkeys(subject_ids)
    for sid, (_subj, values) in read_subjects(conn, ctx, subject_ids, idx.email_fields()).items():
        for v in values:
            if (address := idx.email_in(v.collection_point, v.field, v.value)) is not None:
                out[sid] = address
    return out
