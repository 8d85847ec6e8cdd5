"""Records *about* a person (consents, disclosures, requests, holds, audit entries), not
their values: every read or change of one is decided by the gate
(:func:`troth.gate.decide_record`) with the whole actor, here, before the service that
holds the record is asked. The edges call :meth:`Records.authorize_record` (or one
of the reads below) and render; they never decide."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from troth.access._base import audit
from troth.audit.entry import AuditEntry, Outcome
from troth.audit.log import transaction
from troth.audit.refusals import denial, refuse
from troth.context import Context
from troth.errors import NotFound, Refused, ValidationError
from troth.gate import Actor, ActorKind, Decision, Reason, Record, decide_record
from troth.gate import facts as facts_mod
from troth.gate.members import customer_side
from troth.store.subjects import SubjectRow, get_subject, no_such_subject

if TYPE_CHECKING:
    from troth.consent import ConsentStatus

# Every look at a record about a person, allowed or refused, is audited under the person's
# tenant (P17): the vendor's looks at a customer's people are then in the customer's log of
# vendor accesses. Only the person reading their own records and troth itself are not.
UNAUDITED_READERS = (ActorKind.subject, ActorKind.system)


def unnamed_use_denial(actor: Actor, reason: Reason, purpose: str, **asked: str) -> AuditEntry:
    """The entry of a use refused before the person may be named (an unknown id, another
    tenant's person): filed under the caller's own tenant, never in the person's log,
    with the purpose and the ids the caller ``asked`` for, each cut to a bounded length
    (the caller chose them)."""
    return denial(
        "use",
        actor,
        reason,
        tenant_id=actor.tenant_id,
        purpose=purpose[:100],
        details={name: value[:64] for name, value in asked.items()},
    )


def bound_away(actor: Actor, subject_tenant: str | None) -> bool:
    """Is ``actor`` bound to a tenant the person (of ``subject_tenant``) is not of: a
    customer's admin, member or key asking about another customer's person or one of the
    organisation's own (or any actor that names a tenant, about another's)? To it the
    person is unknown."""
    if customer_side(actor):
        return subject_tenant is None or subject_tenant != actor.tenant_id
    return actor.tenant_id is not None and subject_tenant != actor.tenant_id


def foreign_use(actor: Actor, subject_id: str, purpose: str) -> tuple[AuditEntry, NotFound]:
    """A use of another tenant's person by an actor bound to a tenant: the error,
    :func:`~troth.store.subjects.no_such_subject`, word for word the answer to an id that
    names nobody, to the Python caller too (trial 19, F11: anything else tells it the id
    exists elsewhere), and its entry (:func:`unnamed_use_denial`), which keeps the truth:
    ``not_a_member``, naming the id asked for and nothing of the person."""
    entry = unnamed_use_denial(actor, Reason.not_a_member, purpose, subject_named=subject_id)
    return entry, no_such_subject(subject_id)


def _details(
    record: Record, d: Decision, categories: frozenset[str], purpose: str | None
) -> dict[str, Any]:
    """The audit details of a decision on a record: which record, the grant it used, the
    categories it reveals and the purpose a change is for."""
    details: dict[str, Any] = {"record": record.value}
    if d.grant_id:
        details["grant"] = d.grant_id
    if categories:
        details["categories"] = sorted(categories)
    if purpose is not None:
        details["purpose"] = purpose[:100]
    return details


@dataclass(frozen=True, slots=True)
class Records:
    """``t.access.records``: reads of records about a person, each decided by the gate."""

    ctx: Context

    def _facts(self, actor: Actor, subject_id: str) -> tuple[Any, Any]:
        """The person (None when unknown) and the gate's facts of ``actor`` on them."""
        with self.ctx.engine.connect() as conn:
            try:
                subject = get_subject(conn, subject_id, self.ctx.keys)
            except NotFound:
                return None, None
            return subject, facts_mod.gather(conn, self.ctx, actor, subject)

    def authorize_record(
        self,
        actor: Actor,
        subject_id: str,
        record: Record,
        *,
        write: bool = False,
        categories: frozenset[str] = frozenset(),
        living: bool = False,
        purpose: str | None = None,
        purposes: frozenset[str] | None = None,
    ) -> Decision:
        """Decide, audit and raise: returns the allowing decision, or raises
        :class:`NotFound` (an unknown person, or one the actor is bound away from: their
        own tenant or themself, so another's id reveals nothing) or :class:`Refused`
        (403, with the gate's reason). Every attempt is audited, allowed or refused (a
        refusal with its reason), except the person's on their own records and troth's.
        With ``living``, a person who was erased is refused ``subject_erased`` (after the
        gate: to an actor bound away from them they stay unknown). ``purpose``: what a
        change is for (a consent given), refused ``vendor_only`` to a customer's side for
        the vendor's own purposes. ``purposes``: those of the consents a read shows
        (audited with an allowed read)."""
        action = f"{'change' if write else 'read'}_{record.value}"
        subject, facts = self._facts(actor, subject_id)
        if subject is None or facts is None:
            # Audited in a transaction of its own, after the read connection is closed.
            refuse(
                self.ctx,
                action,
                actor.label,
                error=no_such_subject(subject_id),
                reason=Reason.not_found,
                tenant_id=actor.tenant_id,
                details={"unknown_subject": subject_id[:64], "record": record.value},
            )
        now = self.ctx.clock.now()
        policy = self.ctx.policy
        d = decide_record(
            policy, actor, record, facts, now, write=write, categories=categories, purpose=purpose
        )
        if d.allowed and living and subject.erased_at is not None:
            d = Decision.deny(Reason.subject_erased, "this person was erased: nothing is kept")
        if d.allowed and actor.kind in UNAUDITED_READERS:
            return d
        details = _details(record, d, categories, purpose)
        if d.allowed:
            if purposes is not None:
                details["purposes"] = sorted(purposes)
            with transaction(self.ctx) as conn:
                audit(
                    self.ctx,
                    conn,
                    action,
                    actor.label,
                    outcome=Outcome.allow,
                    tenant_id=subject.tenant_id,
                    subject_id=subject.id,
                    reason=d.reason.value if d.reason else None,
                    details=details,
                )
            return d
        assert d.reason is not None
        bound = actor.kind is ActorKind.subject or bound_away(actor, subject.tenant_id)
        # Another tenant's person is answered as an unknown one, and the attempt is filed in
        # the caller's own log, naming the id asked for: never in that person's or their
        # tenant's (it would tell them who tried).
        foreign = bound and d.reason is Reason.not_a_member
        refuse(
            self.ctx,
            action,
            actor,
            d.reason,
            d.detail,
            error=no_such_subject(subject_id) if foreign else None,
            tenant_id=actor.tenant_id if foreign else subject.tenant_id,
            subject_id=None if foreign else subject.id,
            details={**details, "subject_named": subject_id[:64]} if foreign else details,
            shown=None if foreign else {"subject_id": subject_id},
        )

    def consents_for(self, actor: Actor, subject_id: str) -> dict[str, ConsentStatus]:
        """The person's consent state per purpose: those the gate lets ``actor`` see
        (:mod:`troth.gate.consents`: a role only the purposes it acts for, the office
        every one, a customer's side none of the vendor's own), the read audited with
        the purposes shown. A consent left out is not named: the answer is the one for a
        person who never gave it."""
        from troth.consent import ConsentLedger

        _, facts = self._facts(actor, subject_id)
        state = ConsentLedger(self.ctx).state(subject_id) if facts is not None else {}
        seen = self._consents_seen(actor, subject_id, facts, state)
        return {p: s for p, s in state.items() if p in seen}

    def _consents_seen(
        self, actor: Actor, subject_id: str, facts: Any, purposes: Iterable[str]
    ) -> frozenset[str]:
        """Of the ``purposes`` of the person's consents, those the gate lets ``actor``
        see, each decided on its own; then the read of the record decided and audited
        with them (:meth:`authorize_record`: an unknown person, one of another customer
        or a refused actor raises there, and nothing read is returned)."""
        now, index = self.ctx.clock.now(), self.ctx.policy
        seen = frozenset(
            p
            for p in purposes
            if facts is not None
            and decide_record(index, actor, Record.consents, facts, now, purpose=p).allowed
        )
        self.authorize_record(actor, subject_id, Record.consents, purposes=seen)
        return seen

    def person_for(self, actor: Actor, subject_id: str) -> SubjectRow:
        """That the person is known, with their tenant, kind and status (not their
        values), if the gate lets ``actor`` look them up (``lookup``)."""
        self.authorize_record(actor, subject_id, Record.lookup)
        with self.ctx.engine.connect() as conn:
            return get_subject(conn, subject_id, self.ctx.keys)

    def list_people(
        self,
        actor: Actor,
        *,
        tenant_id: str | None = None,
        status: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[SubjectRow], int]:
        """The people troth knows (ids, customer, kind, status: no values), newest first,
        one page and the total, for the office (power ``manage_requests``); audited."""
        from sqlalchemy import select

        from troth.db import check_page, count_where
        from troth.office import audit_read, authorize
        from troth.policy.model import Power
        from troth.store.tables import subjects

        authorize(self.ctx, actor, Power.manage_requests, details={"operation": "list_people"})
        check_page(limit, offset)
        c = subjects.c
        where = []
        if tenant_id:
            where.append(c.tenant_id == tenant_id)
        if status:
            where.append(c.status == status)
        cols: list[Any] = [c.id, c.tenant_id, c.kind, c.jurisdiction, c.status, c.created_at]
        cols += [c.relationship_ended_at, c.erased_at, c.legal_hold]
        stmt = select(*cols).where(*where).order_by(c.created_at.desc(), c.id)
        with self.ctx.engine.connect() as conn:
            n = count_where(conn, subjects, where)
            rows = conn.execute(stmt.limit(limit).offset(offset)).all()
        asked = {"tenant": tenant_id, "status": status}
        audit_read(self.ctx, actor, Power.manage_requests, "list_people", asked)
        return [SubjectRow(**r._mapping) for r in rows], n

    def consent_history_for(self, actor: Actor, subject_id: str) -> list[dict[str, Any]]:
        """Every consent event of the person (with its receipt id), oldest first, of the
        purposes the gate lets ``actor`` see (as :meth:`consents_for`)."""
        from troth.consent import ConsentLedger

        _, facts = self._facts(actor, subject_id)
        events = ConsentLedger(self.ctx).history(subject_id) if facts is not None else []
        seen = self._consents_seen(actor, subject_id, facts, {e["purpose"] for e in events})
        return [e for e in events if e["purpose"] in seen]

    def requests_for(self, actor: Actor, subject_id: str) -> list[Any]:
        """The person's requests (open and closed), if the gate lets ``actor`` see them;
        a correction's new values each as the gate lets ``actor`` read it
        (:mod:`troth.requests.shown`)."""
        from troth.requests.service import RequestService

        self.authorize_record(actor, subject_id, Record.requests)
        svc = RequestService(self.ctx)
        return [svc.shown(r, actor) for r in svc.list(subject_id=subject_id, include_closed=True)]

    def disclosures_for(self, actor: Actor, subject_id: str) -> list[dict[str, Any]]:
        """The person's disclosures, newest first, if the gate lets ``actor`` see the
        record: those whose every category the actor's role or grant covers; to a
        customer's side, none made for the vendor's own (``vendor_only``) purposes."""
        from troth.disclosures import DisclosureService

        items = DisclosureService(self.ctx).disclosures_of(subject_id)
        if customer_side(actor):
            vendor = self.ctx.policy.vendor_purposes
            items = [item for item in items if item.get("purpose") not in vendor]
        _, facts = self._facts(actor, subject_id)
        if facts is not None:
            # Only the disclosures whose categories the actor's role or grant covers: what
            # else was disclosed (a health report to an authority) is itself the person's
            # data, so it is left out, never named in a refusal that differs by person.
            now = self.ctx.clock.now()
            items = [
                item
                for item in items
                if decide_record(
                    self.ctx.policy,
                    actor,
                    Record.disclosures,
                    facts,
                    now,
                    categories=frozenset(item.get("categories", ())),
                ).allowed
            ]
        cats = frozenset(c for item in items for c in item.get("categories", ()))
        self.authorize_record(actor, subject_id, Record.disclosures, categories=cats)
        return items

    def find_for(
        self,
        actor: Actor,
        *,
        email: str | None = None,
        phone: str | None = None,
        customer_id: str | None = None,
    ) -> str:
        """A person's id by an identifier, if the gate lets ``actor`` know the person: a
        tenant-bound actor looks only among its tenant's people, and anyone the gate
        refuses gets the same 404 as for an unknown identifier (the refusal audited), so
        a look-up is never an oracle of who is whose customer."""
        from troth.store.subjects import find_subject, no_such_person

        by = [n for n, v in (("email", email), ("phone", phone), ("customer_id", customer_id)) if v]
        try:
            sid = find_subject(
                self.ctx,
                email=email,
                phone=phone,
                customer_id=customer_id,
                tenant_id=actor.tenant_id,
            )
        except NotFound:
            # Nobody (or, to a tenant-bound actor, nobody of its tenant: another tenant's
            # person is never looked for, so the entry is the same): audited under the
            # caller's tenant, naming the kind of identifier, never its value.
            self._refuse_lookup(actor, by)
        except ValidationError as exc:
            # One identifier, several people: said to whoever may look anyone up (the
            # office; a tenant's own among its people), else the unknown person's 404.
            if exc.code != "ambiguous_person" or self._looks_up_anyone(actor):
                raise
            self._refuse_lookup(actor, by)
        try:
            self.authorize_record(actor, sid, Record.lookup)
        except Refused:
            raise no_such_person() from None
        return sid

    def _refuse_lookup(self, actor: Actor, by: list[str]) -> NoReturn:
        from troth.store.subjects import no_such_person

        if actor.kind in UNAUDITED_READERS:
            raise no_such_person()
        refuse(
            self.ctx,
            f"read_{Record.lookup.value}",
            actor,
            Reason.not_found,
            error=no_such_person(),
            tenant_id=actor.tenant_id,
            details={"by": ",".join(by)},
        )

    def find_all_for(
        self,
        actor: Actor,
        *,
        email: str | None = None,
        phone: str | None = None,
        customer_id: str | None = None,
    ) -> list[SubjectRow]:
        """Every person an identifier names whom the gate lets ``actor`` look up (one
        address may be several customers' people: each is decided, and audited, on its
        own; a refused one is left out, as if unknown). A tenant-bound actor looks only
        among its tenant's people. Empty when the actor may see nobody it names."""
        from troth.store.subjects import find_subject_ids

        sids = find_subject_ids(
            self.ctx,
            email=email,
            phone=phone,
            customer_id=customer_id,
            tenant_id=actor.tenant_id,
        )
        found = []
        for sid in sids:
            try:
                found.append(self.person_for(actor, sid))
            except (NotFound, Refused):
                continue
        return found

    def _looks_up_anyone(self, actor: Actor) -> bool:
        from troth.gate import RECORD_POWERS
        from troth.office import may
        from troth.policy.model import Power

        if actor.tenant_id is not None or actor.kind is ActorKind.system:
            return True
        return any(may(self.ctx, actor, Power(p)) for p in RECORD_POWERS[Record.lookup])
