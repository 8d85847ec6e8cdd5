"""Erasures a legal hold prevented outside a deletion request (P04, P25; GDPR Art. 17(3)(e)):
a tenant's offboarding (:mod:`troth.requests.offboard`) or a minor's erasure
(:mod:`troth.collection.minors`) that meets a person under a legal hold, on them or on
their tenant, erases nothing of theirs, in troth or in a connected dataset. It is recorded
instead (:data:`troth.retention.tables.held_erasures`), as a deletion request waits
``awaiting_hold`` (:mod:`troth.requests.deferral`):

- :func:`defer_erasure` records it, once per person and origin, in the caller's transaction,
  and restricts the person's data meanwhile (every purpose not resting on a legal
  obligation: only what the law compels may still reach it), audited
  ``erasure.deferred``;
- :func:`resume_erasures` carries out those whose person is no longer held, everywhere
  (connected datasets, then troth, as the origin would have), after the requests
  ``lift_hold`` and the worker's ``run_due`` resume; one whose connected database is down
  keeps its error and is tried again at the next run.

A hold's id and reason never reach these records, their audit entries or the reports: a
hold may be gagged, and the tenant and the person read them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select, update

from troth.audit.entry import AuditEntry, Outcome
from troth.audit.log import append_entries, transaction
from troth.errors import TrothError
from troth.requests.deferral import holds_on, restrictable
from troth.retention.tables import held_erasures
from troth.store.ids import new_id
from troth.store.tables import subjects

if TYPE_CHECKING:
    from troth.context import Context
    from troth.requests.bulk import BulkReport
    from troth.requests.erasure import Erasure

OFFBOARDING = "offboarding"
MINOR = "minor"


@dataclass(frozen=True)
class HeldErasure:
    """One erasure waiting for a legal hold to end."""

    id: str
    subject_id: str
    tenant_id: str | None
    origin: str
    job_id: str
    details: dict[str, Any]


def defer_erasure(
    conn: Connection,
    ctx: Context,
    subject_id: str,
    *,
    origin: str,
    job_id: str,
    actor: str,
    details: Mapping[str, Any] | None = None,
) -> str:
    """Record that erasing ``subject_id`` (for ``origin``) waits for a legal hold to end,
    and restrict their data meanwhile; returns the record's id (the one already waiting,
    if any: deferring again records nothing new)."""
    from troth.requests.execution import restrict_in_store

    now = ctx.clock.now()
    h = held_erasures.c
    found = conn.execute(
        select(h.id).where(h.subject_id == subject_id, h.origin == origin, h.done_at.is_(None))
    ).scalar()
    if found is not None:
        rid = str(found)
    else:
        rid = new_id()
        tenant = conn.execute(
            select(subjects.c.tenant_id).where(subjects.c.id == subject_id)
        ).scalar()
        conn.execute(
            held_erasures.insert().values(
                id=rid,
                subject_id=subject_id,
                tenant_id=tenant,
                origin=origin,
                job_id=job_id,
                details=dict(details or {}),
                deferred_at=now,
                deferred_by=actor[:255],
            )
        )
        entry = AuditEntry(
            "erasure.deferred",
            actor,
            Outcome.info,
            subject_id=subject_id,
            tenant_id=tenant,
            reason="legal_hold",
            details={"origin": origin, "erasure": rid, "job": job_id},
        )
        append_entries(conn, now, [entry])
    restrict_in_store(conn, ctx, subject_id, restrictable(ctx), rid, now)
    return rid


def waiting(ctx: Context, *, ready_only: bool = True) -> list[HeldErasure]:
    """The erasures still waiting, oldest first; ``ready_only``: those whose person no
    legal hold holds any more (to be carried out now)."""
    h = held_erasures.c
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            select(held_erasures).where(h.done_at.is_(None)).order_by(h.deferred_at, h.id)
        ).mappings()
        found = [
            HeldErasure(
                str(r["id"]),
                str(r["subject_id"]),
                r["tenant_id"],
                str(r["origin"]),
                str(r["job_id"]),
                dict(r["details"] or {}),
            )
            for r in rows
        ]
        held = holds_on(conn, [w.subject_id for w in found]) if ready_only else {}
    return [w for w in found if w.subject_id not in held]


def resume_erasures(
    ctx: Context, report: BulkReport, environ: Mapping[str, str] | None = None
) -> None:
    """Carry out every erasure whose legal hold ended (see the module), adding each to
    ``report``: ``completed``, or ``failed`` with why (tried again at the next run)."""
    from troth.requests.connected import shared_connector

    ready = waiting(ctx)
    if not ready:
        return
    connector = shared_connector(ctx, environ)
    for w in ready:
        try:
            _carry_out(ctx, w, connector)
        except TrothError as exc:
            with transaction(ctx) as conn:
                conn.execute(
                    update(held_erasures)
                    .where(held_erasures.c.id == w.id)
                    .values(error=exc.message[:500])
                )
            report.failed[w.id] = exc.message
            continue
        report.completed.append(w.id)


def _carry_out(ctx: Context, w: HeldErasure, connector: Any) -> None:
    """One waiting erasure, as its origin does it; done in troth's transaction."""
    from troth.requests.erasure import erase_person

    if w.origin == MINOR:
        from troth.collection.minors import Minors

        evidence = str(w.details.get("evidence") or "reported a minor")
        Minors(ctx).report(w.subject_id, evidence=evidence, waited=w.id, connector=connector)
        return

    def finish(conn: Connection, erasure: Erasure) -> None:
        entry = AuditEntry(
            "tenant.offboard.erase",
            "system:troth",
            Outcome.info,
            subject_id=w.subject_id,
            tenant_id=w.tenant_id,
            details={
                "job": w.job_id,
                "after_legal_hold": True,
                **{k: erasure.total(k) for k in ("found", "deleted", "masked", "kept")},
            },
        )
        append_entries(conn, ctx.clock.now(), [entry])
        mark_done(conn, ctx, w.id)

    erase_person(ctx, w.subject_id, job_id=w.job_id, finish=finish, connector=connector)


def mark_done(conn: Connection, ctx: Context, erasure_id: str) -> None:
    """The waiting erasure ``erasure_id`` is done (in the erasure's transaction); what it
    kept to be done (a minor's evidence) is forgotten with it."""
    conn.execute(
        update(held_erasures)
        .where(held_erasures.c.id == erasure_id)
        .values(done_at=ctx.clock.now(), error=None, details=None)
    )


__all__ = ["MINOR", "OFFBOARDING", "defer_erasure", "mark_done", "resume_erasures", "waiting"]
