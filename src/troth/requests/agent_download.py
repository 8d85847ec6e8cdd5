"""An agent's download: the export of a request made on someone else's behalf goes to the
agent, who is no one troth can sign in. Instead of the privacy centre's sign-in, the agent
proves again that they hold the address the office verified: the download page has troth
mail a 6-digit confirmation code there (15 minutes, 5 wrong tries lock it, 5 codes at
most), and the code with the link's code hands the ZIP over, once (audited
``request.download`` by ``agent:REQUEST``).

The confirmation code lives where a request's identity code would: a request made on
someone's behalf never has one (only staff verify it)."""

from __future__ import annotations

from typing import Any

from troth.audit.log import transaction
from troth.errors import AuthenticationError, NotFound, RateLimited
from troth.requests import verification
from troth.requests.exports import Exports, no_export
from troth.requests.record import RequestRecord
from troth.requests.verification import CODE_MINUTES, MAX_CODE_ATTEMPTS, MAX_CODES


class AgentDownloads:
    """``send_agent_code``, ``download_as_agent``."""

    def __init__(self, exports: Exports) -> None:
        self.exports = exports
        self.steps = exports.steps
        self.ctx = exports.ctx

    def _agents(self, token: str) -> tuple[Any, RequestRecord]:
        """The export behind ``token`` and its request, if that request was made on
        someone's behalf by an agent with an address; else NotFound (as an unknown code)."""
        row, req = self.exports.find(token)
        if row is None or req is None or not req.on_behalf or req.agent_email is None:
            raise no_export()
        return row, req

    def send_agent_code(self, token: str) -> None:
        """Mail a confirmation code to the agent of the export behind ``token`` (a code
        sent before stops working)."""
        row, req = self._agents(token)
        if row.downloaded_at is not None or row.purged_at is not None:
            raise no_export()
        if req.codes_sent >= MAX_CODES or req.code_attempts >= MAX_CODE_ATTEMPTS:
            raise RateLimited(
                f"{MAX_CODES} confirmation codes were sent (or too many were wrong): ask the"
                f" privacy office for the data of request {req.id}",
                code="too_many_codes",
            )
        with transaction(self.ctx) as conn:
            code = verification.issue_code(self.ctx, conn, req)
            self.steps.event(conn, req.id, "system", "download_code_sent", None, None, {})
            key = f"code:download:{req.codes_sent + 1}"
            self.steps.tell(conn, req, "code", key=key, code=code, minutes=CODE_MINUTES)

    def download_as_agent(self, token: str, code: str) -> bytes:
        """The ZIP to the agent who gives the link's code and the confirmation code mailed
        to them; a wrong or expired confirmation is AuthenticationError (attempts left)."""
        row, req = self._agents(token)
        if row.downloaded_at is not None:
            raise NotFound("this download was already used", code="export_used")
        now = self.ctx.clock.now()
        with transaction(self.ctx) as conn:
            ok = verification.check_code(self.ctx, conn, req.id, code, now) == "right"
            if req.code_attempts >= MAX_CODE_ATTEMPTS:
                ok = False
            values: dict[str, Any] = {"code_hash": None} if ok else {}
            if not ok:
                values["code_attempts"] = req.code_attempts + 1
            self.steps.write(conn, req.id, **values)
        if not ok:
            left = max(0, MAX_CODE_ATTEMPTS - req.code_attempts - 1)
            raise AuthenticationError(
                f"wrong or expired confirmation code; {left} attempt(s) left",
                code="wrong_code",
                attempts_left=left,
            )
        return self.exports.hand_over(
            token, row, f"agent:{req.id}", req.subject_id, req.tenant_id, regime=req.regime
        )
