"""An erasure a legal hold blocks (P25, P28; GDPR Art. 17(3)(b)/(e), 18(2)): a deletion or
account closure of a person under a legal hold, on them or on their tenant, is not done and
not reported done. It waits ``awaiting_hold``:

- nothing is erased anywhere (troth's store and connected datasets keep everything the hold
  preserves); what follows from the person ends as with an erasure (consents, unsubscribe
  links, queued list/marketing/purpose mail), an account closure ends the relationship;
- the person's data is restricted meanwhile: every purpose of the policy that does not rest
  on a legal obligation is restricted by the request (the gate refuses ``restricted``, the
  outbox sends no purpose mail), so only what the law compels (a disclosure under a legal
  demand) and the purposes a hold on them serves (troth.gate.facts.held_open: the
  investigation the hold exists for) may still reach it;
- the person is told it is deferred by a legal obligation (never which matter: a hold may be
  gagged), which answers the request inside its deadline (GDPR Art. 12(4));
- when the last hold on them ends (:func:`ready`: ``lift_hold`` and the worker run it), the
  request is carried out as an unheld erasure is, connected datasets too, with the letter
  saying it is done.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, exists, or_, select

from troth.audit.log import transaction
from troth.policy.model import LegalBasis
from troth.requests.states import RequestState
from troth.requests.tables import request_events, requests
from troth.retention.tables import legal_holds
from troth.store.tables import subjects

if TYPE_CHECKING:
    from troth.context import Context
    from troth.requests.kinds.handler import Job
    from troth.requests.record import RequestRecord

CHUNK = 500
# The hold id of a hold known only from the person's own sealed row (holds_on).
MARK = "subject"


def holds_on(conn: Connection, subject_ids: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    """The active legal holds on each of ``subject_ids`` that has any, on the person or on
    their tenant: ``{subject id: [(hold id, reason), ...]}``, oldest first. A person whose
    own sealed row says they are held (``subjects.legal_hold``) is held too, whatever
    ``legal_holds`` says (fail closed: a hold's row deleted outside troth lifts nothing;
    ``troth audit verify`` names the person); such a hold is ``(MARK, reason)``."""
    h, s = legal_holds.c, subjects.c
    out: dict[str, list[tuple[str, str]]] = {}
    ids = list(dict.fromkeys(subject_ids))
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        stmt = (
            select(s.id, h.id, h.reason)
            .select_from(
                subjects.join(
                    legal_holds,
                    or_(
                        h.subject_id == s.id,
                        and_(h.tenant_id.is_not(None), h.tenant_id == s.tenant_id),
                    ),
                )
            )
            .where(s.id.in_(chunk), h.lifted_at.is_(None))
            .order_by(h.placed_at, h.id)
        )
        for sid, hid, reason in conn.execute(stmt):
            out.setdefault(str(sid), []).append((str(hid), str(reason)))
        marked = select(s.id, s.legal_hold).where(s.id.in_(chunk), s.legal_hold.is_not(None))
        for sid, reason in conn.execute(marked):
            found = out.setdefault(str(sid), [])
            if not found:
                found.append((MARK, str(reason)))
    return out


def restrictable(ctx: Context) -> list[str]:
    """The purposes a held erasure restricts: every one not resting on a legal obligation."""
    return sorted(
        p.id for p in ctx.policy.policy.purposes if p.legal_basis is not LegalBasis.legal_obligation
    )


def defer(job: Job, sid: str, *, close_account: bool) -> RequestRecord:
    """Answer the erasure ``job`` of person ``sid``, whom a legal hold holds, as deferred
    (see the module), in one transaction."""
    from troth.requests import execution
    from troth.store.values import read_values

    ctx, req, steps = job.ctx, job.req, job.steps
    now = ctx.clock.now()
    with transaction(ctx) as conn:
        values = read_values(conn, ctx, sid)
        report = execution.erasure_report(values)
        report.update(execution.end_what_follows(conn, ctx, sid))
        execution.held(report, values)
        if close_account:
            execution.close_relationship(conn, ctx, sid)
        restricted = execution.restrict_in_store(conn, ctx, sid, restrictable(ctx), req.id, now)
        # Which holds, and why, stay the office's (legal_holds): the result, the request's
        # history and its audit entry are read by the tenant and the person, and a hold may
        # be gagged.
        result: dict[str, Any] = {
            "systems": [report],
            "waiting_for": "legal_hold",
            "restricted": restricted,
            "note": "waiting for a legal hold on this person to end; nothing was erased",
        }
        cur = steps.load(conn, req.id)
        steps.write(conn, req.id, result=result)
        steps.move(conn, cur, RequestState.awaiting_hold, job.actor, "deferred")
        steps.tell(conn, cur, "deferred")
        return steps.load(conn, req.id)


def ready(ctx: Context) -> list[str]:
    """Ids of the erasures waiting for a legal hold whose person is no longer held (oldest
    first): to be carried out now. Those resumed after their hold ended that did not finish
    (a connected database down: left ``in_progress``) are among them, until done."""
    r, e = requests.c, request_events.c
    was_deferred = exists().where(e.request_id == r.id, e.event == "deferred")
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            select(r.id, r.subject_id)
            .where(
                or_(
                    r.state == RequestState.awaiting_hold.value,
                    and_(r.state == RequestState.in_progress.value, was_deferred),
                )
            )
            .order_by(r.received_at, r.id)
        ).all()
        held = holds_on(conn, [str(sid) for _, sid in rows if sid is not None])
    return [str(rid) for rid, sid in rows if sid not in held]
