"""Legal holds: a person or a whole tenant put under hold keeps everything of theirs from
retention until the hold is lifted (power ``manage_holds``)."""

from __future__ import annotations

from sqlalchemy import select, update

from troth.audit.entry import AuditEntry, Outcome
from troth.audit.log import append_entries, transaction
from troth.context import Context
from troth.errors import NotFound, ValidationError
from troth.gate import SYSTEM, Actor
from troth.office import authorize
from troth.policy.model import Power
from troth.retention.tables import legal_holds
from troth.store import new_id
from troth.store.tables import subjects


class Holds:
    """Placing and lifting legal holds (:class:`troth.retention.service.RetentionService`
    calls it)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def place(
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

    def lift(self, hold_id: str, *, actor: Actor = SYSTEM) -> None:
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
