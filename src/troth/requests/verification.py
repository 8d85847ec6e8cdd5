"""Verifying the identity of the person a request is from: a one-time code by e-mail
(constant-time check, expiring, locked after wrong attempts), staff with a reason, or the
privacy centre's sign-in."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Connection, select

from troth.access.seals import write_sealed
from troth.audit.entry import Outcome
from troth.audit.log import transaction
from troth.errors import (
    AuthenticationError,
    Conflict,
    PermissionDenied,
    RateLimited,
    ValidationError,
)
from troth.gate import SYSTEM, Actor, ActorKind
from troth.requests import _contact
from troth.requests.record import RequestRecord
from troth.requests.states import RequestState, check_transition
from troth.requests.steps import RequestSteps
from troth.requests.tables import requests

if TYPE_CHECKING:
    from troth.context import Context

CODE_MINUTES = 15
MAX_CODE_ATTEMPTS = 5
MAX_CODES = 5


class Verification:
    """``send_code``, ``verify``, ``verify_by_staff``, ``verify_by_signin``; the intake
    sends the first code (:meth:`send`)."""

    def __init__(self, steps: RequestSteps) -> None:
        self.steps = steps
        self.ctx = steps.ctx

    def send_code(self, request_id: str) -> None:
        """Send a new one-time code to the request's address (the old one stops working)."""
        with transaction(self.ctx) as conn:
            req = self.steps.load(conn, request_id)
            if req.state is not RequestState.identity_unverified and not (
                req.state is RequestState.extended and req.verified_at is None
            ):
                raise Conflict(
                    f"request {request_id} is {req.state}: no code is needed",
                    code="no_code_needed",
                )
            self.send(conn, req)

    def verify(self, request_id: str, code: str) -> RequestRecord:
        """Check the one-time code (constant time). Wrong: AuthenticationError with the
        attempts left; expired: AuthenticationError ``code_expired``; after 5 wrong
        attempts the request is locked (RateLimited): staff must verify it."""
        now = self.ctx.clock.now()
        failure: Exception | None = None
        with transaction(self.ctx) as conn:
            req = self.steps.load(conn, request_id)
            self._check_unverified(req)
            if req.on_behalf:
                raise PermissionDenied(
                    f"request {request_id} was made on someone else's behalf: only staff may"
                    " verify it (troth requests verify ID --staff NAME --reason ...)",
                    code="staff_verification_required",
                )
            if req.code_attempts >= MAX_CODE_ATTEMPTS:
                raise RateLimited(
                    f"request {request_id} is locked after {MAX_CODE_ATTEMPTS} wrong codes:"
                    " staff must verify the person's identity",
                    code="verification_locked",
                )
            check = check_code(self.ctx, conn, request_id, code, now)
            if check == "none":
                raise Conflict(f"no code was sent for request {request_id}", code="no_code")
            if check == "expired":
                failure = AuthenticationError(
                    f"the code for request {request_id} has expired: ask for a new one",
                    code="code_expired",
                )
            elif check == "wrong":
                attempts = req.code_attempts + 1
                self.steps.write(conn, request_id, code_attempts=attempts, updated_at=now)
                left = MAX_CODE_ATTEMPTS - attempts
                self.steps.event(
                    conn, request_id, "system", "code_wrong", None, None, {"left": left}
                )
                if left <= 0:
                    self.steps.write(conn, request_id, code_hash=None)
                    self.steps.audit(conn, req, SYSTEM, "request.locked", outcome=Outcome.deny)
                    failure = RateLimited(
                        f"wrong code; request {request_id} is now locked: staff must verify",
                        code="verification_locked",
                    )
                else:
                    failure = AuthenticationError(
                        f"wrong code for request {request_id}; {left} attempt(s) left",
                        code="wrong_code",
                        attempts_left=left,
                    )
            else:
                self._verified(conn, req, now, f"subject:{req.subject_id or 'requester'}", "code")
        if failure is not None:
            raise failure
        return self.steps.get(request_id)

    def verify_by_staff(
        self, request_id: str, *, staff: str, reason: str, actor: Actor | None = None
    ) -> RequestRecord:
        """Verify identity (and, for a request on someone's behalf, the authority to act)
        by a member of staff, with the reason recorded. ``actor``: who asks, where an edge
        authenticated them (the request desk decides, :meth:`RequestSteps.desk`). A key
        bound to a customer is no member of staff: where the customer is the controller
        its attestation is recorded as its own (``application:<key>``, method
        ``customer``); where the organisation is, it is refused
        (:mod:`troth.requests.customer_desk`)."""
        from troth.gate.members import customer_side

        if not staff.strip() or not reason.strip():
            raise ValidationError(
                "staff verification needs who verified (staff) and how (reason)",
                code="reason_required",
            )
        if actor is not None:
            self.steps.desk(request_id, actor, "verify_by_staff")
        customer = actor is not None and customer_side(actor)
        now = self.ctx.clock.now()
        with transaction(self.ctx) as conn:
            req = self.steps.load(conn, request_id)
            self._check_unverified(req)
            who = actor.label if customer and actor is not None else f"staff:{staff}"
            # On someone's behalf: what staff checked is the agent and their authority to
            # act (the event and the audit entry say so, with the reason).
            checked: dict[str, str] = {"checked": "agent_authority"} if req.on_behalf else {}
            if req.adult_since is not None:  # a parent's authority ended: recorded as seen
                checked["adult_since"] = req.adult_since.isoformat()
            how = "customer" if customer else "staff"
            by = who if customer else staff
            self._verified(
                conn, req, now, who, how, by=by, reason=reason[:1000], by_actor=actor, **checked
            )
        return self.steps.get(request_id)

    def verify_by_signin(self, request_id: str, subject_id: str) -> RequestRecord:
        """Verify a request opened by a person signed in to the privacy centre: they proved
        control of their address with the sign-in code, so no second code is asked.
        Only for a request of that same person, not made on someone else's behalf."""
        now = self.ctx.clock.now()
        with transaction(self.ctx) as conn:
            req = self.steps.load(conn, request_id)
            if req.subject_id is None or req.subject_id != subject_id or req.on_behalf:
                raise PermissionDenied(
                    f"request {request_id} is not this signed-in person's own request:"
                    " staff must verify it",
                    code="staff_verification_required",
                )
            self._check_unverified(req)
            who = f"subject:{subject_id}"
            self._verified(conn, req, now, who, "signin", method="privacy_centre_signin")
        return self.steps.get(request_id)

    def not_required(self, conn: Connection, req: RequestRecord, basis: str) -> None:
        """Mark a request that needs no identity verification verified as it opens (an
        opt-out of sale/sharing: :mod:`troth.requests.opt_out`), the rule recorded."""
        from troth.requests.opt_out import NOT_REQUIRED

        self._check_unverified(req)
        self._verified(conn, req, self.ctx.clock.now(), "system", NOT_REQUIRED, rule=basis)

    def send(self, conn: Connection, req: RequestRecord) -> None:
        """Mail a new one-time code (the old one stops working), within the limits."""
        if req.email is None:
            raise ValidationError(
                f"request {req.id} has no e-mail address to send a code to: staff must verify",
                code="no_address",
            )
        if req.code_attempts >= MAX_CODE_ATTEMPTS:
            raise RateLimited(
                f"request {req.id} is locked after {MAX_CODE_ATTEMPTS} wrong codes: staff must"
                " verify it",
                code="verification_locked",
            )
        if req.codes_sent >= MAX_CODES:
            raise RateLimited(
                f"{MAX_CODES} codes were already sent for request {req.id}: staff must verify",
                code="too_many_codes",
            )
        code = issue_code(self.ctx, conn, req)
        self.steps.event(conn, req.id, "system", "code_sent", None, None, {"n": req.codes_sent + 1})
        self.steps.tell(
            conn, req, "code", key=f"code:{req.codes_sent + 1}", code=code, minutes=CODE_MINUTES
        )

    def _check_unverified(self, req: RequestRecord) -> None:
        if req.verified_at is not None:
            raise Conflict(f"request {req.id} is already verified", code="already_verified")
        if req.state not in (
            RequestState.identity_unverified,
            RequestState.awaiting_approval,
            RequestState.received,
            RequestState.extended,
        ):
            check_transition(req.id, req.state, RequestState.verified)

    def _verified(
        self,
        conn: Connection,
        req: RequestRecord,
        now: datetime,
        who: str,
        how: str,
        *,
        by: str | None = None,
        by_actor: Actor | None = None,
        **details: Any,
    ) -> None:
        """Mark the request verified ``how`` (code, staff, customer, signin; ``by``: the
        member of staff, or the customer's key), its code spent, and move it on (an
        extended one stays extended). ``by_actor``: who verified, where not staff."""
        values: dict[str, Any] = {"code_hash": None, "verified_at": now, "verification": how}
        if by is not None:
            values["verified_by"] = by[:255]
        self.steps.write(conn, req.id, **values, updated_at=now)
        actor = Actor(ActorKind.staff, who[6:]) if who.startswith("staff:") else SYSTEM
        if by_actor is not None and how == "customer":
            actor = by_actor
        if req.state is RequestState.extended:
            # Still extended: the deadline stands; verification is recorded as an event.
            self.steps.event(conn, req.id, who, "verified", req.state, req.state, details)
            self.steps.audit(conn, req, actor, "request.verified", **details)
            return
        self.steps.move(conn, req, RequestState.verified, actor, "verified", **details)


def issue_code(ctx: Context, conn: Connection, req: RequestRecord) -> str:
    """A new one-time code for ``req``, to be mailed: only its keyed hash is kept, with its
    expiry (:data:`CODE_MINUTES`) and one more code counted sent; the old code stops
    working."""
    code = _contact.new_code()
    now = ctx.clock.now()
    write_sealed(
        conn,
        ctx.keys,
        requests,
        requests.c.id == req.id,
        code_hash=_contact.hash_code(ctx.keys, req.id, code),
        code_expires_at=now + timedelta(minutes=CODE_MINUTES),
        codes_sent=req.codes_sent + 1,
        updated_at=now,
    )
    return code


def check_code(
    ctx: Context, conn: Connection, request_id: str, code: str, now: datetime
) -> Literal["none", "expired", "wrong", "right"]:
    """How ``code`` compares (in constant time) with the one-time code held for
    ``request_id`` at ``now``: none is held, it has expired, or it is wrong or right."""
    held = conn.execute(
        select(requests.c.code_hash, requests.c.code_expires_at).where(requests.c.id == request_id)
    ).one()
    given = _contact.hash_code(ctx.keys, request_id, str(code).strip())
    if held.code_hash is None:
        return "none"
    if held.code_expires_at is None or held.code_expires_at <= now:
        return "expired"
    return "right" if _contact.codes_match(held.code_hash, given) else "wrong"
