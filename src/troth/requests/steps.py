"""The steps every request operation is made of: load, move (checked against the allowed
transitions), record an event, audit, tell the person, complete, store an export. Each
runs in the caller's transaction. Every part of :class:`~troth.requests.service.RequestService`
(intake, verification, decisions, runner, exports, bulk, offboarding) holds one."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, and_, func, select

from troth.access.seals import REQUEST_COLUMNS, access_matches, write_sealed
from troth.audit.entry import AuditEntry, Outcome
from troth.audit.log import append_entry, transaction
from troth.context import Context
from troth.errors import (
    Conflict,
    ConnectorError,
    NotFound,
    TrothError,
)
from troth.gate import SYSTEM, Actor
from troth.notices.outbox import enqueue
from troth.policy.model import Regime
from troth.requests import _contact, package
from troth.requests.letters import letter
from troth.requests.listed import listed_record
from troth.requests.receipt import local_day, local_stamp
from troth.requests.record import ExportLink, RequestRecord, RequestTampered, tampered_request
from troth.requests.states import (
    Channel,
    RequestKind,
    RequestState,
    check_transition,
)
from troth.requests.tables import request_events, request_exports, requests
from troth.store.ids import new_token
from troth.store.tables import tenants
from troth.stored import member, tolerating


@dataclass(eq=False)
class RequestSteps:
    """The request table's steps, over one troth's context."""

    ctx: Context

    def get(self, request_id: str, actor: Actor = SYSTEM) -> RequestRecord:
        """A request by id; NotFound when there is none; :class:`RequestTampered` (audited
        ``record_tampered``) when its row does not match its seal."""
        try:
            with self.ctx.engine.connect() as conn:
                return self.load(conn, request_id)
        except RequestTampered as exc:
            refuse_request(self.ctx, "request.read", actor, exc)

    def get_listed(self, request_id: str) -> RequestRecord:
        """A request as a list shows it (flagged when changed outside troth, never
        refused for it); NotFound when there is none."""
        with self.ctx.engine.connect() as conn:
            return self.load(conn, request_id, listed=True)

    def desk(self, request_id: str, actor: Actor, step: str = "execute") -> RequestRecord:
        """The request, if ``actor`` may act on it as the request desk
        (:func:`troth.office.request_desk`: the office power ``manage_requests``, or a key
        bound to the request's tenant with ``requests:admin``); troth itself may, and so
        may the person on their own request. Anyone else is refused (audited); a request
        of another tenant is unknown to a tenant-bound desk. A customer's side is refused
        ``step`` where the policy keeps it for the organisation's desk
        (:mod:`troth.requests.customer_desk`)."""
        from troth.gate import ActorKind
        from troth.office import request_desk
        from troth.requests.customer_desk import check_customer_step

        req = self.get(request_id, actor)
        if actor.kind is ActorKind.system:
            return req
        if actor.kind is ActorKind.subject and actor.id == req.subject_id:
            return req
        bound = request_desk(self.ctx, actor)
        if bound is not None and req.tenant_id != bound:
            raise NotFound(f"no request {request_id}", code="unknown_request")
        check_customer_step(self.ctx, actor, req, step)
        return req

    def zone(self, regime: Regime | str | None = None) -> ZoneInfo:
        """The organisation's time zone for ``regime`` (requests are dated in it)."""
        known = regime if regime in Regime.__members__ else None
        return self.ctx.policy.policy.organisation.zone(known)

    def today(self, regime: Regime | str | None = None) -> date:
        """Today where the organisation is: what deadlines are compared with."""
        return local_day(self.ctx.clock.now(), self.zone(regime))

    def store_export(
        self,
        conn: Connection,
        data: bytes,
        *,
        request_id: str | None,
        tenant_id: str | None,
        token: str | None = None,
        made_by: str | None = None,
        made_as: str | None = None,
    ) -> ExportLink:
        """Write ``data`` sealed under a new download code (or ``token``, made with
        :func:`~troth.store.ids.new_token`) and record its link in the caller's
        transaction; the file is written at once (:meth:`export_path` names it). A
        tenant's export records its maker (``made_by``, an actor's label) and the member
        role it was made as (``made_as``)."""
        now = self.ctx.clock.now()
        token = token or new_token()
        h = _contact.hash_token(self.ctx.keys, token)
        path = self.export_path(token)
        package.write_private(path, _contact.seal_file(token, data))
        expires = package.link_expiry(self.ctx, now)
        conn.execute(
            request_exports.insert().values(
                token_hash=h,
                request_id=request_id,
                tenant_id=tenant_id,
                path=str(path),
                size=len(data),
                created_at=now,
                expires_at=expires,
                made_by=made_by,
                made_as=made_as,
            )
        )
        # The code rides after "#": browsers never send it, so no access log keeps it; the
        # page posts it with the person's session (see troth.web.privacy).
        url = f"{self.ctx.settings.public_url.rstrip('/')}/privacy/download#{token}"
        return ExportLink(token, url, expires)

    def export_path(self, token: str) -> Path:
        """The file the export behind download code ``token`` is stored in."""
        h = _contact.hash_token(self.ctx.keys, token)
        return package.exports_dir(self.ctx) / f"{h[:32]}.zip.enc"

    def complete(
        self,
        conn: Connection,
        req: RequestRecord,
        result: dict[str, Any],
        actor: Actor,
        *,
        categories: tuple[str, ...] = (),
        link: ExportLink | None = None,
        summary: builtins.list[str] | None = None,
    ) -> RequestRecord:
        now = self.ctx.clock.now()
        cur = self.load(conn, req.id)
        check_transition(req.id, cur.state, RequestState.completed)
        result, summary = self.note_elsewhere(conn, cur, result, summary or [])
        self.write(conn, req.id, result=result, error=None, closed_at=now)
        self.move(conn, cur, RequestState.completed, actor, "completed")
        self.audit(
            conn, cur, actor, f"request.{req.kind.value}", categories=categories, result=result
        )
        facts: dict[str, Any] = {"summary": summary or []}
        if link is not None:
            expires = local_stamp(link.expires_at, self.zone(cur.regime))
            facts.update(link=link.url, expires=expires)
        self.tell(conn, cur, "done", **facts)
        return self.load(conn, req.id)

    def note_elsewhere(
        self,
        conn: Connection,
        req: RequestRecord,
        result: dict[str, Any],
        summary: builtins.list[str],
    ) -> tuple[dict[str, Any], builtins.list[str]]:
        """``result`` and the done letter's ``summary`` with what customers hold of the
        request's own address, which it did not cover (:mod:`troth.requests.elsewhere`:
        only for a request to the organisation itself; the customers told where it is
        left to them), after what the organisation holds of it for its own purposes, which
        an erasure at its desk erases here (:mod:`troth.requests.own_part`)."""
        from troth.requests.elsewhere import note_elsewhere
        from troth.requests.own_part import answer

        result, summary = answer(conn, self.ctx, req, result, summary)
        return note_elsewhere(conn, self.ctx, req, result, summary)

    def interrupted(self, req: RequestRecord, exc: ConnectorError) -> None:
        with transaction(self.ctx) as conn:
            cur = self._keep_error(conn, req, exc)
            n = conn.execute(
                select(func.count())
                .select_from(request_events)
                .where(
                    request_events.c.request_id == req.id, request_events.c.event == "interrupted"
                )
            ).scalar_one()
            self.event(
                conn, req.id, "system", "interrupted", None, None, {"error": exc.message[:500]}
            )
            self.audit(
                conn,
                cur,
                SYSTEM,
                "request.interrupted",
                outcome=Outcome.info,
                error=exc.message[:500],
            )
            self.tell(conn, cur, "delayed", key=f"delayed:{n}", due=cur.deadline)

    def needs_input(self, req: RequestRecord, exc: TrothError, actor: Actor) -> None:
        """A request that cannot be carried out as it stands (a correction with no changes,
        or one that names a field the person has nowhere): back to ``verified`` when its
        run had started, the reason kept (``error``) for the office, which gives what is
        missing and runs it again. The person is not told: nothing was answered yet."""
        with transaction(self.ctx) as conn:
            cur = self._keep_error(conn, req, exc)
            if cur.state is RequestState.in_progress:
                self.move(conn, cur, RequestState.verified, actor, "needs_input", code=exc.code)
            else:
                self.event(conn, req.id, actor.label, "needs_input", None, None, {"code": exc.code})

    def tell(
        self, conn: Connection, req: RequestRecord, what: str, key: str | None = None, **facts: Any
    ) -> None:
        """Mail the requester about their request, through the outbox (transactional): the
        person, or for a request made on their behalf the agent (never the person's
        address; no address known: nobody). The person is told when a request made on their
        behalf changed their data (:meth:`tell_person`)."""
        to = req.requester
        if to is not None:
            self._mail(conn, req, to, f"request:{req.id}:{key or what}", what, facts)
        if what == "done":
            self.tell_person(conn, req)

    def tell_person(self, conn: Connection, req: RequestRecord) -> None:
        """The person's own notice that a request made on their behalf, by an agent the
        office verified, was carried out: for a kind that changes their data (not an
        export: nothing of the data goes to them unasked), to their own address given with
        the request, and only once verified."""
        from troth.requests.kinds import handler_for

        if not req.on_behalf or req.email is None or req.verified_at is None:
            return
        if handler_for(req.kind).exports:
            return
        key = f"request:{req.id}:for_you"
        self._mail(conn, req, req.email, key, "for_you", {"by": req.on_behalf_of})

    def _mail(
        self,
        conn: Connection,
        req: RequestRecord,
        to: str,
        key: str,
        what: str,
        facts: Mapping[str, Any],
    ) -> None:
        org = self.ctx.policy.policy.organisation.name
        agent = req.on_behalf and to != req.email
        customer = None
        if req.customer_received:
            customer = conn.execute(
                select(tenants.c.name).where(tenants.c.id == req.tenant_id)
            ).scalar()
        subject, body = letter(
            what, org, req.id, req.kind.value, agent=agent, customer=customer, **facts
        )
        enqueue(
            conn,
            self.ctx,
            idempotency_key=key,
            to_addr=to,
            subject=subject,
            body_text=body,
            subject_id=req.subject_id,
            kind="transactional",
            # A one-time code or a download link: its words are not kept once sent.
            once="code" in facts or "link" in facts,
        )

    def move(
        self,
        conn: Connection,
        req: RequestRecord,
        new: RequestState,
        actor: Actor,
        event: str,
        **details: Any,
    ) -> None:
        """Move a request to ``new`` (Conflict if not allowed, or if it moved meanwhile)."""
        cur = self.load(conn, req.id)
        check_transition(req.id, cur.state, new)
        done = write_sealed(
            conn,
            self.ctx.keys,
            requests,
            and_(requests.c.id == req.id, requests.c.state == cur.state.value),
            state=new.value,
            updated_at=self.ctx.clock.now(),
        )
        if done != 1:
            raise Conflict(f"request {req.id} changed meanwhile; look again", code="changed")
        self.event(conn, req.id, actor.label, event, cur.state, new, details)
        self.audit(conn, cur, actor, f"request.{event}", to=new.value, **details)

    def event(
        self,
        conn: Connection,
        request_id: str,
        actor: str,
        event: str,
        from_state: RequestState | None,
        to_state: RequestState | None,
        details: Mapping[str, Any],
    ) -> None:
        conn.execute(
            request_events.insert().values(
                request_id=request_id,
                at=self.ctx.clock.now(),
                actor=actor[:255],
                event=event,
                from_state=from_state.value if from_state else None,
                to_state=to_state.value if to_state else None,
                details=dict(details),
            )
        )

    def audit(
        self,
        conn: Connection,
        req: RequestRecord,
        actor: Actor,
        action: str,
        *,
        outcome: Outcome = Outcome.info,
        categories: tuple[str, ...] = (),
        **details: Any,
    ) -> None:
        entry = request_entry(req, actor, action, outcome=outcome, categories=categories, **details)
        append_entry(conn, self.ctx.clock.now(), entry)

    def load(self, conn: Connection, request_id: str, *, listed: bool = False) -> RequestRecord:
        """The request ``request_id``; :class:`RequestTampered` when its row does not
        match its seal (no step is taken on it), unless ``listed`` (a list shows it,
        ``tampered``, and one holding a value troth never writes flagged ``unreadable``:
        :mod:`troth.requests.listed`)."""
        stmt = select(requests).where(requests.c.id == request_id)
        # Listed, a value troth never writes flags the row (troth.requests.listed).
        with tolerating() if listed else nullcontext():
            row = conn.execute(stmt).mappings().first()
        if row is None:
            raise NotFound(
                f"no request {request_id!r}: `troth requests list` shows the open ones",
                code="unknown_request",
                request_id=request_id,
            )
        rec = listed_record(self, row) if listed else self.record(row)
        if rec.tampered and not listed:
            raise tampered_request(rec)
        if rec.on_behalf and rec.subject_id is not None:
            from troth.requests.coming_of_age import adult_since

            rec = replace(rec, adult_since=adult_since(conn, self.ctx, rec.subject_id))
        return rec

    def write(self, conn: Connection, request_id: str, **values: Any) -> None:
        """Set ``values`` on the request's row, sealed again as it now is
        (:func:`~troth.access.seals.write_sealed`)."""
        write_sealed(conn, self.ctx.keys, requests, requests.c.id == request_id, **values)

    def _keep_error(self, conn: Connection, req: RequestRecord, exc: TrothError) -> RequestRecord:
        """The request as it stands, its ``error`` (what the office sees) now ``exc``'s."""
        cur = self.load(conn, req.id)
        self.write(conn, req.id, error=exc.message[:2000], updated_at=self.ctx.clock.now())
        return cur

    def record(self, row: Any) -> RequestRecord:
        """A request row (all of ``requests``' columns) as a record, its contact opened."""
        return RequestRecord(
            id=row["id"],
            kind=member(RequestKind, row["kind"], "requests.kind"),
            state=member(RequestState, row["state"], "requests.state"),
            subject_id=row["subject_id"],
            tenant_id=row["tenant_id"],
            regime=row["regime"],
            channel=member(Channel, row["channel"], "requests.channel"),
            on_behalf=bool(row["on_behalf"]),
            on_behalf_of=row["on_behalf_of"],
            email=_contact.open_contact(self.ctx.keys, row["id"], row["contact"]),
            agent_email=_contact.open_contact(
                self.ctx.keys, row["id"], row["agent_contact"], role="agent"
            ),
            received_at=row["received_at"],
            received_on=local_day(row["received_at"], self.zone(row["regime"])),
            acknowledged_at=row["acknowledged_at"],
            acknowledge_by=row["acknowledge_by"],
            due_at=row["due_at"],
            extended_due_at=row["extended_due_at"],
            extension_reason=row["extension_reason"],
            verified_at=row["verified_at"],
            verified_by=row["verified_by"],
            verification=row["verification"],
            details=dict(row["details"] or {}),
            result=row["result"],
            error=row["error"],
            closed_at=row["closed_at"],
            code_attempts=int(row["code_attempts"] or 0),
            codes_sent=int(row["codes_sent"] or 0),
            tampered=not access_matches(
                self.ctx.keys, requests, [row[n] for n in REQUEST_COLUMNS], row["seal"]
            ),
        )


def request_entry(
    req: RequestRecord,
    actor: Actor,
    action: str,
    *,
    outcome: Outcome = Outcome.info,
    categories: tuple[str, ...] = (),
    **details: Any,
) -> AuditEntry:
    """The audit entry of ``action`` on a request: the person, their tenant, the request
    and its kind, and ``details``."""
    return AuditEntry(
        action=action,
        actor=actor.label,
        outcome=outcome,
        subject_id=req.subject_id,
        tenant_id=req.tenant_id,
        categories=categories,
        details={"request_id": req.id, "kind": req.kind.value, **details},
    )


def refuse_request(ctx: Context, action: str, actor: Actor | str, exc: RequestTampered) -> NoReturn:
    """Audit the refusal of ``action`` on a request whose row does not match its seal
    (``record_tampered``, once: ``exc`` is marked), then raise ``exc``."""
    from troth.audit.refusals import refuse
    from troth.gate import Reason

    if exc.details.get("audited"):
        raise exc
    exc.details["audited"] = True
    refuse(
        ctx,
        action,
        actor,
        Reason.record_tampered,
        error=exc,
        subject_id=exc.details.get("subject_id"),
        tenant_id=exc.details.get("tenant_id"),
        details={"request_id": exc.details.get("request_id")},
    )
