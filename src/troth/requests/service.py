"""The request service: open, verify, extend, execute and report on requests from the
people the data is about (P23-P29, P31, P32), over troth's store and every connected
dataset.

    t.requests.open("delete", email="ann@example.com")      # acknowledged, code sent
    t.requests.verify(request_id, "123456")
    t.requests.execute(request_id)                          # report stored, person told

:class:`RequestService` holds the parts a request goes through, each in the module named
after it, and offers their public methods as its own:

========================  ==================================================================
``steps``                 :mod:`.steps`: get, get_listed, today (and the load/move/audit/tell
                          steps)
``intake``                :mod:`.intake`: open, ingest
``verification``          :mod:`.verification`: send_code, verify, verify_by_staff/_signin
``decisions``             :mod:`.decisions`: extend, refuse, set_details, lift_restriction
``reader``                :mod:`.reading`: history, list, of_subject, search, read,
                          shown (a correction's values through the gate, :mod:`.shown`)
``runner``                :mod:`.runner`: execute (each kind: :mod:`.kinds`)
``bulk``                  :mod:`.bulk`: waiting, execute_many (and resume_held, run_due:
                          erasures whose legal hold ended, :mod:`.deferral`)
``exports``               :mod:`.exports`: export_tenant, download, purge_exports
``agents``                :mod:`.agent_download`: send_agent_code, download_as_agent
``offboarder``            :mod:`.offboard`: offboard_tenant
``log``                   :mod:`.request_log`: purge_request_logs
========================  ==================================================================
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from troth.context import Context
from troth.gate import SYSTEM, Actor
from troth.requests.agent_download import AgentDownloads
from troth.requests.bulk import BulkReport, BulkRunner
from troth.requests.decisions import Decisions
from troth.requests.exports import Exports
from troth.requests.intake import RequestIntake
from troth.requests.offboard import Offboarder
from troth.requests.reading import RequestReader
from troth.requests.record import RequestTampered
from troth.requests.request_log import RequestLog
from troth.requests.runner import RequestRunner
from troth.requests.steps import RequestSteps, refuse_request
from troth.requests.verification import Verification

T = TypeVar("T")


# The public methods that act on a request (the readers list a tampered one, flagged).
_STEPS = (
    "send_code", "verify", "verify_by_staff", "verify_by_signin", "extend", "refuse",
    "set_details", "lift_restriction", "execute", "execute_many", "download",
    "send_agent_code", "download_as_agent", "offboard_tenant", "history",
)  # fmt: skip


def _refusing_tampered(ctx: Context, name: str, method: Callable[..., T]) -> Callable[..., T]:
    """``method``, its refusal of a request changed outside troth audited
    (``record_tampered``, once; after its transaction rolled back)."""

    @functools.wraps(method)
    def step(*args: Any, **kwargs: Any) -> T:
        try:
            return method(*args, **kwargs)
        except RequestTampered as exc:
            refuse_request(ctx, f"request.{name}", kwargs.get("actor") or SYSTEM, exc)

    return step


class RequestService:
    """Requests for one troth. ``environ`` gives connected datasets' URLs (default: the
    process environment)."""

    def __init__(self, ctx: Context, *, environ: Mapping[str, str] | None = None) -> None:
        self.ctx = ctx
        self.environ = environ
        self.steps = steps = RequestSteps(ctx)
        self.verification = Verification(steps)
        self.intake = RequestIntake(steps, self.verification)
        self.decisions = Decisions(steps)
        self.reader = RequestReader(steps)
        self.runner = RequestRunner(steps, environ)
        self.bulk = BulkRunner(steps, self.runner, environ)
        self.exports = Exports(steps)
        self.agents = AgentDownloads(self.exports)
        self.offboarder = Offboarder(ctx, self.exports, environ)
        self.log = RequestLog(ctx)

        # The public API: each method is its part's (see the module's table).
        self.get = steps.get
        self.get_listed = steps.get_listed
        self.today = steps.today
        self.open = self.intake.open
        self.ingest = self.intake.ingest
        self.send_code = self.verification.send_code
        self.verify = self.verification.verify
        self.verify_by_staff = self.verification.verify_by_staff
        self.verify_by_signin = self.verification.verify_by_signin
        self.extend = self.decisions.extend
        self.refuse = self.decisions.refuse
        self.set_details = self.decisions.set_details
        self.lift_restriction = self.decisions.lift_restriction
        self.history = self.reader.history
        self.list = self.reader.list
        self.of_subject = self.reader.of_subject
        self.search = self.reader.search
        self.read = self.reader.read
        self.shown = self.reader.shown
        self.execute = self.runner.execute
        self.waiting = self.bulk.waiting
        self.execute_many = self.bulk.execute_many
        self.export_tenant = self.exports.export_tenant
        self.download = self.exports.download
        self.purge_exports = self.exports.purge_exports
        self.send_agent_code = self.agents.send_agent_code
        self.download_as_agent = self.agents.download_as_agent
        self.offboard_tenant = self.offboarder.offboard_tenant
        self.purge_request_logs = self.log.purge_request_logs
        # A request changed outside troth is refused at every step, audited once.
        for name in _STEPS:
            setattr(self, name, _refusing_tampered(ctx, name, getattr(self, name)))

    def resume_held(self, *, actor: Actor = SYSTEM) -> BulkReport:
        """Carry out every erasure that waited for a legal hold now ended (batch by batch,
        as ``execute_many``), then those an offboarding or a minor's erasure left waiting
        (:mod:`.held_erasures`); ``lift_hold`` runs it, and the worker every few minutes."""
        from troth.requests.deferral import ready
        from troth.requests.held_erasures import resume_erasures

        ids = ready(self.ctx)
        report = self.execute_many(ids, actor=actor) if ids else BulkReport()
        resume_erasures(self.ctx, report, self.environ)
        return report

    def run_due(self) -> str:
        """The worker's request work: erasures whose legal hold ended (:meth:`resume_held`),
        then the opt-outs of sale/sharing waiting (verified as they opened: :mod:`.opt_out`)."""
        from troth.requests.opt_out import OPT_OUT_KINDS, waiting_opt_outs

        report = self.resume_held()
        done = f"{len(report.completed)} erasure(s) done after their legal hold ended"
        done += f", {len(report.failed)} not done yet" if report.failed else ""
        ids = waiting_opt_outs(self.ctx, self.waiting(OPT_OUT_KINDS), self.steps.get)
        if ids:
            opted = self.execute_many(ids)
            done += f"; {len(opted.completed)} opt-out(s) of sale/sharing carried out"
            done += f", {len(opted.failed)} not done yet" if opted.failed else ""
        return done
