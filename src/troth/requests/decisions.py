"""What staff decide on an open request: extend its deadline, refuse it, say what to
correct or limit, and lift the restrictions it placed."""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select

from troth.audit.log import transaction
from troth.errors import Conflict, ValidationError
from troth.gate import SYSTEM, Actor
from troth.requests import execution
from troth.requests.changes import check_changes
from troth.requests.deadlines import extended_due
from troth.requests.opt_out import NOT_REQUIRED, dates_for, is_opt_out, opt_out_of
from troth.requests.record import RequestRecord
from troth.requests.states import (
    OPEN_STATES,
    UNVERIFIED_STATES,
    RequestState,
    check_transition,
)
from troth.requests.steps import RequestSteps
from troth.requests.verification import Verification
from troth.store.tables import restrictions


class Decisions:
    """``extend``, ``refuse``, ``set_details``, ``lift_restriction``."""

    def __init__(self, steps: RequestSteps) -> None:
        self.steps = steps
        self.ctx = steps.ctx

    def extend(
        self,
        request_id: str,
        reason: str,
        *,
        extend_by: int | None = None,
        actor: Actor = SYSTEM,
    ) -> RequestRecord:
        """Extend the deadline inside the regime's window (REGULATIONS.md), with the
        reason recorded and told to the person. Only a request being handled may be
        extended: one whose person's identity is not verified yet is refused
        (Conflict ``not_verified``; :mod:`troth.requests.states`)."""
        if not reason or not reason.strip():
            raise ValidationError(
                "an extension needs a reason the person is told", code="reason_required"
            )
        self.steps.desk(request_id, actor, "extend")
        with transaction(self.ctx) as conn:
            req = self.steps.load(conn, request_id)
            if req.extended_due_at is not None:
                raise Conflict(
                    f"request {request_id} was already extended to {req.extended_due_at}",
                    code="already_extended",
                )
            if req.state in UNVERIFIED_STATES:
                raise Conflict(
                    f"request {request_id} is {req.state}: the person's identity is not"
                    " verified yet, so the request is not being handled and its deadline"
                    " cannot be extended; verify it first (a code, or staff with a reason),"
                    " then extend it inside the first period if it needs more time",
                    code="not_verified",
                    state=req.state.value,
                )
            rule = opt_out_of(self.ctx, req.kind, req.regime, req.details)
            if rule is not None and not rule.extension_allowed:
                raise ValidationError(
                    f"request {request_id} is an opt-out of sale/sharing: it is honoured"
                    f" within {rule.honour_within_business_days} business days, with no"
                    f" extension ({rule.basis}); carry it out",
                    code="extension_not_allowed",
                )
            check_transition(req.id, req.state, RequestState.extended)
            new_due = extended_due(
                req.regime,
                req.received_on,
                self.steps.today(req.regime),
                extend_by=extend_by,
            )
            self.steps.write(
                conn, request_id, extended_due_at=new_due, extension_reason=reason[:2000]
            )
            self.steps.move(
                conn, req, RequestState.extended, actor, "extended", reason=reason[:500]
            )
            self.steps.tell(conn, req, "extended", reason=reason, due=new_due)
            return self.steps.load(conn, request_id)

    def refuse(self, request_id: str, *, reason: str, actor: Actor = SYSTEM) -> RequestRecord:
        """Refuse a request with a reason the person is told (e.g. manifestly unfounded)."""
        if not reason.strip():
            raise ValidationError(
                "a refusal needs a reason the person is told", code="reason_required"
            )
        self.steps.desk(request_id, actor, "refuse")
        now = self.ctx.clock.now()
        with transaction(self.ctx) as conn:
            req = self.steps.load(conn, request_id)
            check_transition(req.id, req.state, RequestState.refused)
            self.steps.write(conn, request_id, closed_at=now, result={"refused": reason[:2000]})
            self.steps.move(conn, req, RequestState.refused, actor, "refused", reason=reason[:500])
            self.steps.tell(conn, req, "refused", reason=reason)
            return self.steps.load(conn, request_id)

    def set_details(
        self,
        request_id: str,
        *,
        changes: Mapping[str, Any] | None = None,
        purposes: Iterable[str] | None = None,
        actor: Actor = SYSTEM,
    ) -> RequestRecord:
        """Say what to correct (``changes``) or which purposes to limit (``purposes``) when
        the request did not (an e-mail rarely does). Purposes that make it an opt-out of
        sale/sharing give it that deadline and verify it (:mod:`.opt_out`)."""
        with transaction(self.ctx) as conn:
            req = self.steps.load(conn, request_id)
            if req.state not in OPEN_STATES:
                raise Conflict(f"request {request_id} is {req.state}", code="request_closed")
            details = dict(req.details)
            if changes is not None:
                details["changes"] = check_changes(self.ctx, changes)
            if purposes is not None:
                details["purposes"] = execution.check_purposes(self.ctx, list(purposes))
            self.steps.write(conn, request_id, details=details, **self._opt_out_dates(req, details))
            rule = opt_out_of(self.ctx, req.kind, req.regime, details)
            if req.verified_at is None and rule is not None and not rule.verification_required:
                # Now an opt-out of sale/sharing: it needs no verification (.opt_out).
                Verification(self.steps).not_required(conn, req, rule.basis)
            self.steps.event(
                conn, request_id, actor.label, "details", None, None, {"keys": sorted(details)}
            )
            return self.steps.load(conn, request_id)

    def _opt_out_dates(self, req: RequestRecord, details: dict[str, Any]) -> dict[str, Any]:
        """The deadlines a change of purposes gives: an objection or restriction becoming an
        opt-out of sale/sharing takes its shorter deadline from the day received (and one
        carried out without verification may not stop being one: ValidationError)."""
        was = is_opt_out(self.ctx, req)
        ack, due, rule = dates_for(self.ctx, req.kind, req.regime, details, req.received_on)
        if was == (rule is not None):
            return {}
        if was and req.verification == NOT_REQUIRED:
            raise ValidationError(
                f"request {req.id} is an opt-out of sale/sharing carried out without identity"
                " verification: its purposes must still include a sale/sharing one; open a"
                " new request for the others",
                code="opt_out_purposes_required",
            )
        if req.extended_due_at is not None or req.state not in OPEN_STATES:
            return {}
        return {"acknowledge_by": ack, "due_at": min(due, req.due_at) if rule else due}

    def lift_restriction(
        self, request_id: str, purposes: Iterable[str] | None = None, *, actor: Actor = SYSTEM
    ) -> builtins.list[str]:
        """Lift the restrictions a request placed (all, or the named purposes): the gate
        allows those uses again. Returns the purposes lifted."""
        req = self.steps.get(request_id)
        if req.subject_id is None:
            return []
        r = restrictions.c
        with transaction(self.ctx) as conn:
            stmt = select(r.purpose).where(r.subject_id == req.subject_id, r.request_id == req.id)
            if purposes is not None:
                stmt = stmt.where(r.purpose.in_(list(purposes)))
            gone = sorted(conn.execute(stmt).scalars())
            if gone:
                conn.execute(
                    restrictions.delete().where(
                        r.subject_id == req.subject_id, r.request_id == req.id, r.purpose.in_(gone)
                    )
                )
            self.steps.event(conn, req.id, actor.label, "lifted", None, None, {"purposes": gone})
            self.steps.audit(conn, req, actor, "request.restriction_lifted", purposes=gone)
        return gone
