"""Requests coming in: opened (matched to the person, dated where the organisation is,
their legal deadline set, acknowledged, identity verification started), or ingested from
e-mail (:mod:`troth.requests.mailbox` recognises what a message asks)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

from sqlalchemy import Connection, func, select

from troth.access.offboarded import closed_refusal, ensure_open, refuse_closed
from troth.access.seals import seal_new
from troth.audit.log import transaction
from troth.audit.refusals import Refusal, refuse
from troth.collection.validation import check_email, parse_regime
from troth.context import Context
from troth.errors import Conflict, NotFound, RateLimited, ValidationError
from troth.gate import SYSTEM, Actor, ActorKind, Reason
from troth.policy.model import Regime
from troth.policy.parties import customers_control
from troth.requests import _contact
from troth.requests.changes import check_changes
from troth.requests.elsewhere import at_desk
from troth.requests.mailbox import message_files, read_message
from troth.requests.opt_out import dates_for
from troth.requests.receipt import local_day, receipt_time
from troth.requests.record import MARKS, IngestReport, RequestRecord
from troth.requests.states import (
    Channel,
    RequestKind,
    RequestState,
    parse_channel,
    parse_kind,
)
from troth.requests.steps import RequestSteps
from troth.requests.tables import requests
from troth.requests.verification import Verification
from troth.store.ids import new_id
from troth.store.subjects import SubjectRow, find_subject_id, get_subject, no_such_subject

# Requests an API key may open by one address for one tenant in 24 hours (each one mails it).
LETTERS_PER_DAY = 3


@dataclass(frozen=True)
class Asked:
    """A request as it arrived, checked: what and how, who it says it is from."""

    kind: RequestKind
    channel: Channel
    email: str | None
    phone: str | None
    customer_id: str | None
    subject_id: str | None
    tenant_id: str | None
    on_behalf_of: str | None
    agent_email: str | None
    details: Mapping[str, Any] | None
    regime: Regime | str | None
    source_ref: str | None
    received_at: datetime | date | str | None


@dataclass(frozen=True)
class _Matched:
    """Who the request turned out to be about, and under which regime."""

    subject_id: str | None
    tenant_id: str | None
    agent: _Agent | None
    email: str | None
    """The person's own address (None when the one given was the agent's)."""
    regime: Regime


@dataclass(frozen=True)
class _Agent:
    """Who acts for the person: their name and capacity as given, their own address."""

    name: str | None
    email: str | None


class RequestIntake:
    """``open`` and ``ingest``."""

    def __init__(self, steps: RequestSteps, verification: Verification) -> None:
        self.steps = steps
        self.ctx = steps.ctx
        self.verification = verification

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
        agent_email: str | None = None,
        details: Mapping[str, Any] | None = None,
        regime: Regime | str | None = None,
        source_ref: str | None = None,
        received_at: datetime | date | str | None = None,
        actor: Actor = SYSTEM,
    ) -> RequestRecord:
        """Open a request, match it to the person, set its legal deadline, acknowledge it
        and start identity verification (a code by e-mail; staff for a request made on
        someone else's behalf; none for an opt-out of sale/sharing, :mod:`.opt_out`). All
        in one transaction.

        ``received_at``: when the request really arrived (default now; not in the future;
        without an offset, in the organisation's time zone for the request's regime:
        ``time_zones[regime]``, else ``time_zone``). The request is dated, and its deadline
        counted, on that day there (:mod:`.receipt`).

        On someone else's behalf: ``on_behalf_of`` is the agent's name and capacity
        ("Mary Byrne, mother"), ``agent_email`` their own address (required, checked, not
        the person's). The person is named by ``subject_id`` or their own identifiers.
        Staff verify the agent's authority; every letter goes to the agent."""
        behalf = _checked_behalf(on_behalf_of, agent_email)
        kind = parse_kind(str(kind))
        details = self._checked_details(kind, details)
        asked = Asked(
            kind=kind,
            channel=parse_channel(str(channel)),
            email=_checked_email(email),
            phone=phone,
            customer_id=customer_id,
            subject_id=subject_id,
            tenant_id=self._tenant_for(actor, subject_id, tenant_id),
            on_behalf_of=behalf.name if behalf else None,
            agent_email=behalf.email if behalf else None,
            details=details,
            regime=regime,
            source_ref=source_ref,
            received_at=received_at,
        )
        if not (asked.email or phone or customer_id or subject_id) and not (
            asked.agent_email and asked.channel is Channel.email
        ):  # (an e-mail from an agent is opened for its sender; the office names the person)
            raise ValidationError(
                "say who the request is from: email, phone, customer_id or subject_id"
                + (" (the person's; agent_email is the agent's)" if asked.agent_email else ""),
                code="no_identity",
            )
        if asked.email and actor.kind is ActorKind.application:
            self._limit_letters(asked.email, asked.tenant_id, actor)
        tenant_id = asked.tenant_id
        if subject_id is not None:
            with self.ctx.engine.connect() as conn:
                owner = get_subject(conn, subject_id, self.ctx.keys).tenant_id
            if tenant_id is not None and owner != tenant_id:
                self._refuse_other_tenant(actor, subject_id, tenant_id)
            tenant_id = owner
        # An offboarded customer is closed: no request is opened for it (audited, 409),
        # nor for one of its people however the request found them (F5, trial 16).
        ensure_open(self.ctx, tenant_id, "request.open", actor)
        opened = self._open(asked, actor)
        if isinstance(opened, tuple):  # matched to an offboarded customer's person
            refuse_closed(self.ctx, "request.open", actor, *opened)
        return opened

    def _checked_details(
        self, kind: RequestKind, details: Mapping[str, Any] | None
    ) -> Mapping[str, Any] | None:
        """The request's details, checked now (422), never only when carried out: a
        correction's changes (P24), the purposes of a restriction or objection (an unknown
        one, or a legal obligation). troth's own marks (:data:`MARKS`) are never a
        caller's."""
        if details and any(mark in details for mark in MARKS):
            details = {k: v for k, v in details.items() if k not in MARKS}
        if kind is RequestKind.correct and details and details.get("changes") is not None:
            details = {**details, "changes": check_changes(self.ctx, details["changes"])}
        if kind in (RequestKind.restrict, RequestKind.object) and details and "purposes" in details:
            named = details["purposes"]
            if not isinstance(named, list) or not all(isinstance(p, str) for p in named):
                raise ValidationError("details.purposes must be a list of purpose ids")
            from troth.requests.execution import check_purposes

            details = {**details, "purposes": check_purposes(self.ctx, named)}
        return details

    def _limit_letters(self, email: str, tenant_id: str | None, actor: Actor) -> None:
        """An API key opens at most :data:`LETTERS_PER_DAY` requests by one e-mail address
        for one tenant (or the organisation) in 24 hours: each mails the address (a receipt,
        a code), so a customer's key could otherwise have troth mail anyone without end.
        Known address or not, the same refusal (429 ``rate_limited``, audited)."""
        since = self.ctx.clock.now() - timedelta(hours=24)
        r = requests.c
        scope = r.tenant_id.is_(None) if tenant_id is None else r.tenant_id == tenant_id
        stmt = (
            select(func.count())
            .select_from(requests)
            .where(
                r.email_bidx == self.ctx.keys.blind_index("email", email),
                scope,
                r.channel == Channel.api.value,
                r.acknowledged_at >= since,
            )
        )
        with self.ctx.engine.connect() as conn:
            opened = int(conn.execute(stmt).scalar_one())
        if opened >= LETTERS_PER_DAY:
            refuse(
                self.ctx,
                "request.open",
                actor,
                Reason.too_many_requests,
                error=RateLimited(
                    f"{LETTERS_PER_DAY} requests were opened for this address in the last 24"
                    " hours: each mails the person; try again tomorrow, or ask the"
                    " organisation's privacy office",
                ),
                tenant_id=actor.tenant_id or tenant_id,
            )

    def _tenant_for(
        self, actor: Actor, subject_id: str | None, tenant_id: str | None
    ) -> str | None:
        """A credential bound to a tenant opens requests for that tenant's people only."""
        if actor.tenant_id is None:
            return tenant_id
        if tenant_id not in (None, actor.tenant_id):
            self._refuse_other_tenant(actor, None, tenant_id)
        return actor.tenant_id

    def _open(self, asked: Asked, actor: Actor) -> RequestRecord | tuple[str, Refusal]:
        """Match, store, acknowledge, start verifying: one transaction. The person matched
        being an offboarded customer's, nothing is stored: its tenant and the refusal."""
        ctx = self.ctx
        now = ctx.clock.now()
        rid = new_id()
        with transaction(ctx) as conn:
            if asked.source_ref is not None:
                _refuse_duplicate(conn, asked.source_ref)
            who = _match(conn, ctx, asked)
            closed = closed_refusal(conn, who.tenant_id)
            if closed is not None and who.tenant_id is not None:
                return who.tenant_id, closed
            details = dict(asked.details or {})
            # The organisation's own desk reached a customer's person (the person's own
            # privacy centre is theirs): troth.requests.elsewhere.
            if who.tenant_id and not asked.tenant_id and actor.kind is not ActorKind.subject:
                who, mark = at_desk(conn, ctx, asked, who)
                details.update(mark)
            zone = ctx.policy.policy.organisation.zone(who.regime)
            at = receipt_time(asked.received_at, now=now, zone=zone)
            received = local_day(at, zone)
            ack, due, opt_out = dates_for(ctx, asked.kind, who.regime, details, received)
            email, agent = who.email, who.agent
            agent_contact = None
            if agent is not None and agent.email is not None:
                agent_contact = _contact.seal_contact(ctx.keys, rid, agent.email, role="agent")
            conn.execute(
                requests.insert().values(
                    id=rid,
                    kind=asked.kind.value,
                    state=RequestState.received.value,
                    subject_id=who.subject_id,
                    tenant_id=who.tenant_id,
                    email_bidx=ctx.keys.blind_index("email", email) if email else None,
                    contact=_contact.seal_contact(ctx.keys, rid, email) if email else None,
                    regime=who.regime.value,
                    channel=asked.channel.value,
                    on_behalf=agent is not None,
                    on_behalf_of=agent.name if agent else None,
                    agent_contact=agent_contact,
                    source_ref=asked.source_ref,
                    received_at=at,
                    acknowledge_by=ack,
                    due_at=due,
                    details=details,
                    code_attempts=0,
                    codes_sent=0,
                    updated_at=now,
                )
            )
            seal_new(conn, ctx.keys, requests, [rid])
            self._acknowledge(conn, rid, asked.channel, (now, received), actor)
            if agent is not None:
                self._await_approval(conn, rid, actor)
            elif opt_out is not None and not opt_out.verification_required:
                self.verification.not_required(conn, self.steps.load(conn, rid), opt_out.basis)
            else:
                self._start_verifying(conn, rid, actor)
            return self.steps.load(conn, rid)

    def _acknowledge(
        self,
        conn: Connection,
        rid: str,
        channel: Channel,
        when: tuple[datetime, date],
        actor: Actor,
    ) -> None:
        """Record and audit the arrival; tell the requester (the person, or the agent acting
        for them) when there is an address to. ``when``: now, and the day received."""
        now, received = when
        steps = self.steps
        steps.event(conn, rid, actor.label, "received", None, RequestState.received, {})
        req = steps.load(conn, rid)
        steps.audit(
            conn, req, actor, "request.open", channel=channel.value, on_behalf=req.on_behalf
        )
        if req.requester:
            steps.tell(conn, req, "ack", received=received, due=req.due_at)
            steps.write(conn, rid, acknowledged_at=now)

    def _start_verifying(self, conn: Connection, rid: str, actor: Actor) -> None:
        """The person proves who they are: a one-time code to their address."""
        req = self.steps.load(conn, rid)
        self.steps.move(conn, req, RequestState.identity_unverified, actor, "verifying")
        if req.email:
            self.verification.send(conn, self.steps.load(conn, rid))

    def _await_approval(self, conn: Connection, rid: str, actor: Actor) -> None:
        """Made on someone else's behalf: staff verify the agent's authority, the agent (not
        the person) is told so."""
        req = self.steps.load(conn, rid)
        self.steps.move(conn, req, RequestState.awaiting_approval, actor, "on_behalf")
        if req.requester:
            self.steps.tell(conn, req, "behalf")

    def _refuse_other_tenant(
        self, actor: Actor, subject_id: str | None, tenant_id: str | None
    ) -> NoReturn:
        """A request for a person of another tenant than the one named (or the caller's):
        audited as refused (``not_a_member``), answered as an unknown person, as every
        other tenant's id is."""
        gone = (
            NotFound(f"no tenant {str(tenant_id)[:64]!r}")
            if subject_id is None
            else no_such_subject(subject_id)
        )
        refuse(  # filed in the caller's log, never the person's (it would tell who tried)
            self.ctx,
            "request.open",
            actor,
            Reason.not_a_member,
            error=gone,
            tenant_id=actor.tenant_id or tenant_id,
            details={"subject_named": subject_id[:64]} if subject_id else None,
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
                # On someone's behalf: the sender is the agent (told, never the person,
                # whom the office names by opening it by hand); else the person.
                agent = found.sender if found.on_behalf else None
                req = self.open(
                    found.kind,
                    email=None if agent else found.sender,
                    channel=Channel.email,
                    agent_email=agent,
                    details={"subject": found.subject[:200], "source": "email"},
                    source_ref=found.message_id[:255],
                    # Sent Friday, ingested Monday, is received Friday: the server's
                    # Received stamp, else the Date header.
                    received_at=_not_after(found.received_at, self.ctx.clock.now()),
                    actor=actor,
                )
            except Conflict as exc:
                if exc.code == "tenant_offboarded":  # refused (audited): the office answers
                    found.problem = f"{exc.message}; answer the person by hand"
                    report.unrecognised.append(found)
                    continue
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


def _checked_email(email: str | None) -> str | None:
    """The address the request is from, trimmed (None: not given), by the one check."""
    if email is None or not email.strip():
        return None
    return check_email(email, "email", code="invalid_addr")


def _checked_behalf(name: str | None, email: str | None) -> _Agent | None:
    """The agent of a request made on someone else's behalf, checked: their own address
    is required and must be an address (None: the request is the person's own)."""
    name = name.strip()[:320] or None if name is not None else None
    given = email is not None and bool(email.strip())
    if name is None and not given:
        return None
    if not given:
        raise ValidationError(
            "a request made on someone else's behalf needs the agent's own e-mail address"
            " (agent_email; --agent-email): every letter about it goes to the agent, never"
            " to the person",
            code="agent_address_required",
            field="agent_email",
        )
    return _Agent(name, check_email(email, "agent_email", code="invalid_agent_addr"))


def _refuse_agent_is_person() -> NoReturn:
    raise ValidationError(
        "agent_email is the person's own address: a request made on someone else's behalf"
        " names the agent's own address (for the person's own request, leave the agent out)",
        code="agent_is_person",
        field="agent_email",
    )


def _refuse_duplicate(conn: Connection, source_ref: str) -> None:
    dup = conn.execute(select(requests.c.id).where(requests.c.source_ref == source_ref)).scalar()
    if dup is not None:
        raise Conflict(
            f"{source_ref} was already opened as request {dup}",
            code="duplicate",
            request_id=dup,
        )


def _match(conn: Connection, ctx: Context, asked: Asked) -> _Matched:
    """The person the request is about (by the identities given, or the subject named),
    their tenant, who acts for them (if anyone), and the regime."""
    agent = _Agent(asked.on_behalf_of, asked.agent_email) if asked.agent_email else None
    email = asked.email
    subj: SubjectRow | None = None
    if asked.subject_id is not None:
        subj = get_subject(conn, asked.subject_id, ctx.keys)
        # The address given is not the person's (among their tenant's people: an address
        # at several customers is no ambiguity): someone asks for another's data, and that
        # address is theirs, the agent's. With the agent named, it is a mistake.
        if email is not None and not _address_of(conn, ctx, email, subj):
            if agent is not None:
                raise ValidationError(
                    "email is not an address of this person: give the person's own address,"
                    " or leave it out (the agent's address is agent_email)",
                    code="not_the_persons_address",
                    field="email",
                )
            agent, email = _Agent(None, email), None
        matched: str | None = subj.id
    else:  # an identifier naming several people is refused (ambiguous_person), not guessed
        matched = find_subject_id(
            conn,
            ctx,
            email=email,
            phone=asked.phone,
            customer_id=asked.customer_id,
            tenant_id=asked.tenant_id,
            # An erased person still sees what the law keeps of them (Art. 15).
            erased_too=asked.kind in (RequestKind.access, RequestKind.portability),
            # The organisation's own desk, where the customers decide about their people:
            # its own people only (the customers' are told: troth.requests.elsewhere).
            own_only=asked.tenant_id is None and customers_control(ctx.policy.policy),
        )
    juris = parse_regime(asked.regime) if asked.regime else None
    tenant_id = asked.tenant_id
    if matched is not None:
        subj = get_subject(conn, matched, ctx.keys)
        tenant_id = tenant_id or subj.tenant_id
        juris = juris or ctx.policy.regime_of(subj.jurisdiction)
    if agent is not None and agent.email is not None:
        same = email is not None and email.casefold() == agent.email.casefold()
        if same or (subj is not None and _address_of(conn, ctx, agent.email, subj)):
            _refuse_agent_is_person()
    regime = juris or ctx.policy.default_jurisdiction
    return _Matched(matched, tenant_id, agent, email, regime)


def _address_of(conn: Connection, ctx: Context, email: str, subj: SubjectRow) -> bool:
    """Whether ``email`` is an address of ``subj`` (it names them among their tenant's
    people)."""
    found = find_subject_id(conn, ctx, email=email, tenant_id=subj.tenant_id, oldest=True)
    return found == subj.id


def _not_after(at: datetime | None, now: datetime) -> datetime | None:
    """A Date header later than now is a sender's clock running fast: received now."""
    return None if at is None else min(at, now)
