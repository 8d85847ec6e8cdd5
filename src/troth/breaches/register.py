"""The breach register (P33): incidents, the people they affect (computed from the data
and from the audit log), the legal notification clocks, notices drafted from a template
and sent through the outbox, and an export kept at least 24 months.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, select

from troth.audit.log import transaction
from troth.breaches.affected import STORE_SYSTEM
from troth.breaches.clocks import ClockStatus
from troth.breaches.controllers import controller_steps, notify_controllers, tenant_breaches
from troth.breaches.duties import breach_clocks, leaves_to_controller, told_customers
from troth.breaches.model import (
    CSV_ORDER,
    Breach,
    BreachStatus,
    breach_of,
    checked_ids,
    log_breach,
    recount,
)
from troth.breaches.notify import Notice, queue_notice, render_notice
from troth.breaches.record import BreachReport, record_report
from troth.breaches.regimes import settle_regimes
from troth.breaches.steps import PUBLIC_NOTICE, REGULATOR, StepRecord, record_step, settle_status
from troth.breaches.tables import breach_subjects, breaches
from troth.breaches.tenant_list import tenant_affected
from troth.context import Context
from troth.csvsafe import safe_cell
from troth.errors import Conflict, NotFound, ValidationError
from troth.gate import SYSTEM, Actor
from troth.office import authorize
from troth.policy.model import Power
from troth.store.contact import contact_addresses
from troth.store.tables import subjects

NOT_TOLD_NO_ADDRESS = "not told: no address"
LEFT_TO_CONTROLLER = "left to their controller (the customer)"


def _left_to_controller(conn: Any, ctx: Context, ids: list[str]) -> set[str]:
    """Of ``ids``, the customer's people ``notify`` leaves to the customer (the policy's
    ``breach_notices.tenant_people``)."""
    if not ids or not leaves_to_controller(ctx):
        return set()
    found: set[str] = set()
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        found |= set(
            conn.execute(
                select(subjects.c.id).where(
                    subjects.c.id.in_(chunk), subjects.c.tenant_id.is_not(None)
                )
            ).scalars()
        )
    return found


def _handed_to(conn: Any, ids: list[str], customers: dict[str, Any]) -> list[str]:
    """Of ``ids``, the people of a customer already told of the breach: the customer holds
    the list it was given (and its count), so they stay on it."""
    if not customers:
        return []
    return sorted(
        conn.execute(
            select(subjects.c.id).where(
                subjects.c.id.in_(ids), subjects.c.tenant_id.in_(sorted(customers))
            )
        ).scalars()
    )


@dataclass(eq=False)
class BreachRegister:
    """Record breaches, compute who is affected, track the clocks, tell the people."""

    ctx: Context

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
        :mod:`troth.breaches.affected`), limited to ``tenants`` and ``subject_ids``.
        ``actors`` (a rogue account, ``staff:mo`` or ``staff:mo@moderator``): the people are
        exactly those whose data of the categories they read in the window, per the audit
        log (:mod:`troth.breaches.readers`). An impossible window, an unknown system,
        category, tenant, person or actor is refused and nothing is stored.
        Every method of the register needs the power ``manage_breaches`` (troth.office)."""
        authorize(self.ctx, actor, Power.manage_breaches, details={"operation": "record"})
        report = BreachReport(
            title,
            description,
            discovered_at,
            occurred_from,
            occurred_until,
            categories,
            systems,
            aware_at,
            regimes,
            high_risk,
            actors,
            tenants,
            subject_ids,
        )
        return self.get(record_report(self.ctx, report, actor))

    # -- reading ---------------------------------------------------------------------------
    def get(self, breach_id: str, *, actor: Actor = SYSTEM) -> Breach:
        authorize(self.ctx, actor, Power.manage_breaches, details={"breach": breach_id[:64]})
        with self.ctx.engine.connect() as conn:
            row = conn.execute(select(breaches).where(breaches.c.id == breach_id)).first()
        if row is None:
            raise NotFound(f"no breach {breach_id!r} in the register")
        return breach_of(row)

    def list_breaches(self, *, actor: Actor = SYSTEM) -> list[Breach]:
        authorize(self.ctx, actor, Power.manage_breaches, details={"operation": "list"})
        with self.ctx.engine.connect() as conn:
            rows = conn.execute(select(breaches).order_by(breaches.c.discovered_at)).all()
        return [breach_of(r) for r in rows]

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
        when they were told, or why not yet (``pending``: ``not told: no address`` stays
        until they are told or a public notice is recorded). No personal data beyond the
        id."""
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
            to = contact_addresses(conn, self.ctx, [r.subject_id for r in rows])
            left = _left_to_controller(conn, self.ctx, [r.subject_id for r in rows])
            return [
                {
                    "subject_id": r.subject_id,
                    "tenant_id": r.tenant_id,
                    "source": r.source,
                    "reachable": to[r.subject_id] is not None,
                    "notified_at": r.notified_at.isoformat() if r.notified_at else None,
                    "pending": None
                    if r.notified_at
                    else LEFT_TO_CONTROLLER
                    if r.subject_id in left
                    else NOT_TOLD_NO_ADDRESS
                    if to[r.subject_id] is None
                    else "not told yet",
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
        list, is refused and nothing changes. Who may is decided first: a caller refused
        the breach register learns nothing of the ids it named, well-formed or not."""
        customers = told_customers(self.get(breach_id, actor=actor))
        ids = sorted(set(checked_ids("subject_ids", subject_ids)))
        if not ids:
            raise ValidationError("name the people to take off the list", field="subject_ids")
        if not isinstance(reason, str) or not reason.strip():
            raise ValidationError("say why these people are not affected (reason)", field="reason")
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
            told = sorted(
                {i for i in ids if rows[i] is not None} | set(_handed_to(conn, ids, customers))
            )
            if told:
                raise Conflict(
                    f"already told about breach {breach_id} (or their customer was, with"
                    f" them counted): {', '.join(told)}; they stay on the list"
                )
            conn.execute(delete(bs).where(bs.c.breach_id == breach_id, bs.c.subject_id.in_(ids)))
            count = recount(conn, breach_id)
            settle_regimes(conn, self.ctx, breach_id)
            settle_status(conn, breach_id)
            details = {"breach": breach_id, "subjects": ids, "reason": reason.strip()}
            log_breach(conn, now, "breach.exclude", actor, {**details, "left": count})
        return self.get(breach_id, actor=actor)

    def clocks(
        self, breach_id: str, now: datetime | None = None, *, actor: Actor = SYSTEM
    ) -> list[dict[str, Any]]:
        """Every legal clock running for the breach, where it stands now and who owes it
        (``owed_by``: the organisation, or the customers as controllers of their people;
        :mod:`troth.breaches.duties`)."""
        b = self.get(breach_id, actor=actor)
        return breach_clocks(self.ctx, b, now or self.ctx.clock.now())

    # -- notifying -------------------------------------------------------------------------
    def mark_regulator_notified(
        self,
        breach_id: str,
        at: datetime,
        *,
        late_reason: str | None = None,
        correction: str | None = None,
        actor: Actor = SYSTEM,
    ) -> Breach:
        """Record when the regulator was told, once; later than a clock allows needs the
        reasons (GDPR Art. 33(1)). A second record is refused (409) unless ``correction``
        gives the reason for correcting the first, which stays in the breach's history
        (:mod:`troth.breaches.steps`)."""
        step = StepRecord(REGULATOR, at, correction=correction, late_reason=late_reason)
        return self._record_step(breach_id, step, actor)

    def record_public_notice(
        self,
        breach_id: str,
        at: datetime,
        *,
        how: str | None,
        correction: str | None = None,
        actor: Actor = SYSTEM,
    ) -> Breach:
        """Record that a public notice was given (where and how), once: the indirect notice
        for affected people troth could not tell directly (PIPEDA s.10.1(6) with the
        Breach of Security Safeguards Regulations s.5; GDPR Art. 34(3)(c)). The people then
        count as told; a second record needs ``correction``, as for the regulator."""
        step = StepRecord(PUBLIC_NOTICE, at, correction=correction, how=how)
        return self._record_step(breach_id, step, actor)

    def _record_step(self, breach_id: str, step: StepRecord, actor: Actor) -> Breach:
        """Record a once-only step on the breach the actor may read (read first, so one
        who may not is refused before anything is written), then read it again, settled."""
        record_step(self.ctx, self.get(breach_id, actor=actor), step, actor)
        return self.get(breach_id, actor=actor)

    def notify_preview(
        self,
        breach_id: str,
        *,
        template: str | None = None,
        subject: str | None = None,
        actor: Actor = SYSTEM,
    ) -> dict[str, Any]:
        """What ``notify_individuals`` would do now, without doing it: how many people are
        still to be told, how many of them troth has an address for, how many were told.
        With ``template``, the notice is
        rendered as the real run renders it, so a template that fails, fails here."""
        b = self.get(breach_id, actor=actor)
        if template is not None:
            render_notice(self.ctx, b, template, subject)
        bs = breach_subjects
        with self.ctx.engine.connect() as conn:
            rows = conn.execute(
                select(bs.c.subject_id, bs.c.notified_at).where(bs.c.breach_id == breach_id)
            ).all()
            todo = [r.subject_id for r in rows if r.notified_at is None]
            to = contact_addresses(conn, self.ctx, todo)
            left = _left_to_controller(conn, self.ctx, todo)
            reachable = sum(1 for sid in todo if to[sid] is not None and sid not in left)
            unreachable = sum(1 for sid in todo if to[sid] is None and sid not in left)
        return {
            "to_notify": len(todo) - len(left),
            "reachable": reachable,
            "unreachable": unreachable,
            "already_notified": len(rows) - len(todo),
            "left_to_controller": len(left),
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
        return render_notice(self.ctx, self.get(breach_id, actor=actor), template, subject)

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
        ``controller`` (who decides about each person's data: the organisation, or the
        customer it holds them for), ``breach``, ``contact``, ``dpo``) and queue it to
        every affected person not yet told that troth has an address for (the others
        stay on the list, not told), through
        the outbox, ``batch_size`` people per transaction (each batch: the addresses read
        together, the notices queued, the people marked told, one audit entry), with
        ``progress(done, total)`` after each. Returns the number queued; a rerun, or a run
        after one killed half-way, queues only what is left."""
        if batch_size < 1 or batch_size > 10_000:
            raise ValidationError("batch_size must be 1 to 10000", code="invalid_batch")
        b = self.get(breach_id, actor=actor)
        render_notice(self.ctx, b, template, subject)  # a template that fails, fails first
        return queue_notice(self.ctx, Notice(b, template, subject, actor), batch_size, progress)

    # -- the customers (controllers of their people) ---------------------------------------
    def controllers(
        self, breach_id: str, now: datetime | None = None, *, actor: Actor = SYSTEM
    ) -> list[dict[str, Any]]:
        """Each tenant with people affected: how many, its clocks, when it was told
        (:mod:`troth.breaches.controllers`)."""
        b = self.get(breach_id, actor=actor)
        return controller_steps(self.ctx, b, now or self.ctx.clock.now())

    def notify_controllers(
        self, breach_id: str, *, measures: str, actor: Actor = SYSTEM
    ) -> dict[str, Any]:
        """Tell each affected tenant not yet told (its primary e-mail address) of the
        breach: its own people's count, what is being done (``measures``), who to contact.
        Once per tenant; audited under each tenant."""
        return notify_controllers(self.ctx, self.get(breach_id, actor=actor), measures, actor)

    def for_tenant(self, *, actor: Actor, breach_id: str | None = None) -> list[dict[str, Any]]:
        """The breaches affecting the actor's own tenant's people, with its counts only:
        for a tenant-bound key (scope ``breaches`` or ``admin``) or a tenant admin."""
        return tenant_breaches(self.ctx, actor, breach_id)

    def for_tenant_people(
        self, breach_id: str, *, actor: Actor, limit: int = 50, offset: int = 0
    ) -> dict[str, Any]:
        """The actor's own tenant's people on a breach it was told of, each with the contact
        details the gate lets the actor read (:mod:`troth.breaches.tenant_list`); audited."""
        return tenant_affected(self.ctx, actor, breach_id, limit=limit, offset=offset)

    # -- the register ----------------------------------------------------------------------
    def export(self, fmt: str = "json", *, actor: Actor = SYSTEM) -> str:
        """The whole register as JSON or CSV."""
        items = [b.to_dict() for b in self.list_breaches(actor=actor)]
        if fmt == "json":
            return json.dumps(items, indent=2, ensure_ascii=False)
        if fmt == "csv":
            buf = io.StringIO()
            w = csv.DictWriter(buf, fieldnames=list(CSV_ORDER))
            w.writeheader()
            for item in items:
                w.writerow(
                    {
                        k: safe_cell(
                            ";".join(v)
                            if isinstance(v, list) and all(isinstance(x, str) for x in v)
                            else json.dumps(v, sort_keys=True)
                            if isinstance(v, dict | list)
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
            log_breach(conn, now, "breach.delete", actor, {"breach": breach_id})


__all__ = [
    "STORE_SYSTEM",
    "Breach",
    "BreachRegister",
    "BreachStatus",
    "ClockStatus",
]
