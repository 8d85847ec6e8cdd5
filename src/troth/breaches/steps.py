"""The once-only steps of a breach (P33): the regulator told, a public notice given.

The register is the evidence a regulator asks for (GDPR Art. 33(5)), so a step is recorded
once, attributed to who recorded it. A second record is refused (409, audited) unless it is
an explicit correction carrying its reason: the correction keeps the earlier record in the
breach's ``history`` (time, late reason, who), is audited with the old and new values, and
lateness is judged again from the corrected time; a late reason that still applies is never
dropped. :func:`settle_status` derives the breach's status, and when the people count as
told, from what is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, update

from troth.audit.log import transaction
from troth.audit.refusals import reject_input
from troth.breaches.clocks import Audience, notification_clocks
from troth.breaches.duties import CONTROLLER_STEP, own_regimes
from troth.breaches.model import Breach, BreachStatus, aware, log_breach
from troth.breaches.tables import breach_subjects, breaches
from troth.context import Context
from troth.errors import Conflict, ValidationError
from troth.gate import Actor
from troth.store.tables import subjects

REGULATOR = "regulator_notified"
PUBLIC_NOTICE = "public_notice"
# Indirect notice, for people troth cannot reach: what the law allows instead.
INDIRECT_BASIS = (
    "PIPEDA s.10.1(6) with the Breach of Security Safeguards Regulations s.5; GDPR Art. 34(3)(c)"
)
_WHAT = {REGULATOR: "the time the regulator was told", PUBLIC_NOTICE: "a public notice"}
_WHEN = {
    REGULATOR: "the regulator cannot have been told",
    PUBLIC_NOTICE: "a public notice cannot have been given",
}
_CLI = {REGULATOR: "regulator", PUBLIC_NOTICE: "public-notice"}


@dataclass(frozen=True)
class StepRecord:
    """One record of a once-only step, as the officer gives it."""

    step: str
    at: datetime
    correction: str | None = None
    """The reason for correcting an earlier record; None for a first record."""
    late_reason: str | None = None
    how: str | None = None
    """For a public notice: where and how it was given."""


def _text(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _check(ctx: Context, b: Breach, rec: StepRecord, actor: Actor) -> dict[str, Any] | None:
    """The earlier record this one corrects (None for a first record). A time outside
    the breach's life is refused; a second record without a correction is refused 409
    (audited); a correction of nothing, or one without its reason, is refused."""
    at = aware("at", rec.at)
    if at < b.aware_at or at > ctx.clock.now():
        raise ValidationError(
            f"{_WHEN[rec.step]} before the breach was known ({b.aware_at.isoformat()}) or in"
            f" the future ({at.isoformat()})",
            field="at",
        )
    if rec.correction is not None and not _text(rec.correction):
        raise ValidationError("say why the earlier record is corrected", field="correction")
    earlier = b.last_step(rec.step)
    if earlier is None and rec.step == REGULATOR and b.regulator_notified_at is not None:
        # Recorded before the history was kept: the row is the earlier record.
        earlier = {"at": b.regulator_notified_at.isoformat(), "late_reason": b.late_reason}
    if earlier is not None and rec.correction is None:
        by = f" by {earlier['by']}" if earlier.get("by") else ""
        reject_input(
            ctx,
            f"breach.{rec.step}",
            actor,
            Conflict(
                f"breach {b.id}: {_WHAT[rec.step]} is already recorded ({earlier['at']}"
                f"{by}) and is recorded once. To correct it, give the reason:"
                f" `troth breaches {_CLI[rec.step]} {b.id} --at ... --correct REASON`"
                " (API: the field correction)",
                code="already_recorded",
            ),
            details={"breach": b.id, "step": rec.step},
        )
    if earlier is None and rec.correction is not None:
        raise ValidationError(
            f"breach {b.id}: nothing to correct, {_WHAT[rec.step]} is not recorded yet;"
            " record it without a correction",
            field="correction",
        )
    return earlier


def _late_reason(
    ctx: Context, b: Breach, at: datetime, given: str | None, correcting: bool
) -> str | None:
    """The reasons for a late notice to the regulator: those given, or, for a correction
    that is still late, the ones recorded before. Late without reasons is refused. Only
    the organisation's own regulator clocks count: a customer's people's regulator is the
    customer's to tell when it is their controller (:mod:`troth.breaches.duties`)."""
    late = [
        c
        for c in notification_clocks(own_regimes(ctx, b), b.aware_at, b.affected_count, b.high_risk)
        if c.audience is Audience.regulator and c.due_at is not None and at > c.due_at
    ]
    reason = _text(given)
    if late and reason is None and correcting:
        reason = b.late_reason
    if late and reason is None:
        first = late[0]
        raise ValidationError(
            f"the regulator was told after the {first.basis} deadline"
            f" ({first.due_at.isoformat() if first.due_at else ''}): give the reasons for the"
            " delay (late_reason)",
            field="late_reason",
        )
    return reason


def record_step(ctx: Context, b: Breach, rec: StepRecord, actor: Actor) -> None:
    """Record (or correct, with its reason) the regulator told or a public notice given,
    in the breach's history and the audit log, then settle the breach's status."""
    earlier = _check(ctx, b, rec, actor)
    at = aware("at", rec.at)
    now = ctx.clock.now()
    entry: dict[str, Any] = {
        "step": rec.step,
        "at": at.isoformat(),
        "recorded_at": now.isoformat(),
        "by": actor.label,
    }
    values: dict[str, Any] = {}
    if rec.step == REGULATOR:
        reason = _late_reason(ctx, b, at, rec.late_reason, earlier is not None)
        entry["late_reason"] = reason
        values = {"regulator_notified_at": at, "late_reason": reason}
    else:
        how = _text(rec.how) or (earlier or {}).get("how")
        if how is None:
            raise ValidationError(
                "say where and how the public notice was given (how)", field="how"
            )
        entry["how"] = how
    if earlier is not None:
        entry["correction"] = _text(rec.correction)
        entry["replaces"] = {k: v for k, v in earlier.items() if k != "replaces"}
    t = breaches.c
    with transaction(ctx) as conn:
        # Recorded once: nothing is written if someone recorded (or corrected) it meanwhile.
        row = conn.execute(
            select(t.history, t.regulator_notified_at).where(t.id == b.id).with_for_update()
        ).one()
        if list(row.history or []) != list(b.history) or (
            rec.step == REGULATOR and row.regulator_notified_at != b.regulator_notified_at
        ):
            raise Conflict(f"breach {b.id} changed meanwhile: read it again and retry")
        conn.execute(
            update(breaches).where(t.id == b.id).values(history=[*b.history, entry], **values)
        )
        details = {
            "breach": b.id,
            "at": at.isoformat(),
            **({"late": entry["late_reason"] is not None} if rec.step == REGULATOR else {}),
        }
        if earlier is not None:
            details |= {"was": earlier["at"], "correction": entry["correction"]}
        action = f"breach.{rec.step}" + (".corrected" if earlier is not None else "")
        log_breach(conn, now, action, actor, details)
        settle_status(conn, b.id)


def _handed_over(
    conn: Connection, breach_id: str, history: list[dict[str, Any]], counts: tuple[Any, Any, Any]
) -> tuple[int, int, datetime | None]:
    """The people counts with a customer's people not told directly counted as handled
    once the customer was told and the policy leaves them to it (``hands_over``,
    troth.breaches.controllers): then as told when the customer was."""
    told, pending, last = int(counts[0]), int(counts[1]), counts[2]
    handed = {
        h["tenant"]: datetime.fromisoformat(h["at"])
        for h in history
        if h.get("step") == CONTROLLER_STEP and h.get("hands_over")
    }
    if not handed:
        return told, pending, last
    bs = breach_subjects.c
    rows = conn.execute(
        select(subjects.c.tenant_id, func.count())
        .select_from(breach_subjects.join(subjects, subjects.c.id == bs.subject_id))
        .where(
            bs.breach_id == breach_id,
            bs.notified_at.is_(None),
            subjects.c.tenant_id.in_(sorted(handed)),
        )
        .group_by(subjects.c.tenant_id)
    ).all()
    n = sum(int(c) for _, c in rows)
    if not n:
        return told, pending, last
    latest = max(handed[t] for t, _ in rows)
    return told + n, pending - n, max(x for x in (last, latest) if x is not None)


def settle_status(conn: Connection, breach_id: str) -> None:
    """Derive the breach's status and ``individuals_notified_at`` from what is recorded.

    The people count as told when everyone on the list was told directly, or when a public
    notice covers those who were not (then at the later of the notice and the last direct
    notice it does not cover); a customer's people left to the customer count as told when
    the customer was told (:func:`_handed_over`). Until then the status is
    ``individuals_partly_notified`` (some told) and the individuals' clock keeps running."""
    bs = breach_subjects.c
    told, pending, last = conn.execute(
        select(
            func.count(bs.notified_at),
            func.count() - func.count(bs.notified_at),
            func.max(bs.notified_at),
        ).where(bs.breach_id == breach_id)
    ).one()
    row = conn.execute(
        select(breaches.c.regulator_notified_at, breaches.c.history).where(
            breaches.c.id == breach_id
        )
    ).one()
    told, pending, last = _handed_over(conn, breach_id, row.history or [], (told, pending, last))
    public = [h for h in (row.history or []) if h.get("step") == PUBLIC_NOTICE]
    public_at = datetime.fromisoformat(public[-1]["at"]) if public else None
    done: datetime | None = None
    if public_at is not None:
        done = public_at if pending or not told or last is None else min(last, public_at)
    elif told and not pending:
        done = last
    if done is not None:
        status = BreachStatus.individuals_notified
    elif told:
        status = BreachStatus.individuals_partly_notified
    elif row.regulator_notified_at is not None:
        status = BreachStatus.regulator_notified
    else:
        status = BreachStatus.open
    conn.execute(
        update(breaches)
        .where(breaches.c.id == breach_id)
        .values(status=status.value, individuals_notified_at=done)
    )


__all__ = ["INDIRECT_BASIS", "PUBLIC_NOTICE", "REGULATOR", "StepRecord", "record_step"]
