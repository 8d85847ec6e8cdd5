"""The end of the relationship with a person, and its resumption (P28, P30).

A purpose kept ``after: relationship_end`` runs its clock from ``subjects.
relationship_ended_at``. A person's own account closure sets it (a ``close_account``
request); here the organisation records it: a candidate rejected, an employee who left,
a customer whose contract ended.

    t.subjects.end_relationship(sid, at="2026-01-31", reason="rejected", actor=recruiter)
    t.subjects.resume_relationship(sid, reason="re-hired", actor=recruiter)

Who may is the gate's (:func:`troth.gate.decide_record`, record ``relationship``, a
change): the person's tenant's admins and members, an API key with ``collect`` (or
``admin``; bound to a tenant: its people only), the privacy office (power
``manage_requests``: it answers account closures), other staff and vendor admins only
under the customer's grant where the policy requires one. Another tenant's person, or an
unknown id, is answered as unknown (404); an erased person is refused
``subject_erased``; the person themself closes their account instead (a request). Every
attempt is audited (``change_relationship``), and every change (``relationship.end``,
``relationship.resume``, with when and why, never a value of the person).

Ending twice keeps the first end (``changed`` is False) unless ``correct`` asks to
replace it, which only troth itself, the privacy office, the customer's admins or an
``admin`` key may (:func:`correction_refusal`): moving an end moves every retention
clock that runs from it. An end is never before the day troth first knew the person, nor
after now (:func:`troth.subjects.times.end_time`). Collecting about the person again does
not resume the relationship: a value arriving after the end (a late reference, a final
payslip) is no sign that the person came back; :meth:`SubjectService.resume_relationship`
says so.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select

from troth.audit.entry import AuditEntry, Outcome
from troth.audit.log import append_entries, transaction
from troth.audit.refusals import refuse, reject_input
from troth.clock import utc
from troth.context import Context
from troth.errors import NotFound, Refused, TrothError
from troth.gate import SYSTEM, Actor, ActorKind, Reason, Record
from troth.policy.index import PolicyIndex
from troth.policy.model import Power
from troth.store.subject_seals import update_subjects
from troth.store.subjects import SubjectRow, get_subject, lookup_subject
from troth.store.tables import records, subjects
from troth.subjects.times import end_time

REASON_CHARS = 200


@dataclass(frozen=True, slots=True)
class RelationshipChange:
    """The relationship with one person after a call: when it ended (None: it runs),
    whether this call changed it, and what it was before."""

    subject_id: str
    ended_at: datetime | None
    changed: bool
    previous: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject_id": self.subject_id,
            "ended_at": _iso(self.ended_at),
            "changed": self.changed,
            "previous_ended_at": _iso(self.previous),
        }


@dataclass(frozen=True, slots=True)
class BulkOutcome:
    """One person of :meth:`SubjectService.end_relationships`: ``ended``, ``corrected``,
    ``already_ended``, ``not_found``, ``refused`` (with the reason code) or ``invalid``."""

    subject_id: str
    outcome: str
    ended_at: datetime | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject_id": self.subject_id,
            "outcome": self.outcome,
            "ended_at": _iso(self.ended_at),
            "reason": self.reason,
        }


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def _why(reason: str | None) -> str | None:
    """The reason as recorded: one line, at most 200 characters (None when blank)."""
    text = " ".join((reason or "").split())[:REASON_CHARS]
    return text or None


def correction_refusal(index: PolicyIndex, actor: Actor) -> tuple[Reason, str] | None:
    """Why ``actor`` may not replace an end already recorded (None: it may). Ending is
    the collecting application's; moving a recorded end, which moves every
    ``after: relationship_end`` clock, takes more: troth itself, the privacy office
    (power ``manage_requests``), the customer's own admins, or an ``admin`` API key."""
    kind = actor.kind
    if kind in (ActorKind.system, ActorKind.tenant_admin):
        return None
    if kind is ActorKind.application:
        if "admin" in actor.scopes:
            return None
        return Reason.scope_missing, _CORRECTORS + ": this API key has no admin scope"
    if kind is ActorKind.staff:
        role = index.roles.get(actor.role or "")
        if role is not None and Power.manage_requests in role.powers:
            return None
        return Reason.power_not_granted, _CORRECTORS + ": this role has no manage_requests"
    return Reason.role_not_allowed, _CORRECTORS


_CORRECTORS = (
    "an end already recorded is corrected only by the privacy office, the customer's"
    " admins or an API key with the admin scope"
)


class SubjectService:
    """``t.subjects``: a person's life cycle in troth beside their values."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # -- the gate ------------------------------------------------------------------------
    def _allowed(self, actor: Actor, subject_id: str, action: str) -> SubjectRow:
        """Decide and audit (404 for whom the actor may not know, 403 with the gate's
        reason, ``subject_erased`` for an erased person); the person when allowed."""
        if actor.kind is ActorKind.subject:
            refuse(
                self.ctx,
                f"change_{Record.relationship.value}",
                actor,
                Reason.role_not_allowed,
                "a person ends their relationship by closing their account (a close_account"
                " request), not here",
                subject_id=subject_id[:64] if actor.id == subject_id else None,
                details={"operation": action},
            )
        from troth.access.records import Records

        Records(self.ctx).authorize_record(
            actor, subject_id, Record.relationship, write=True, living=True
        )
        return lookup_subject(self.ctx, subject_id)

    # -- one person ----------------------------------------------------------------------
    def end_relationship(
        self,
        subject_id: str,
        *,
        at: datetime | date | str | None = None,
        reason: str | None = None,
        actor: Actor = SYSTEM,
        correct: bool = False,
    ) -> RelationshipChange:
        """Record that the relationship with the person ended ``at`` (default now; a date
        or a time without offset is read in the organisation's zone for the person's
        regime, ``time_zones[regime]`` else ``time_zone``; never in the
        future). Already ended: the first end stays (``changed`` False) unless
        ``correct``, which replaces it. Retention's ``after: relationship_end`` clocks
        run from it."""
        why = _why(reason)
        person = self._allowed(actor, subject_id, "end")
        zone = self.ctx.policy.policy.organisation.zone(person.jurisdiction or None)
        try:
            since = self._known_since(person)
            when = end_time(at, now=self.ctx.clock.now(), zone=zone, known_since=since)
        except TrothError as exc:
            reject_input(
                self.ctx,
                "relationship.end",
                actor,
                exc,
                details={"subject": subject_id, "field": "at"},
            )
        return self._write(actor, subject_id, when, why, correct=correct)

    def _known_since(self, person: SubjectRow) -> datetime:
        """When troth first knew the person: their row's creation or their first value,
        whichever is earlier (an import may carry values older than the row)."""
        first = select(func.min(records.c.collected_at)).where(records.c.subject_id == person.id)
        with self.ctx.engine.connect() as conn:
            oldest = conn.execute(first).scalar()
        since = utc(person.created_at)
        return since if oldest is None else min(since, utc(oldest))

    def resume_relationship(
        self, subject_id: str, *, reason: str | None = None, actor: Actor = SYSTEM
    ) -> RelationshipChange:
        """The person came back (re-hired, a new contract): the relationship runs again
        and the ``after: relationship_end`` clocks stop until it next ends. Not ended:
        nothing changes (``changed`` False)."""
        why = _why(reason)
        self._allowed(actor, subject_id, "resume")
        return self._write(actor, subject_id, None, why)

    def _write(
        self,
        actor: Actor,
        subject_id: str,
        when: datetime | None,
        why: str | None,
        *,
        correct: bool = False,
    ) -> RelationshipChange:
        """Set (``when``) or clear (None) the end in one transaction with its audit
        entry; the row is read again there, so an erasure in between is refused."""
        now = self.ctx.clock.now()
        action = "relationship.end" if when is not None else "relationship.resume"
        barred: tuple[Reason, str] | None = None
        with transaction(self.ctx) as conn:
            person = get_subject(conn, subject_id, self.ctx.keys)
            previous = person.relationship_ended_at
            ended = previous is not None
            if when is not None and ended and correct:
                # Decided here, on the row read in this transaction: an end recorded since
                # the gate's look is replaced only by whom may correct one.
                barred = correction_refusal(self.ctx.policy, actor)
            if person.erased_at is None and barred is None:
                # Unchanged: an end asked again (not a correction), or a resume of one running.
                keep = (ended and not correct) if when is not None else not ended
                details: dict[str, Any] = {"reason": why, "previous_ended_at": _iso(previous)}
                if keep:
                    details["unchanged"] = True
                else:
                    if when is not None and ended:
                        details["corrected"] = True
                    status = "closed" if when is not None else "active"
                    who = subjects.c.id == subject_id
                    update_subjects(
                        conn, self.ctx.keys, who, relationship_ended_at=when, status=status
                    )
                    details["ended_at"] = _iso(when)
                entry = AuditEntry(
                    action,
                    actor.label,
                    Outcome.info,
                    subject_id=subject_id,
                    tenant_id=person.tenant_id,
                    details=details,
                )
                append_entries(conn, now, [entry])
                stands = previous if keep else when
                return RelationshipChange(subject_id, stands, not keep, previous)
        if barred is not None and person.erased_at is None:
            refuse(
                self.ctx,
                action,
                actor,
                barred[0],
                barred[1],
                subject_id=subject_id,
                tenant_id=person.tenant_id,
                details={
                    "operation": "correct",
                    "previous_ended_at": _iso(previous),
                    "asked_ended_at": _iso(when),
                },
            )
        refuse(
            self.ctx,
            action,
            actor,
            Reason.subject_erased,
            "this person was erased: nothing is kept",
            subject_id=subject_id,
            tenant_id=person.tenant_id,
        )

    # -- many people ---------------------------------------------------------------------
    def end_relationships(
        self,
        subject_ids: Iterable[str],
        *,
        at: datetime | date | str | None = None,
        reason: str | None = None,
        actor: Actor = SYSTEM,
        correct: bool = False,
    ) -> list[BulkOutcome]:
        """:meth:`end_relationship` for each of ``subject_ids`` (each decided and audited
        on its own; duplicates once): one outcome per person, in order. A person refused
        or unknown does not stop the others."""
        if at is not None:  # a bad time is the same for everyone: said once, before anyone
            try:
                end_time(
                    at, now=self.ctx.clock.now(), zone=self.ctx.policy.policy.organisation.zone()
                )
            except TrothError as exc:
                reject_input(self.ctx, "relationship.end", actor, exc, details={"field": "at"})
        out: list[BulkOutcome] = []
        seen: set[str] = set()
        for raw in subject_ids:
            sid = raw.strip()
            if not sid or sid in seen:
                continue
            seen.add(sid)
            try:
                r = self.end_relationship(sid, at=at, reason=reason, actor=actor, correct=correct)
            except NotFound:
                out.append(BulkOutcome(sid, "not_found"))
                continue
            except Refused as exc:
                out.append(BulkOutcome(sid, "refused", reason=exc.reason))
                continue
            except TrothError as exc:
                out.append(BulkOutcome(sid, "invalid", reason=exc.code))
                continue
            if not r.changed:
                outcome = "already_ended"
            else:
                outcome = "corrected" if r.previous is not None else "ended"
            out.append(BulkOutcome(sid, outcome, r.ended_at))
        return out


__all__ = ["BulkOutcome", "RelationshipChange", "SubjectService"]
