"""Reading requests: one's history, the deadline-ordered list, a person's own, and the
request desk's filtered pages."""

from __future__ import annotations

import builtins
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from troth.db import check_page, count_where, within
from troth.errors import ValidationError
from troth.gate import SYSTEM, Actor
from troth.requests.listed import audit_listed
from troth.requests.record import RequestRecord
from troth.requests.states import DUE_STATES, OPEN_STATES, RequestKind, RequestState, parse_choice
from troth.requests.steps import RequestSteps
from troth.requests.tables import request_events, requests


class RequestReader:
    """``history``, ``list``, ``of_subject``, ``search``, ``read``, ``shown``."""

    def __init__(self, steps: RequestSteps) -> None:
        self.steps = steps
        self.ctx = steps.ctx

    def read(self, request_id: str, *, actor: Actor) -> RequestRecord:
        """The request as ``actor`` reads it at the request desk (refused, audited, to
        anyone not at it: :meth:`RequestSteps.desk`): a correction's new values only as
        the gate lets them read each (:mod:`troth.requests.shown`)."""
        return self.shown(self.steps.desk(request_id, actor), actor)

    def shown(self, req: RequestRecord, actor: Actor) -> RequestRecord:
        """``req`` (read for ``actor``, whom the caller let see it) as they may read it:
        each new value of a correction through the gate; those withheld are named in
        ``details["withheld"]`` with the reason, audited ``request.read``."""
        from troth.requests.shown import request_shown

        return request_shown(self.ctx, req, actor)

    def history(self, request_id: str) -> list[dict[str, Any]]:
        """Every event of a request, oldest first."""
        self.steps.get(request_id)
        e = request_events.c
        with self.ctx.engine.connect() as conn:
            rows = conn.execute(
                select(e.at, e.actor, e.event, e.from_state, e.to_state, e.details)
                .where(e.request_id == request_id)
                .order_by(e.id)
            ).mappings()
            return [dict(r) for r in rows]

    def list(
        self,
        *,
        due_within: int | None = None,
        overdue: bool = False,
        state: RequestState | str | None = None,
        include_closed: bool = False,
        limit: int = 100,
        after: str | None = None,
        subject_id: str | None = None,
    ) -> list[RequestRecord]:
        """Requests by deadline: open ones due within ``due_within`` days (0: today),
        ``overdue`` ones (deadline passed), in a ``state``, one person's (``subject_id``);
        oldest deadline first. ``after``: a request id; the list continues after it
        (keyset pagination). A request whose row does not match its seal is listed,
        ``tampered``, as it stands (`troth audit verify` names it)."""
        today = self.steps.today()
        deadline = func.coalesce(requests.c.extended_due_at, requests.c.due_at)
        stmt = select(requests.c.id)
        if subject_id is not None:
            stmt = stmt.where(requests.c.subject_id == subject_id)
        if state is not None:
            wanted = parse_choice(RequestState, state, "state")
            stmt = stmt.where(requests.c.state == wanted.value)
        elif not include_closed:
            stmt = stmt.where(requests.c.state.in_([s.value for s in OPEN_STATES]))
        if due_within is not None:
            if due_within < 0:
                raise ValidationError("due_within is a number of days >= 0")
            stmt = stmt.where(deadline <= today + timedelta(days=due_within))
        if due_within is not None or overdue:
            # An erasure waiting for a legal hold was answered: its deadline is not running.
            stmt = stmt.where(requests.c.state.in_([s.value for s in DUE_STATES]))
        if overdue:
            stmt = stmt.where(deadline < today)
        r = requests.c
        stmt = stmt.order_by(deadline, r.received_at, r.id).limit(limit)
        if after is not None:
            # Compared in the database, as stored: a row troth cannot read (listed,
            # flagged) is still a place to continue after.
            self.steps.get_listed(after)
            o = requests.alias("after")
            at_d = select(func.coalesce(o.c.extended_due_at, o.c.due_at)).where(o.c.id == after)
            at_r = select(o.c.received_at).where(o.c.id == after)
            d, at = at_d.scalar_subquery(), at_r.scalar_subquery()
            stmt = stmt.where(
                (deadline > d)
                | ((deadline == d) & (r.received_at > at))
                | ((deadline == d) & (r.received_at == at) & (r.id > after))
            )
        with self.ctx.engine.connect() as conn:
            found = [
                self.steps.load(conn, rid, listed=True) for rid in conn.execute(stmt).scalars()
            ]
        audit_listed(self.ctx, found, "requests list")
        return found

    def of_subject(self, subject_id: str, *, limit: int = 100) -> builtins.list[RequestRecord]:
        """One person's requests, open and closed, in the order they were received (the
        privacy centre's list of their own)."""
        r = requests.c
        with self.ctx.engine.connect() as conn:
            ids = (
                conn.execute(
                    select(r.id)
                    .where(r.subject_id == subject_id)
                    .order_by(r.received_at)
                    .limit(limit)
                )
                .scalars()
                .all()
            )
            found = [self.steps.load(conn, rid, listed=True) for rid in ids]
        audit_listed(self.ctx, found, "a person's requests")
        return found

    def search(
        self,
        *,
        show: str = "open",
        kind: str | None = None,
        state: str | None = None,
        tenant_id: str | None = None,
        due_within: int | None = None,
        overdue: bool = False,
        received_since: datetime | None = None,
        received_until: datetime | None = None,
        limit: int = 50,
        offset: int = 0,
        actor: Actor = SYSTEM,
    ) -> tuple[builtins.list[RequestRecord], int]:
        """One page of the requests matching every filter, oldest deadline first, and how
        many match in all (the console's list: "showing 51-100 of 2,340"). ``show``:
        open, closed or all; ``received_*``: since <= received_at < until. The request
        desk decides ``actor`` (troth.office.request_desk): a tenant-bound desk sees its
        own tenant's requests only; anyone else without ``manage_requests`` is refused."""
        from troth.office import request_desk

        bound = request_desk(self.ctx, actor)
        r = requests.c
        deadline = func.coalesce(r.extended_due_at, r.due_at)
        today = self.steps.today()
        where: list[Any] = []
        closed = [RequestState.completed.value, RequestState.refused.value]
        if show == "open":
            where.append(r.state.in_([s.value for s in OPEN_STATES]))
        elif show == "closed":
            where.append(r.state.in_(closed))
        elif show != "all":
            raise ValidationError("show: one of open, closed, all", field="show")
        if kind:
            if kind not in RequestKind.__members__:
                known = ", ".join(RequestKind.__members__)
                raise ValidationError(f"kind: one of {known}, not {kind!r}", field="kind")
            where.append(r.kind == kind)
        if state:
            try:
                where.append(r.state == RequestState(state).value)
            except ValueError:
                known = ", ".join(x.value for x in RequestState)
                raise ValidationError(
                    f"state: one of {known}, not {state!r}", field="state"
                ) from None
        if tenant_id:
            where.append(r.tenant_id == tenant_id)
        if bound is not None:
            where.append(r.tenant_id == bound)
        if due_within is not None:
            if due_within < 0:
                raise ValidationError("due within: a number of days, 0 or more", field="due")
            where.append(deadline <= today + timedelta(days=due_within))
        if due_within is not None or overdue:
            where.append(r.state.in_([s.value for s in DUE_STATES]))
        if overdue:
            where.append(deadline < today)
        where += within(r.received_at, received_since, received_until)
        check_page(limit, offset)
        ids = (
            select(r.id)
            .where(*where)
            .order_by(deadline, r.received_at, r.id)
            .limit(limit)
            .offset(offset)
        )
        with self.ctx.engine.connect() as conn:
            n = count_where(conn, requests, where)
            found = [self.steps.load(conn, rid, listed=True) for rid in conn.execute(ids).scalars()]
        audit_listed(self.ctx, found, "the request desk's list", actor)
        return found, n
