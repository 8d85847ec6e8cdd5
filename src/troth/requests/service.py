"""The request service: open, verify, extend, execute and report on requests from the
people the data is about (P23-P29, P31, P32), over troth's store and every connected
dataset.

    t.requests.open("delete", email="ann@example.com")      # acknowledged, code sent
    t.requests.verify(request_id, "123456")
    t.requests.execute(request_id)                          # report stored, person told
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, NoReturn

from dateutil.relativedelta import relativedelta
from sqlalchemy import Connection, bindparam, func, select, update

from troth.audit.entry import AuditEntry, Outcome
from troth.audit.log import append_entries, transaction
from troth.audit.refusals import refuse
from troth.collection.validation import parse_regime
from troth.errors import (
    AuthenticationError,
    Conflict,
    NotFound,
    PermissionDenied,
    RateLimited,
    ValidationError,
)
from troth.gate import SYSTEM, Actor, ActorKind, Reason
from troth.policy.model import Regime
from troth.requests import _contact, execution
from troth.requests.deadlines import CCPA_OPT_OUT, acknowledge_by, due_date, extended_due
from troth.requests.intake import message_files, read_message
from troth.requests.offboard import OffboardRunner
from troth.requests.receipt import local_day, receipt_time
from troth.requests.record import IngestReport, RequestRecord
from troth.requests.states import (
    OPEN_STATES,
    Channel,
    RequestKind,
    RequestState,
    check_transition,
    parse_channel,
    parse_kind,
)
from troth.requests.tables import request_events, request_exports, requests
from troth.store.ids import new_id
from troth.store.subjects import find_subject_id, get_subject

CODE_MINUTES = 15
MAX_CODE_ATTEMPTS = 5
MAX_CODES = 5


class RequestService(OffboardRunner):
    """Requests for one troth. ``environ`` gives connected datasets' URLs (default: the
    process environment)."""

    # -- intake --------------------------------------------------------------------------
    def open(
        self,
        kind: RequestKind | str,
        *,
        email: str | None = None,
        phone: str | None = None,
        customer_id: str | None = None,
        subject_id: str | None = None,
        tenant_id: str | None = None,
        channel: Channel | str = Channel.api,
        on_behalf_of: str | None = None,
        details: Mapping[str, Any] | None = None,
        regime: Regime | str | None = None,
        source_ref: str | None = None,
        received_at: datetime | date | str | None = None,
        actor: Actor = SYSTEM,
    ) -> RequestRecord:
        """Open a request, match it to the person, set its legal deadline, acknowledge it
        and start identity verification (a code by e-mail; staff for a request made on
        someone else's behalf). All in one transaction.

        ``received_at``: when the request really arrived (default now; not in the future;
        without an offset, in the organisation's time zone). The request is dated, and its
        deadline counted, on that day where the organisation is (:mod:`.receipt`)."""
        ctx = self.ctx
        kind = parse_kind(str(kind))
        channel = parse_channel(str(channel))
        email = email.strip() if email else None
        if email is not None and ("@" not in email or len(email) > 320 or "\n" in email):
            raise ValidationError(f"{email[:60]!r} is not an e-mail address", code="invalid_addr")
        if not (email or phone or customer_id or subject_id):
            raise ValidationError(
                "say who the request is from: email, phone, customer_id or subject_id",
                code="no_identity",
            )
        if actor.tenant_id is not None:
            # A credential bound to a tenant opens requests for that tenant's people only.
            if tenant_id not in (None, actor.tenant_id):
                self._refuse_other_tenant(actor, None, tenant_id)
            tenant_id = actor.tenant_id
        if subject_id is not None and tenant_id is not None:
            with ctx.engine.connect() as conn:
                owner = get_subject(conn, subject_id).tenant_id
            if owner != tenant_id:
                self._refuse_other_tenant(actor, subject_id, tenant_id)
        now = ctx.clock.now()
        rid = new_id()
        with transaction(ctx) as conn:
            if source_ref is not None:
                dup = conn.execute(
                    select(requests.c.id).where(requests.c.source_ref == source_ref)
                ).scalar()
                if dup is not None:
                    raise Conflict(
                        f"{source_ref} was already opened as request {dup}",
                        code="duplicate",
                        request_id=dup,
                    )
            matched = find_subject_id(
                conn, ctx, email=email, phone=phone, customer_id=customer_id, tenant_id=tenant_id
            )
            behalf = on_behalf_of
            if subject_id is not None:
                subj = get_subject(conn, subject_id)
                if matched != subject_id and email is not None:
                    # The address given is not the person's: someone asks for another's data.
                    behalf = behalf or email
                matched = subj.id
            juris = parse_regime(regime) if regime else None
            if matched is not None:
                subj = get_subject(conn, matched)
                tenant_id = tenant_id or subj.tenant_id
                juris = juris or ctx.policy.regime_of(subj.jurisdiction)
            juris = juris or ctx.policy.default_jurisdiction
            zone = ctx.policy.policy.organisation.zone(juris)
            at = receipt_time(received_at, now=now, zone=zone)
            received = local_day(at, zone)
            row = {
                "id": rid,
                "kind": kind.value,
                "state": RequestState.received.value,
                "subject_id": matched,
                "tenant_id": tenant_id,
                "email_bidx": ctx.keys.blind_index("email", email) if email else None,
                "contact": _contact.seal_contact(ctx.keys, rid, email) if email else None,
                "regime": juris.value,
                "channel": channel.value,
                "on_behalf": behalf is not None,
                "on_behalf_of": behalf,
                "source_ref": source_ref,
                "received_at": at,
                "acknowledge_by": acknowledge_by(juris, received),
                "due_at": due_date(juris, received),
                "details": dict(details or {}),
                "code_attempts": 0,
                "codes_sent": 0,
                "updated_at": now,
            }
            conn.execute(requests.insert().values(**row))
            self._event(conn, rid, actor.label, "received", None, RequestState.received, {})
            req = self._load(conn, rid)
            self._audit(conn, req, actor, "request.open", channel=channel.value)
            if email:
                self._tell(conn, req, "ack", received=received, due=req.due_at)
                conn.execute(
                    update(requests).where(requests.c.id == rid).values(acknowledged_at=now)
                )
            if behalf is not None:
                self._move(conn, req, RequestState.awaiting_approval, actor, "on_behalf")
                if email:
                    self._tell(conn, req, "behalf")
            else:
                self._move(conn, req, RequestState.identity_unverified, actor, "verifying")
                if email:
                    self._send_code(conn, self._load(conn, rid))
            return self._load(conn, rid)

    def _refuse_other_tenant(
        self, actor: Actor, subject_id: str | None, tenant_id: str | None
    ) -> NoReturn:
        """A request for a person of another tenant than the one named (or the caller's):
        audited as refused (``not_a_member``), answered as an unknown person, as every
        other tenant's id is."""
        gone = (
            NotFound(f"no tenant {tenant_id!r}")
            if subject_id is None
            else NotFound(f"no subject {subject_id!r}", subject_id=subject_id)
        )
        refuse(
            self.ctx,
            "request.open",
            actor,
            Reason.not_a_member,
            error=gone,
            subject_id=subject_id,
            tenant_id=actor.tenant_id or tenant_id,
        )

    def ingest(self, path: Path | str, *, actor: Actor = SYSTEM) -> IngestReport:
        """Open a request (channel email) for each recognised ``.eml`` in ``path`` (a file
        or a folder); a Message-ID seen before is skipped; the rest is reported."""
        report = IngestReport()
        for p in message_files(Path(path)):
            found = read_message(p)
            if found.kind is None or found.sender is None or found.message_id is None:
                report.unrecognised.append(found)
                continue
            try:
                req = self.open(
                    found.kind,
                    email=found.sender,
                    channel=Channel.email,
                    on_behalf_of=found.sender if found.on_behalf else None,
                    details={"subject": found.subject[:200], "source": "email"},
                    source_ref=found.message_id[:255],
                    # Sent Friday, ingested Monday, is received Friday: the server's
                    # Received stamp, else the Date header.
                    received_at=_not_after(found.received_at, self.ctx.clock.now()),
                    actor=actor,
                )
            except Conflict as exc:
                if exc.code != "duplicate":
                    raise
                report.duplicates.append(str(p))
                continue
            except ValidationError as exc:
                if exc.code != "received_too_old":
                    raise
                found.problem = f"{exc.message}; open it by hand with --received"
                report.unrecognised.append(found)
                continue
            report.opened.append(req)
        return report

    # -- identity ------------------------------------------------------------------------
    def send_code(self, request_id: str) -> None:
        """Send a new one-time code to the request's address (the old one stops working)."""
        with transaction(self.ctx) as conn:
            req = self._load(conn, request_id)
            if req.state is not RequestState.identity_unverified and not (
                req.state is RequestState.extended and req.verified_at is None
            ):
                raise Conflict(
                    f"request {request_id} is {req.state}: no code is needed",
                    code="no_code_needed",
                )
            self._send_code(conn, req)

    def verify(self, request_id: str, code: str) -> RequestRecord:
        """Check the one-time code (constant time). Wrong: AuthenticationError with the
        attempts left; expired: AuthenticationError ``code_expired``; after 5 wrong
        attempts the request is locked (RateLimited): staff must verify it."""
        now = self.ctx.clock.now()
        failure: Exception | None = None
        with transaction(self.ctx) as conn:
            req = self._load(conn, request_id)
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
            row = conn.execute(
                select(requests.c.code_hash, requests.c.code_expires_at).where(
                    requests.c.id == request_id
                )
            ).one()
            if row.code_hash is None:
                raise Conflict(f"no code was sent for request {request_id}", code="no_code")
            given = _contact.hash_code(self.ctx.keys, request_id, str(code).strip())
            if row.code_expires_at is None or row.code_expires_at <= now:
                failure = AuthenticationError(
                    f"the code for request {request_id} has expired: ask for a new one",
                    code="code_expired",
                )
            elif not _contact.codes_match(row.code_hash, given):
                attempts = req.code_attempts + 1
                conn.execute(
                    update(requests)
                    .where(requests.c.id == request_id)
                    .values(code_attempts=attempts, updated_at=now)
                )
                left = MAX_CODE_ATTEMPTS - attempts
                self._event(conn, request_id, "system", "code_wrong", None, None, {"left": left})
                if left <= 0:
                    conn.execute(
                        update(requests).where(requests.c.id == request_id).values(code_hash=None)
                    )
                    self._audit(conn, req, SYSTEM, "request.locked", outcome=Outcome.deny)
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
                conn.execute(
                    update(requests)
                    .where(requests.c.id == request_id)
                    .values(code_hash=None, verified_at=now, verification="code", updated_at=now)
                )
                self._verified(conn, req, f"subject:{req.subject_id or 'requester'}")
        if failure is not None:
            raise failure
        return self.get(request_id)

    def verify_by_staff(self, request_id: str, *, staff: str, reason: str) -> RequestRecord:
        """Verify identity (and, for a request on someone's behalf, the authority to act)
        by a member of staff, with the reason recorded."""
        if not staff.strip() or not reason.strip():
            raise ValidationError(
                "staff verification needs who verified (staff) and how (reason)",
                code="reason_required",
            )
        now = self.ctx.clock.now()
        with transaction(self.ctx) as conn:
            req = self._load(conn, request_id)
            self._check_unverified(req)
            conn.execute(
                update(requests)
                .where(requests.c.id == request_id)
                .values(
                    code_hash=None,
                    verified_at=now,
                    verified_by=staff[:255],
                    verification="staff",
                    updated_at=now,
                )
            )
            self._verified(conn, req, f"staff:{staff}", reason=reason[:1000])
        return self.get(request_id)

    def verify_by_signin(self, request_id: str, subject_id: str) -> RequestRecord:
        """Verify a request opened by a person signed in to the privacy centre: they proved
        control of their address with the sign-in code, so no second code is asked.
        Only for a request of that same person, not made on someone else's behalf."""
        now = self.ctx.clock.now()
        with transaction(self.ctx) as conn:
            req = self._load(conn, request_id)
            if req.subject_id is None or req.subject_id != subject_id or req.on_behalf:
                raise PermissionDenied(
                    f"request {request_id} is not this signed-in person's own request:"
                    " staff must verify it",
                    code="staff_verification_required",
                )
            self._check_unverified(req)
            conn.execute(
                update(requests)
                .where(requests.c.id == request_id)
                .values(code_hash=None, verified_at=now, verification="signin", updated_at=now)
            )
            self._verified(conn, req, f"subject:{subject_id}", method="privacy_centre_signin")
        return self.get(request_id)

    # -- deadlines -----------------------------------------------------------------------
    def extend(
        self,
        request_id: str,
        reason: str,
        *,
        extend_by: int | None = None,
        actor: Actor = SYSTEM,
    ) -> RequestRecord:
        """Extend the deadline inside the regime's window (REGULATIONS.md), with the
        reason recorded and told to the person."""
        if not reason or not reason.strip():
            raise ValidationError(
                "an extension needs a reason the person is told", code="reason_required"
            )
        self._desk(request_id, actor)
        with transaction(self.ctx) as conn:
            req = self._load(conn, request_id)
            if req.extended_due_at is not None:
                raise Conflict(
                    f"request {request_id} was already extended to {req.extended_due_at}",
                    code="already_extended",
                )
            check_transition(req.id, req.state, RequestState.extended)
            new_due = extended_due(
                req.regime,
                req.received_on,
                self.today(req.regime),
                extend_by=extend_by,
            )
            conn.execute(
                update(requests)
                .where(requests.c.id == request_id)
                .values(extended_due_at=new_due, extension_reason=reason[:2000])
            )
            self._move(conn, req, RequestState.extended, actor, "extended", reason=reason[:500])
            self._tell(conn, req, "extended", reason=reason, due=new_due)
            return self._load(conn, request_id)

    def refuse(self, request_id: str, *, reason: str, actor: Actor = SYSTEM) -> RequestRecord:
        """Refuse a request with a reason the person is told (e.g. manifestly unfounded)."""
        if not reason.strip():
            raise ValidationError(
                "a refusal needs a reason the person is told", code="reason_required"
            )
        self._desk(request_id, actor)
        now = self.ctx.clock.now()
        with transaction(self.ctx) as conn:
            req = self._load(conn, request_id)
            check_transition(req.id, req.state, RequestState.refused)
            conn.execute(
                update(requests)
                .where(requests.c.id == request_id)
                .values(closed_at=now, result={"refused": reason[:2000]})
            )
            self._move(conn, req, RequestState.refused, actor, "refused", reason=reason[:500])
            self._tell(conn, req, "refused", reason=reason)
            return self._load(conn, request_id)

    # -- reading -------------------------------------------------------------------------
    def history(self, request_id: str) -> list[dict[str, Any]]:
        """Every event of a request, oldest first."""
        self.get(request_id)
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
        (keyset pagination)."""
        today = self.today()
        deadline = func.coalesce(requests.c.extended_due_at, requests.c.due_at)
        stmt = select(requests.c.id)
        if subject_id is not None:
            stmt = stmt.where(requests.c.subject_id == subject_id)
        if state is not None:
            try:
                stmt = stmt.where(requests.c.state == RequestState(state).value)
            except ValueError:
                known = ", ".join(s.value for s in RequestState)
                raise ValidationError(f"unknown state {state!r}: use one of {known}") from None
        elif not include_closed:
            stmt = stmt.where(requests.c.state.in_([s.value for s in OPEN_STATES]))
        if due_within is not None:
            if due_within < 0:
                raise ValidationError("due_within is a number of days >= 0")
            stmt = stmt.where(deadline <= today + timedelta(days=due_within))
        if overdue:
            stmt = stmt.where(deadline < today)
        r = requests.c
        stmt = stmt.order_by(deadline, r.received_at, r.id).limit(limit)
        with self.ctx.engine.connect() as conn:
            if after is not None:
                last = self._load(conn, after)
                d, at = last.deadline, last.received_at
                stmt = stmt.where(
                    (deadline > d)
                    | ((deadline == d) & (r.received_at > at))
                    | ((deadline == d) & (r.received_at == at) & (r.id > last.id))
                )
            return [self._load(conn, rid) for rid in conn.execute(stmt).scalars()]

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
        return [self.get(rid) for rid in ids]

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
        today = self.today()
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
        if overdue:
            where.append(deadline < today)
        if received_since is not None:
            where.append(r.received_at >= received_since)
        if received_until is not None:
            where.append(r.received_at < received_until)
        if limit < 1 or limit > 10_000 or offset < 0:
            raise ValidationError("limit is 1 to 10000 and offset 0 or more")
        ids = (
            select(r.id)
            .where(*where)
            .order_by(deadline, r.received_at, r.id)
            .limit(limit)
            .offset(offset)
        )
        with self.ctx.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(requests).where(*where))
            n = int(total.scalar_one())
            return [self._load(conn, rid) for rid in conn.execute(ids).scalars()], n

    def set_details(
        self,
        request_id: str,
        *,
        changes: Mapping[str, Any] | None = None,
        purposes: Iterable[str] | None = None,
        actor: Actor = SYSTEM,
    ) -> RequestRecord:
        """Say what to correct (``changes``) or which purposes to limit (``purposes``) when
        the request did not (an e-mail rarely does)."""
        with transaction(self.ctx) as conn:
            req = self._load(conn, request_id)
            if req.state not in OPEN_STATES:
                raise Conflict(f"request {request_id} is {req.state}", code="request_closed")
            details = dict(req.details)
            if changes is not None:
                details["changes"] = dict(changes)
            if purposes is not None:
                details["purposes"] = execution.check_purposes(self.ctx, list(purposes))
            conn.execute(
                update(requests).where(requests.c.id == request_id).values(details=details)
            )
            self._event(
                conn, request_id, actor.label, "details", None, None, {"keys": sorted(details)}
            )
            return self._load(conn, request_id)

    # -- the request log (CCPA 11 CCR 7101) ------------------------------------------------
    def purge_request_logs(self, *, batch: int = 1_000) -> int:
        """Remove the personal details of requests closed more than 24 months ago (the
        CCPA log retention, ``deadlines.CCPA_OPT_OUT``), keeping the log: date, nature
        (kind), manner (channel), response date, response and reason for any denial.
        Their events and download files go too. The worker runs this; returns how many."""
        if batch < 1:
            raise ValidationError("batch is a number of requests >= 1")
        now = self.ctx.clock.now()
        # A request may go once request_log_keep_until(closed) has passed; a row purged is
        # touched again only 24 months after the purge (updated_at), so runs stay cheap.
        cutoff = datetime.combine(
            now.date() - relativedelta(months=CCPA_OPT_OUT.log_retention_months),
            time.min,
            tzinfo=UTC,
        )
        r = requests.c
        closed = [RequestState.completed.value, RequestState.refused.value]
        done = 0
        while True:
            with transaction(self.ctx) as conn:
                rows = conn.execute(
                    select(r.id, r.state, r.result)
                    .where(r.state.in_(closed), r.closed_at < cutoff, r.updated_at < cutoff)
                    .order_by(r.closed_at, r.id)
                    .limit(batch)
                ).all()
                if not rows:
                    return done
                ids = [row.id for row in rows]
                files = conn.execute(
                    select(request_exports.c.path).where(request_exports.c.request_id.in_(ids))
                ).scalars()
                for path in files:
                    Path(path).unlink(missing_ok=True)
                conn.execute(request_exports.delete().where(request_exports.c.request_id.in_(ids)))
                conn.execute(request_events.delete().where(request_events.c.request_id.in_(ids)))
                conn.execute(
                    update(requests)
                    .where(r.id == bindparam("rid"))
                    .values(result=bindparam("log"), updated_at=now, **_LOG_ONLY),
                    [{"rid": row.id, "log": _log_result(row.state, row.result)} for row in rows],
                )
                append_entries(
                    conn,
                    now,
                    [
                        AuditEntry(
                            action="request.log_purged",
                            actor=SYSTEM.label,
                            details={
                                "requests": len(ids),
                                "closed_before": cutoff.date().isoformat(),
                                "rule": "CCPA request log kept 24 months (11 CCR 7101(a))",
                            },
                        )
                    ],
                )
            done += len(rows)
            if len(rows) < batch:
                return done

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

    def _verified(self, conn: Connection, req: RequestRecord, who: str, **details: Any) -> None:
        actor = Actor(ActorKind.staff, who[6:]) if who.startswith("staff:") else SYSTEM
        if req.state is RequestState.extended:
            # Still extended: the deadline stands; verification is recorded as an event.
            self._event(conn, req.id, who, "verified", req.state, req.state, details)
            self._audit(conn, req, actor, "request.verified", **details)
            return
        self._move(conn, req, RequestState.verified, actor, "verified", **details)

    def _send_code(self, conn: Connection, req: RequestRecord) -> None:
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
        code = _contact.new_code()
        now = self.ctx.clock.now()
        conn.execute(
            update(requests)
            .where(requests.c.id == req.id)
            .values(
                code_hash=_contact.hash_code(self.ctx.keys, req.id, code),
                code_expires_at=now + timedelta(minutes=CODE_MINUTES),
                codes_sent=req.codes_sent + 1,
                updated_at=now,
            )
        )
        self._event(conn, req.id, "system", "code_sent", None, None, {"n": req.codes_sent + 1})
        self._tell(
            conn, req, "code", key=f"code:{req.codes_sent + 1}", code=code, minutes=CODE_MINUTES
        )


# What a request keeps after the log retention: no one can be told apart by it.
_LOG_ONLY: dict[str, Any] = {
    "subject_id": None,
    "email_bidx": None,
    "contact": None,
    "on_behalf_of": None,
    "source_ref": None,
    "verified_by": None,
    "extension_reason": None,
    "code_hash": None,
    "code_expires_at": None,
    "details": {},
    "error": None,
}


def _log_result(state: str, result: Mapping[str, Any] | None) -> dict[str, Any]:
    """The response as the log keeps it (7101(a)): completed, or refused and why."""
    log: dict[str, Any] = {"response": state}
    if state == RequestState.refused.value and result and result.get("refused"):
        log["denial_reason"] = str(result["refused"])[:2000]
    return log


def _not_after(at: datetime | None, now: datetime) -> datetime | None:
    """A Date header later than now is a sender's clock running fast: received now."""
    return None if at is None else min(at, now)
