"""Carrying out one verified request over troth's store and every connected dataset: the
request's kind says how (:mod:`troth.requests.kinds`)."""

from __future__ import annotations

from collections.abc import Mapping

from troth.audit.log import transaction
from troth.collection.identities import IdentifierInUse
from troth.errors import Conflict, ConnectorError, ValidationError
from troth.gate import SYSTEM, Actor
from troth.requests.connected import shared_connector
from troth.requests.kinds import Job, handler_for
from troth.requests.record import RequestRecord
from troth.requests.states import RequestKind, RequestState, check_transition
from troth.requests.steps import RequestSteps
from troth.store.seals import RecordTampered, refuse_tampered


class RequestRunner:
    """``execute``. ``environ`` gives connected datasets' URLs (default: the process
    environment)."""

    def __init__(self, steps: RequestSteps, environ: Mapping[str, str] | None = None) -> None:
        self.steps = steps
        self.ctx = steps.ctx
        self.environ = environ

    def execute(self, request_id: str, *, actor: Actor = SYSTEM) -> RequestRecord:
        """Carry out a verified request over troth's store and every connected dataset,
        store the report, tell the person. A connected database that is down leaves the
        request in_progress (the person is told of the delay); run it again to resume.
        ``actor`` must be the request desk (or the person, on their own request)."""
        req = self.steps.desk(request_id, actor)
        if req.state in (RequestState.completed, RequestState.refused):
            raise Conflict(f"request {request_id} is already {req.state}", code="request_closed")
        if req.verified_at is None:
            raise Conflict(
                f"request {request_id} is {req.state}: the person's identity is not verified;"
                " nothing is done until it is (a code by e-mail, or staff verification)",
                code="identity_unverified",
            )
        check_transition(req.id, req.state, RequestState.in_progress)
        if req.state is RequestState.awaiting_hold:
            self._still_held(req)
        if req.kind is RequestKind.correct and not req.details.get("changes"):
            # A correction in the person's words: the office says what to change.
            missing = ValidationError(
                f"say what to correct: `troth requests execute {request_id} --change"
                " FIELD=VALUE` (the request's details say what the person asked)",
                code="no_changes",
            )
            self.steps.needs_input(req, missing, actor)
            raise missing
        with transaction(self.ctx) as conn:
            req = self.steps.load(conn, request_id)
            check_transition(req.id, req.state, RequestState.in_progress)
            self.steps.move(conn, req, RequestState.in_progress, actor, "started")
        req = self.steps.get(request_id)
        connector = shared_connector(self.ctx, self.environ)
        try:
            return handler_for(req.kind).run(Job(self.steps, req, connector, actor))
        except (ValidationError, IdentifierInUse) as exc:
            # Not doable as asked (nothing was changed): waits for the office, not in_progress.
            self.steps.needs_input(req, exc, actor)
            raise
        except RecordTampered as exc:
            # Nothing of the person goes out or is changed; the request waits in_progress.
            details = {"request": request_id, "kind": str(req.kind)}
            refuse_tampered(self.ctx, "request.execute", actor, exc, details=details)
        except ConnectorError as exc:
            self.steps.interrupted(req, exc)
            raise ConnectorError(
                f"{exc.message}. Request {request_id} waits in_progress: run `troth requests"
                f" execute {request_id}` to resume",
                code=exc.code,
                request_id=request_id,
            ) from exc

    def _still_held(self, req: RequestRecord) -> None:
        """Conflict while a legal hold still blocks the erasure ``req`` waits on."""
        from troth.requests.deferral import holds_on

        if req.subject_id is None:
            return
        with self.ctx.engine.connect() as conn:
            holds = holds_on(conn, [req.subject_id]).get(req.subject_id)
        if holds:
            raise Conflict(
                f"request {req.id} waits for a legal hold on this person to end: it is"
                " carried out when the hold is lifted",
                code="legal_hold",
                state=req.state.value,
            )
