"""Every hand-over of a person's data to a recipient goes through :meth:`disclose`.

The gate decides (P18: recipient listed for that purpose and category; P19: no
individual transactions to a recipient that may not see them; P22: the recipient's
location allowed, or listed as a transfer with its safeguard); the package holds only the
fields the policy lets that recipient receive; each disclosure is recorded and shown to the
person, except one made under a legal demand whose non-disclosure order still runs (P20).
One to an authority goes only under a recorded legal demand (refused ``demand_required``
without one), and only under a demand is the data unbound from the purposes it was
collected for (P20).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn

from sqlalchemy import Connection, insert

from troth.audit.entry import AuditEntry, Outcome
from troth.audit.log import append_entries, transaction
from troth.audit.refusals import Refusal, refuse
from troth.columns import row_of
from troth.context import Context
from troth.disclosures.authority import demand_needed, statutory_duty
from troth.disclosures.demands import DemandStatus, LegalDemand, demand_row, notify_disclosures
from troth.disclosures.logged import Honoured, honoured_of
from troth.disclosures.package import DisclosedValue, DisclosurePackage, WithheldValue
from troth.disclosures.scope import (
    OUTSIDE_PERIOD,
    DemandScope,
    demand_for,
    honoured_scope,
    nothing_in_period,
    within_demand,
)
from troth.disclosures.shown import disclosures_shown
from troth.disclosures.tables import disclosures, legal_demands
from troth.errors import IntegrityError, NotFound, ValidationError
from troth.gate import SYSTEM, Actor, Ask, Operation, Reason, decide, value_reason
from troth.gate import facts as facts_mod
from troth.gate.masks import disclosed_to
from troth.store.ids import new_id
from troth.store.seals import RecordTampered, refuse_tampered
from troth.store.subjects import get_subject, lookup_subject, no_such_subject
from troth.store.values import StoredValue, read_values


@dataclass(frozen=True)
class _Allowed:
    """The categories asked for, and those of them the gate lets go."""

    wanted: tuple[str, ...]
    categories: frozenset[str]


def _record(conn: Connection, package: DisclosurePackage, actor: Actor, tenant: Any) -> None:
    """The disclosure's row and its audit entry."""
    conn.execute(insert(disclosures).values(**row_of(disclosures, package, actor=actor.label)))
    details: dict[str, Any] = {
        "disclosure": package.id,
        "recipient": package.recipient,
        "fields": list(package.fields),
        "location": package.location,
    }
    if package.transfer_safeguard:
        details["transfer_safeguard"] = package.transfer_safeguard
    if package.legal_demand_id:
        details["legal_demand"] = package.legal_demand_id
    if package.statutory_duty:
        details["statutory_duty"] = package.statutory_duty
    if package.masked:
        details["masked"] = list(package.masked)
    entry = AuditEntry(
        "disclose",
        actor.label,
        Outcome.allow,
        subject_id=package.subject_id,
        tenant_id=tenant,
        purpose=package.purpose,
        categories=package.categories,
        details=details,
    )
    append_entries(conn, package.at, [entry])


@dataclass(frozen=True)
class _Attempt:
    """One disclosure asked for: whose data, to whom, for what, by whom, which
    categories (None: what the policy lists), under which legal demand, and when."""

    subject_id: str
    recipient: str
    purpose: str
    actor: Actor
    asked: tuple[str, ...] | None
    legal_demand_id: str | None
    now: datetime


def _where(a: _Attempt) -> dict[str, Any]:
    """What the audit entry of a refused disclosure names: the person, purpose, recipient
    and, so that the attempt stays hidden from the person while a gag runs, the demand."""
    details: dict[str, Any] = {"recipient": a.recipient[:200]}
    if a.legal_demand_id:
        details["legal_demand"] = a.legal_demand_id[:64]
    return {"subject_id": a.subject_id[:64], "purpose": a.purpose[:100], "details": details}


def _nothing(
    a: _Attempt, rc: Any, decided: _Allowed, withheld: Any, scope: DemandScope | None
) -> Refusal:
    """The refusal of a disclosure with no value to send: none collected within the legal
    demand's period, or none for the purpose (or of the recipient's listed fields)."""
    if scope is not None and any(w.reason == OUTSIDE_PERIOD for w in withheld):
        return nothing_in_period(scope, str(a.legal_demand_id), decided.categories)
    return Refusal(
        Reason.purpose_not_of_collection,
        f"nothing of this person's data may go to {rc.name} for {a.purpose!r}"
        " (no value was collected for that purpose, or none of its fields is listed)",
        categories=decided.wanted,
    )


@dataclass(eq=False)
class DisclosureService:
    """Disclosures, legal demands and the published list of sub-processors."""

    ctx: Context

    # -- disclosing ------------------------------------------------------------------------
    def disclose(
        self,
        subject_id: str,
        recipient: str,
        purpose: str,
        actor: Actor,
        categories: Iterable[str] | None = None,
        legal_demand_id: str | None = None,
    ) -> DisclosurePackage:
        """Hand a person's data to ``recipient`` for ``purpose``: only the categories and
        fields the policy lists for them. Refusals raise Refused and are audited; nothing
        is recorded as disclosed."""
        idx = self.ctx.policy
        asked = tuple(sorted(set(categories))) if categories is not None else None
        attempt = _Attempt(
            subject_id, recipient, purpose, actor, asked, legal_demand_id, self.ctx.clock.now()
        )
        self._within_reach(attempt)
        if recipient not in idx.recipients:
            starts = idx.coming_with(lambda later: recipient in later.recipients)
            if starts is not None:
                # Listed by a version that waits for its effective date (P08, P34).
                message = (
                    f"recipient {recipient!r} is a change of the policy that takes effect on"
                    f" {starts.astimezone(idx.policy.organisation.zone()):%Y-%m-%d %H:%M %Z}:"
                    " nothing goes to it before"
                )
                self._refuse(
                    attempt,
                    Refusal(Reason.notice_period_running, message, categories=asked or ()),
                )
            known = ", ".join(sorted(idx.recipients)) or "none"
            message = (
                f"the policy lists no recipient {recipient!r}: data is never passed to anyone"
                f" else (recipients: {known})"
            )
            self._refuse(
                attempt, Refusal(Reason.recipient_not_listed, message, categories=asked or ())
            )
        if legal_demand_id is None:
            needed = demand_needed(idx, recipient, purpose)
            if needed is not None:
                self._refuse(
                    attempt, Refusal(Reason.demand_required, needed, categories=asked or ())
                )
        try:
            done = self._disclose(attempt)
        except RecordTampered as exc:  # a value's row changed outside troth: refused
            tenant = self._tenant(attempt)
            refuse_tampered(self.ctx, "disclose", actor, exc, tenant_id=tenant, **_where(attempt))
        if isinstance(done, Refusal):
            # Decided inside the transaction, which wrote nothing: audited after it.
            self._refuse(attempt, done)
        return done

    def _disclose(self, a: _Attempt) -> DisclosurePackage | Refusal:
        """Disclose in one transaction, or return the refusal the gate decided (before
        anything is written: the transaction then writes nothing)."""
        ctx = self.ctx
        rc = ctx.policy.recipients[a.recipient]
        grant = ctx.policy.recipient_grants.get((a.recipient, a.purpose))
        with transaction(ctx) as conn:
            under = self._under(conn, a)
            if isinstance(under, Refusal):
                return under
            demand, honoured, scope = under
            subj = get_subject(conn, a.subject_id, ctx.keys)
            facts = facts_mod.gather(conn, ctx, a.actor, subj)
            decided = self._decide(a, rc, grant, facts, scope)
            if isinstance(decided, Refusal):
                return decided
            only = grant.fields if grant is not None else frozenset()
            values, fields_out, withheld = self._project(
                conn, a.subject_id, a.purpose, decided.categories, only, a.now, facts, scope
            )
            # What the recipient gets (troth.gate.masks): as held for a legal obligation,
            # else as a customer's people read it, the masked fields named.
            values, masked = disclosed_to(ctx.policy, a.actor, facts, a.purpose, values)
            if not values:
                return _nothing(a, rc, decided, withheld, scope)
            package = DisclosurePackage(
                id=new_id(),
                subject_id=a.subject_id,
                recipient=a.recipient,
                purpose=a.purpose,
                values=tuple(DisclosedValue.of(v) for v in values),
                categories=tuple(sorted({v.category for v in values})),
                fields=fields_out,
                at=a.now,
                location=rc.location,
                transfer_safeguard=self._safeguard(rc),
                legal_demand_id=a.legal_demand_id,
                withheld=withheld,
                statutory_duty=None if demand else statutory_duty(ctx.policy, rc.id, a.purpose),
                masked=masked,
            )
            _record(conn, package, a.actor, subj.tenant_id)
            if demand is not None:
                conn.execute(
                    legal_demands.update()
                    .where(legal_demands.c.id == demand.id)
                    .values(status=DemandStatus.disclosed.value)
                )
                if honoured is None or not honoured.gagged(a.now):
                    notify_disclosures(conn, ctx, demand, [package.id])
        return package

    def _under(
        self, conn: Connection, a: _Attempt
    ) -> tuple[LegalDemand | None, Honoured | None, DemandScope | None] | Refusal:
        """The legal demand the disclosure goes under, the gag and the scope the log
        recorded for it (all None without one), or why it may not go under it."""
        if a.legal_demand_id is None:
            return None, None, None
        try:
            demand = demand_for(self.ctx, conn, a.legal_demand_id, a.recipient, a.purpose)
        except (ValidationError, NotFound) as exc:
            # Not a demand this disclosure may go under: refused and audited, as a
            # disclosure without one is; the error says what to fix.
            return Refusal(Reason.demand_required, exc.message, error=exc)
        honoured, _ = honoured_of(conn, demand.id)
        if honoured.tampered:
            return Refusal(Reason.record_tampered, honoured.refusal(demand.id))
        scope = honoured_scope(demand, honoured)
        return scope if isinstance(scope, Refusal) else (demand, honoured, scope)

    def _decide(
        self, a: _Attempt, rc: Any, grant: Any, facts: Any, scope: DemandScope | None
    ) -> _Allowed | Refusal:
        """What the gate allows of the categories asked for (default: those the policy
        lists for the recipient and purpose, else the purpose's own; under a legal
        demand, only what it asks for: troth.disclosures.scope)."""
        idx = self.ctx.policy
        wanted = (
            a.asked if a.asked is not None else tuple(sorted(grant.categories if grant else ()))
        )
        if not wanted:
            wanted = tuple(sorted(idx.purpose_categories.get(a.purpose, ())))
        if scope is not None:
            within = within_demand(scope, str(a.legal_demand_id), a.asked, wanted, rc.name)
            if isinstance(within, Refusal):
                return within
            wanted = within
        decision = decide(
            idx,
            Ask(
                a.actor,
                Operation.disclose,
                a.purpose,
                wanted,
                a.now,
                a.recipient,
                rc.location,
                under_demand=a.legal_demand_id is not None,
            ),
            facts,
        )
        refused_asked = a.asked is not None and decision.allowed and decision.masked
        if not decision.allowed or refused_asked:
            reason = decision.reason or next(iter(decision.masked.values()))
            detail = decision.detail or (
                f"{rc.name} may not receive "
                + ", ".join(sorted(decision.masked))
                + f" for {a.purpose!r}"
            )
            return Refusal(reason, detail, categories=wanted)
        return _Allowed(wanted, decision.categories)

    def _safeguard(self, rc: Any) -> str | None:
        """The transfer safeguard of a recipient outside the allowed locations."""
        idx = self.ctx.policy
        if rc.location in idx.allowed_locations:
            return None
        return idx.transfer_locations.get(rc.location) or rc.safeguard

    def _project(
        self,
        conn: Connection,
        subject_id: str,
        purpose: str,
        allowed: frozenset[str],
        only: frozenset[str],
        now: datetime,
        facts: Any,
        scope: DemandScope | None,
    ) -> tuple[list[StoredValue], tuple[str, ...], tuple[WithheldValue, ...]]:
        """Values of the allowed categories, bound to the purpose (unless a recorded legal
        demand compels the disclosure: a court order may demand any data, collected in
        the period it states), limited to the recipient's listed fields (P19): every
        value sent, the fields they are of (once each), and every value held back with
        why."""
        idx = self.ctx.policy
        stored = read_values(conn, self.ctx, subject_id, sorted(allowed))
        out: list[StoredValue] = []
        withheld: list[WithheldValue] = []
        return_fields: dict[str, None] = {}
        for v in stored:
            if only and v.field not in only:
                withheld.append(WithheldValue.of(v, "field_not_listed_for_recipient"))
                continue
            if scope is None:
                # The same binding rules as a use (P02, P03, P07, P08, P25).
                why = value_reason(idx, v, purpose, now, facts)
                if why is not None:
                    withheld.append(WithheldValue.of(v, why.value))
                    continue
            elif not scope.holds(v.collected_at):
                withheld.append(WithheldValue.of(v, OUTSIDE_PERIOD))
                continue
            out.append(v)
            return_fields[v.field] = None
        return out, tuple(return_fields), tuple(withheld)

    # -- refusals --------------------------------------------------------------------------
    def _within_reach(self, a: _Attempt) -> None:
        """An actor bound to a tenant discloses its own tenant's people only, and is told
        so before anything else: another tenant's person is refused (``not_a_member``,
        filed in the caller's log naming the id asked for, never in the person's) and
        answered, as an unknown id is, :func:`no_such_subject`."""
        if a.actor.tenant_id is None:
            return
        theirs = lookup_subject(self.ctx, a.subject_id).tenant_id
        if theirs != a.actor.tenant_id:
            refuse(
                self.ctx,
                "disclose",
                a.actor,
                Reason.not_a_member,
                error=no_such_subject(a.subject_id),
                tenant_id=a.actor.tenant_id,
                purpose=a.purpose[:100],
                details={"recipient": a.recipient[:200], "subject_named": a.subject_id[:64]},
            )

    def _refuse(self, a: _Attempt, refusal: Refusal) -> NoReturn:
        refuse(
            self.ctx,
            "disclose",
            a.actor,
            refusal.reason,
            refusal.message,
            error=refusal.error,
            tenant_id=self._tenant(a),
            categories=sorted(refusal.categories),
            shown={"recipient": a.recipient},
            **_where(a),
        )

    def _tenant(self, a: _Attempt) -> str | None:
        """The customer a refused disclosure is filed under: the person's, so that the
        vendor's attempts on a customer's people, refused ones too, are in that customer's
        log of vendor accesses (an actor bound to another customer was refused before, in
        its own: :meth:`_within_reach`). None for an id that names nobody, and for a person
        whose row was changed outside troth (its tenant is not to be believed)."""
        try:
            return lookup_subject(self.ctx, a.subject_id).tenant_id
        except (NotFound, IntegrityError):
            return None

    # -- what the person sees ----------------------------------------------------------------
    def disclosures_of(
        self, subject_id: str, *, include_gagged: bool = False
    ) -> list[dict[str, Any]]:
        """Every disclosure of this person's data, newest first, for the privacy centre;
        one made under a legal demand is hidden while its non-disclosure order runs
        (P20), unless ``include_gagged`` (the office's own view, which marks it
        ``gagged_until``): :mod:`troth.disclosures.shown`."""
        return self.disclosures_of_many([subject_id], include_gagged=include_gagged)[subject_id]

    def disclosures_of_many(
        self, subject_ids: Iterable[str], *, include_gagged: bool = False
    ) -> dict[str, list[dict[str, Any]]]:
        """:meth:`disclosures_of` for many people, a statement per 500 (bulk exports)."""
        return disclosures_shown(self.ctx, subject_ids, include_gagged=include_gagged)

    # -- legal demands (delegated) ----------------------------------------------------------
    def record_demand(self, **kwargs: Any) -> LegalDemand:
        """See :func:`troth.disclosures.demands.record_demand`."""
        from troth.disclosures.demands import record_demand

        return record_demand(self.ctx, **kwargs)

    def demand(self, demand_id: str) -> LegalDemand:
        with self.ctx.engine.connect() as conn:
            return demand_row(conn, demand_id)

    def lift_gag(self, demand_id: str, *, actor: Actor = SYSTEM) -> int:
        """See :func:`troth.disclosures.gags.lift_gag`."""
        from troth.disclosures.gags import lift_gag

        return lift_gag(self.ctx, demand_id, actor=actor)

    def person_entries(self, subject_id: str, *, limit: int = 200) -> list[Any]:
        """The audit entries about a person that they may see, newest first (gagged
        disclosures left out): :func:`troth.disclosures.gags.person_entries`."""
        from troth.disclosures.gags import person_entries

        return person_entries(self.ctx, subject_id, limit=limit, newest_first=True)

    def notify_due_demands(self, now: datetime | None = None) -> int:
        """Tell people of disclosures whose non-disclosure order has ended; returns how
        many notices were queued. Idempotent (the worker calls it on a schedule)."""
        from troth.disclosures.demands import notify_due

        return notify_due(self.ctx, now or self.ctx.clock.now())

    # -- sub-processors (P21) ----------------------------------------------------------------
    def subprocessors_json(self) -> list[dict[str, Any]]:
        from troth.disclosures.subprocessors import subprocessors

        return subprocessors(self.ctx.policy)

    def subprocessors_html(self) -> str:
        from troth.disclosures.subprocessors import subprocessors_html

        return subprocessors_html(self.ctx.policy)
