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
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, select, update

from troth.audit.entry import AuditEntry, Outcome
from troth.audit.log import append_entries, transaction
from troth.connectors import Connector
from troth.consent.events import ConsentMethod
from troth.context import Context
from troth.errors import (
    AuthenticationError,
    Conflict,
    ConnectorError,
    NotFound,
    PermissionDenied,
    RateLimited,
    ValidationError,
)
from troth.gate import SYSTEM, Actor, ActorKind
from troth.notices.outbox import enqueue
from troth.policy.model import Regime
from troth.requests import _contact, execution, holdings, package
from troth.requests.connected import identities_of, open_connector
from troth.requests.deadlines import acknowledge_by, due_date, extended_due
from troth.requests.intake import Recognised, message_files, read_message
from troth.requests.letters import letter
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
from troth.store import StoredValue, find_subject_id, get_subject, new_id, read_values
from troth.store.tables import restrictions

CODE_MINUTES = 15
MAX_CODE_ATTEMPTS = 5
MAX_CODES = 5
_EXECUTABLE = frozenset({RequestState.verified, RequestState.extended, RequestState.in_progress})


@dataclass(frozen=True)
class RequestRecord:
    """A request as stored (the contact address decrypted)."""

    id: str
    kind: RequestKind
    state: RequestState
    subject_id: str | None
    tenant_id: str | None
    regime: str
    channel: Channel
    on_behalf: bool
    on_behalf_of: str | None
    email: str | None
    received_at: datetime
    acknowledged_at: datetime | None
    acknowledge_by: date | None
    due_at: date
    extended_due_at: date | None
    extension_reason: str | None
    verified_at: datetime | None
    verified_by: str | None
    verification: str | None
    details: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    closed_at: datetime | None
    code_attempts: int = 0
    codes_sent: int = 0
    # Only on the value execute() returns for an access request: the link's secret.
    download_token: str | None = field(default=None, repr=False)

    @property
    def deadline(self) -> date:
        """The date the answer is due (the extended one when extended)."""
        return self.extended_due_at or self.due_at

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name in ("download_token", "code_attempts", "codes_sent"):
                continue
            v = getattr(self, f.name)
            out[f.name] = v.isoformat() if isinstance(v, date | datetime) else v
        out["deadline"] = self.deadline.isoformat()
        return out


@dataclass
class IngestReport:
    """What ``ingest`` did with each message."""

    opened: list[RequestRecord] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)  # paths already ingested
    unrecognised: list[Recognised] = field(default_factory=list)


@dataclass(frozen=True)
class ExportLink:
    token: str
    url: str
    expires_at: datetime


class RequestService:
    """Requests for one troth. ``environ`` gives connected datasets' URLs (default: the
    process environment)."""

    def __init__(self, ctx: Context, *, environ: Mapping[str, str] | None = None) -> None:
        self.ctx = ctx
        self.environ = environ

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
        actor: Actor = SYSTEM,
    ) -> RequestRecord:
        """Open a request, match it to the person, set its legal deadline, acknowledge it
        and start identity verification (a code by e-mail; staff for a request made on
        someone else's behalf). All in one transaction."""
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
            juris = Regime(regime) if regime else None
            if matched is not None:
                subj = get_subject(conn, matched)
                tenant_id = tenant_id or subj.tenant_id
                juris = juris or _regime(subj.jurisdiction, ctx)
            juris = juris or ctx.policy.default_jurisdiction
            received = now.date()
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
                "received_at": now,
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
                    actor=actor,
                )
            except Conflict as exc:
                if exc.code != "duplicate":
                    raise
                report.duplicates.append(str(p))
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
                req.received_at.date(),
                self.ctx.clock.now().date(),
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
    def get(self, request_id: str) -> RequestRecord:
        with self.ctx.engine.connect() as conn:
            return self._load(conn, request_id)

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
    ) -> list[RequestRecord]:
        """Requests by deadline: open ones due within ``due_within`` days (0: today),
        ``overdue`` ones (deadline passed), in a ``state``; oldest deadline first."""
        today = self.ctx.clock.now().date()
        deadline = func.coalesce(requests.c.extended_due_at, requests.c.due_at)
        stmt = select(requests.c.id)
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
        stmt = stmt.order_by(deadline, requests.c.received_at).limit(limit)
        with self.ctx.engine.connect() as conn:
            return [self._load(conn, rid) for rid in conn.execute(stmt).scalars()]

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

    # -- execution -----------------------------------------------------------------------
    def execute(self, request_id: str, *, actor: Actor = SYSTEM) -> RequestRecord:
        """Carry out a verified request over troth's store and every connected dataset,
        store the report, tell the person. A connected database that is down leaves the
        request in_progress (the person is told of the delay); run it again to resume."""
        req = self.get(request_id)
        if req.state in (RequestState.completed, RequestState.refused):
            raise Conflict(f"request {request_id} is already {req.state}", code="request_closed")
        if req.verified_at is None:
            raise Conflict(
                f"request {request_id} is {req.state}: the person's identity is not verified;"
                " nothing is done until it is (a code by e-mail, or staff verification)",
                code="identity_unverified",
            )
        check_transition(req.id, req.state, RequestState.in_progress)
        with transaction(self.ctx) as conn:
            req = self._load(conn, request_id)
            check_transition(req.id, req.state, RequestState.in_progress)
            self._move(conn, req, RequestState.in_progress, actor, "started")
        req = self.get(request_id)
        connector = open_connector(self.ctx, self.environ)
        try:
            return self._run(req, connector, actor)
        except ConnectorError as exc:
            self._interrupted(req, exc)
            raise ConnectorError(
                f"{exc.message}. Request {request_id} waits in_progress: run `troth requests"
                f" execute {request_id}` to resume",
                code=exc.code,
                request_id=request_id,
            ) from exc
        finally:
            if connector is not None:
                connector.close()

    def _run(self, req: RequestRecord, connector: Connector | None, actor: Actor) -> RequestRecord:
        kind = req.kind
        if kind in (RequestKind.access, RequestKind.portability):
            return self._access(req, connector, actor)
        if kind in (RequestKind.delete, RequestKind.close_account):
            return self._erase(req, connector, actor)
        if kind is RequestKind.correct:
            return self._correct(req, connector, actor)
        if kind is RequestKind.restrict:
            return self._restrict(req, actor)
        return self._object(req, actor)

    def _values(self, req: RequestRecord) -> builtins.list[StoredValue]:
        if req.subject_id is None:
            return []
        with self.ctx.engine.connect() as conn:
            return read_values(conn, self.ctx, req.subject_id)

    def _access(
        self, req: RequestRecord, connector: Connector | None, actor: Actor
    ) -> RequestRecord:
        body: dict[str, Any] = (
            holdings.subject_holdings(self.ctx, req.subject_id)
            if req.subject_id
            else {"subject": None, "categories": {}}
        )
        datasets: list[dict[str, Any]] = []
        if connector is not None:
            ids = identities_of(self.ctx, self._values(req), {"email": req.email})
            if ids:
                datasets = [d.to_dict() for d in connector.export(ids) if d.tables]
        doc = package.document(
            self.ctx, body, request={"id": req.id, "kind": req.kind.value}, datasets=datasets
        )
        data = package.build_zip(doc, f"Your data held by {doc['controller']['name']}")
        found = sum(len(s["values"]) for s in body["categories"].values())
        rows = sum(len(t["rows"]) for d in datasets for t in d["tables"].values())
        result: dict[str, Any] = {
            "systems": [{"system": "troth", "found": found}]
            + [
                {
                    "system": f"dataset:{d['dataset']}",
                    "found": sum(len(t["rows"]) for t in d["tables"].values()),
                    "tables": {n: len(t["rows"]) for n, t in d["tables"].items()},
                }
                for d in datasets
            ],
            "categories": sorted(body["categories"]),
        }
        with transaction(self.ctx) as conn:
            link = self._store_export(conn, data, request_id=req.id, tenant_id=None)
            result["export"] = {"expires_at": link.expires_at.isoformat(), "bytes": len(data)}
            done = self._complete(
                conn,
                req,
                result,
                actor,
                categories=tuple(result["categories"]),
                link=link,
                summary=[f"{found} values in our own store, {rows} rows in our other systems"],
            )
        return replace(done, download_token=link.token)

    def _erase(
        self, req: RequestRecord, connector: Connector | None, actor: Actor
    ) -> RequestRecord:
        systems: list[dict[str, Any]] = []
        if connector is not None:
            ids = identities_of(self.ctx, self._values(req), {"email": req.email})
            if ids:
                # Connected datasets first: their job is resumable and keeps the identities
                # it needs; troth's own part (which erases those identities) comes last.
                for rep in connector.erase(ids, job_id=f"request-{req.id}"):
                    systems.append(_dataset_summary(rep.to_dict()))
        with transaction(self.ctx) as conn:
            if req.subject_id is not None:
                if req.kind is RequestKind.close_account:
                    execution.close_relationship(conn, self.ctx, req.subject_id)
                systems.insert(0, execution.erase_in_store(conn, self.ctx, req.subject_id))
            else:
                systems.insert(0, {"system": "troth", "found": 0, "deleted": 0, "kept": 0})
            summary = [
                f"{s['system']}: {s['found']} found, {s.get('deleted', 0)} deleted,"
                f" {s.get('masked', 0)} masked, {s.get('kept', 0)} kept"
                for s in systems
            ]
            summary += [k["reason"] for s in systems for k in s.get("kept_because", [])]
            return self._complete(conn, req, {"systems": systems}, actor, summary=summary)

    def _correct(
        self, req: RequestRecord, connector: Connector | None, actor: Actor
    ) -> RequestRecord:
        changes = dict(req.details.get("changes") or {})
        values = self._values(req)
        mapped: set[str] = set()
        if connector is not None:
            for name in connector.datasets:
                for per in connector.runner(name).field_map().values():
                    mapped |= set(per.values())
        execution.check_corrections(self.ctx, values, changes, mapped)
        systems: list[dict[str, Any]] = []
        wanted = {k: v for k, v in changes.items() if k in mapped}
        if connector is not None and wanted:
            ids = identities_of(self.ctx, values, {"email": req.email})
            for rep in connector.correct(ids, wanted):
                systems.append(_dataset_summary(rep.to_dict()))
        with transaction(self.ctx) as conn:
            if req.subject_id is not None:
                systems.insert(
                    0, execution.correct_in_store(conn, self.ctx, req.subject_id, changes)
                )
            summary = [f"{s['system']}: {s.get('corrected', 0)} corrected" for s in systems]
            return self._complete(
                conn, req, {"systems": systems, "fields": sorted(changes)}, actor, summary=summary
            )

    def _restrict(self, req: RequestRecord, actor: Actor) -> RequestRecord:
        purposes = execution.check_purposes(self.ctx, list(req.details.get("purposes") or []))
        with transaction(self.ctx) as conn:
            new: list[str] = []
            if req.subject_id is not None:
                new = execution.restrict_in_store(
                    conn, self.ctx, req.subject_id, purposes, req.id, self.ctx.clock.now()
                )
            result = {"systems": [{"system": "troth", "restricted": purposes, "new": new}]}
            return self._complete(
                conn, req, result, actor, summary=[f"limited: {', '.join(purposes)}"]
            )

    def _object(self, req: RequestRecord, actor: Actor) -> RequestRecord:
        purposes = list(req.details.get("purposes") or execution.marketing_purposes(self.ctx))
        purposes = execution.check_purposes(self.ctx, purposes) if purposes else []
        method = {
            Channel.self_service: ConsentMethod.web_form,
            Channel.api: ConsentMethod.api,
        }.get(req.channel, ConsentMethod.staff)
        with transaction(self.ctx) as conn:
            part: dict[str, Any] = {"system": "troth", "withdrawn": [], "restricted": []}
            if req.subject_id is not None and purposes:
                part = execution.object_in_store(
                    conn, self.ctx, req.subject_id, purposes, req.id, method, actor.label
                )
            return self._complete(
                conn,
                req,
                {"systems": [part]},
                actor,
                summary=[f"no more marketing for: {', '.join(purposes) or 'none held'}"],
            )

    def lift_restriction(
        self, request_id: str, purposes: Iterable[str] | None = None, *, actor: Actor = SYSTEM
    ) -> builtins.list[str]:
        """Lift the restrictions a request placed (all, or the named purposes): the gate
        allows those uses again. Returns the purposes lifted."""
        req = self.get(request_id)
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
            self._event(conn, req.id, actor.label, "lifted", None, None, {"purposes": gone})
            self._audit(conn, req, actor, "request.restriction_lifted", purposes=gone)
        return gone

    # -- exports -------------------------------------------------------------------------
    def export_tenant(self, tenant_id: str, *, actor: Actor = SYSTEM) -> ExportLink:
        """A tenant's complete data (P29) as the same ZIP; for the tenant's own admins,
        staff and troth itself."""
        if actor.kind in (ActorKind.tenant_admin, ActorKind.tenant_member):
            from troth.access import actor_facts

            with self.ctx.engine.connect() as conn:
                member, _ = actor_facts(conn, self.ctx, actor, tenant_id)
            if not member or actor.kind is not ActorKind.tenant_admin:
                raise PermissionDenied(
                    "only an active admin of this tenant may export its data",
                    code="not_tenant_admin",
                )
        elif actor.kind not in (ActorKind.staff, ActorKind.system):
            raise PermissionDenied("tenant exports are for the tenant's admins", code="forbidden")
        body = holdings.tenant_holdings(self.ctx, tenant_id)
        doc = package.document(self.ctx, body, tenant_id=tenant_id)
        data = package.build_zip(doc, f"Data of tenant {body['tenant']['name']}")
        with transaction(self.ctx) as conn:
            link = self._store_export(conn, data, request_id=None, tenant_id=tenant_id)
            append_entries(
                conn,
                self.ctx.clock.now(),
                [
                    AuditEntry(
                        action="tenant.export",
                        actor=actor.label,
                        tenant_id=tenant_id,
                        details={"subjects": len(body["subjects"]), "bytes": len(data)},
                    )
                ],
            )
        return link

    def download(self, token: str) -> bytes:
        """The ZIP behind a download link; NotFound when unknown, expired or purged."""
        now = self.ctx.clock.now()
        h = _contact.hash_token(self.ctx.keys, token)
        with transaction(self.ctx) as conn:
            row = conn.execute(
                select(request_exports).where(request_exports.c.token_hash == h)
            ).first()
            if row is None or row.purged_at is not None:
                raise NotFound(
                    "no such download: the link is wrong or was removed", code="no_export"
                )
            if row.expires_at <= now:
                raise NotFound(
                    f"this download link expired on {row.expires_at:%Y-%m-%d %H:%M} UTC: make a"
                    " new request for your data",
                    code="export_expired",
                )
            conn.execute(
                update(request_exports)
                .where(request_exports.c.token_hash == h)
                .values(downloaded_at=now)
            )
        return _contact.open_file(token, Path(row.path).read_bytes())

    def purge_exports(self) -> int:
        """Delete the files of expired links (the worker runs this); returns how many."""
        now = self.ctx.clock.now()
        with transaction(self.ctx) as conn:
            rows = conn.execute(
                select(request_exports.c.token_hash, request_exports.c.path).where(
                    request_exports.c.expires_at <= now, request_exports.c.purged_at.is_(None)
                )
            ).all()
            for _, path in rows:
                Path(path).unlink(missing_ok=True)
            if rows:
                conn.execute(
                    update(request_exports)
                    .where(request_exports.c.token_hash.in_([h for h, _ in rows]))
                    .values(purged_at=now)
                )
        return len(rows)

    # -- internals -----------------------------------------------------------------------
    def _store_export(
        self, conn: Connection, data: bytes, *, request_id: str | None, tenant_id: str | None
    ) -> ExportLink:
        now = self.ctx.clock.now()
        token = _contact.new_token()
        h = _contact.hash_token(self.ctx.keys, token)
        path = package.exports_dir(self.ctx) / f"{h[:32]}.zip.enc"
        path.write_bytes(_contact.seal_file(token, data))
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
            )
        )
        url = f"{self.ctx.settings.public_url.rstrip('/')}/privacy/download/{token}"
        return ExportLink(token, url, expires)

    def _complete(
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
        cur = self._load(conn, req.id)
        check_transition(req.id, cur.state, RequestState.completed)
        conn.execute(
            update(requests)
            .where(requests.c.id == req.id)
            .values(result=result, error=None, closed_at=now)
        )
        self._move(conn, cur, RequestState.completed, actor, "completed")
        self._audit(
            conn, cur, actor, f"request.{req.kind.value}", categories=categories, result=result
        )
        facts: dict[str, Any] = {"summary": summary or []}
        if link is not None:
            facts.update(link=link.url, expires=f"{link.expires_at:%Y-%m-%d %H:%M} UTC")
        self._tell(conn, cur, "done", **facts)
        return self._load(conn, req.id)

    def _interrupted(self, req: RequestRecord, exc: ConnectorError) -> None:
        with transaction(self.ctx) as conn:
            cur = self._load(conn, req.id)
            conn.execute(
                update(requests)
                .where(requests.c.id == req.id)
                .values(error=exc.message[:2000], updated_at=self.ctx.clock.now())
            )
            n = conn.execute(
                select(func.count())
                .select_from(request_events)
                .where(
                    request_events.c.request_id == req.id, request_events.c.event == "interrupted"
                )
            ).scalar_one()
            self._event(
                conn, req.id, "system", "interrupted", None, None, {"error": exc.message[:500]}
            )
            self._audit(
                conn,
                cur,
                SYSTEM,
                "request.interrupted",
                outcome=Outcome.info,
                error=exc.message[:500],
            )
            self._tell(conn, cur, "delayed", key=f"delayed:{n}", due=cur.deadline)

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

    def _tell(
        self, conn: Connection, req: RequestRecord, what: str, key: str | None = None, **facts: Any
    ) -> None:
        """Mail the person about their request, through the outbox (transactional)."""
        if req.email is None:
            return
        org = self.ctx.policy.policy.organisation.name
        subject, body = letter(what, org, req.id, req.kind.value, **facts)
        enqueue(
            conn,
            self.ctx,
            idempotency_key=f"request:{req.id}:{key or what}",
            to_addr=req.email,
            subject=subject,
            body_text=body,
            subject_id=req.subject_id,
            kind="transactional",
        )

    def _move(
        self,
        conn: Connection,
        req: RequestRecord,
        new: RequestState,
        actor: Actor,
        event: str,
        **details: Any,
    ) -> None:
        """Move a request to ``new`` (Conflict if not allowed, or if it moved meanwhile)."""
        cur = self._load(conn, req.id)
        check_transition(req.id, cur.state, new)
        done = conn.execute(
            update(requests)
            .where(requests.c.id == req.id, requests.c.state == cur.state.value)
            .values(state=new.value, updated_at=self.ctx.clock.now())
        ).rowcount
        if done != 1:
            raise Conflict(f"request {req.id} changed meanwhile; look again", code="changed")
        self._event(conn, req.id, actor.label, event, cur.state, new, details)
        self._audit(conn, cur, actor, f"request.{event}", to=new.value, **details)

    def _event(
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

    def _audit(
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
        append_entries(
            conn,
            self.ctx.clock.now(),
            [
                AuditEntry(
                    action=action,
                    actor=actor.label,
                    outcome=outcome,
                    subject_id=req.subject_id,
                    tenant_id=req.tenant_id,
                    categories=categories,
                    details={"request_id": req.id, "kind": req.kind.value, **details},
                )
            ],
        )

    def _load(self, conn: Connection, request_id: str) -> RequestRecord:
        row = conn.execute(select(requests).where(requests.c.id == request_id)).mappings().first()
        if row is None:
            raise NotFound(
                f"no request {request_id!r}: `troth requests list` shows the open ones",
                code="unknown_request",
                request_id=request_id,
            )
        return RequestRecord(
            id=row["id"],
            kind=RequestKind(row["kind"]),
            state=RequestState(row["state"]),
            subject_id=row["subject_id"],
            tenant_id=row["tenant_id"],
            regime=row["regime"],
            channel=Channel(row["channel"]),
            on_behalf=bool(row["on_behalf"]),
            on_behalf_of=row["on_behalf_of"],
            email=_contact.open_contact(self.ctx.keys, row["id"], row["contact"]),
            received_at=row["received_at"],
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
        )


def _regime(jurisdiction: str | None, ctx: Context) -> Regime:
    try:
        return Regime(jurisdiction or "")
    except ValueError:
        return ctx.policy.default_jurisdiction


def _dataset_summary(rep: dict[str, Any]) -> dict[str, Any]:
    tables = rep.get("tables", {})

    def total(key: str) -> int:
        return sum(int(t.get(key, 0)) for t in tables.values())

    kept = [{**k, "table": name} for name, t in tables.items() for k in t.get("kept_because", [])]
    return {
        "system": f"dataset:{rep['dataset']}",
        "location": rep.get("location"),
        "found": total("found"),
        "deleted": total("deleted"),
        "masked": total("masked") + total("nulled") + total("hashed"),
        "corrected": total("corrected"),
        "kept": total("kept"),
        "kept_because": kept,
        "tables": tables,
    }
