"""Every hand-over of a person's data to a recipient goes through :meth:`disclose`.

The gate decides (P18: recipient listed for that purpose and category; P19: no
individual transactions to a recipient that may not see them; P22: the recipient's
location allowed, or listed as a transfer with its safeguard); the package holds only the
fields the policy lets that recipient receive; each disclosure is recorded and shown to the
person, except one made under a legal demand whose non-disclosure order still runs (P20).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NoReturn

from sqlalchemy import Connection, insert, select

from troth.audit.entry import AuditEntry, Outcome
from troth.audit.log import append_entries, transaction
from troth.audit.refusals import Refusal, refuse
from troth.context import Context
from troth.disclosures.demands import DemandStatus, LegalDemand, demand_row, notify_disclosures
from troth.disclosures.tables import disclosures, legal_demands
from troth.errors import ValidationError
from troth.gate import SYSTEM, Actor, Ask, Operation, Reason, decide, value_reason
from troth.gate import facts as facts_mod
from troth.policy.model import LegalBasis
from troth.store.ids import new_id
from troth.store.subjects import get_subject
from troth.store.values import StoredValue, read_values


@dataclass(frozen=True)
class DisclosurePackage:
    """What may go to the recipient: field -> value, nothing else."""

    id: str
    subject_id: str
    recipient: str
    purpose: str
    values: dict[str, Any]
    categories: tuple[str, ...]
    fields: tuple[str, ...]
    at: datetime
    location: str
    transfer_safeguard: str | None = None
    legal_demand_id: str | None = None
    withheld: dict[str, str] = field(default_factory=dict)  # field -> reason

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "subject_id": self.subject_id,
            "recipient": self.recipient,
            "purpose": self.purpose,
            "values": self.values,
            "categories": list(self.categories),
            "fields": list(self.fields),
            "at": self.at.isoformat(),
            "location": self.location,
            "transfer_safeguard": self.transfer_safeguard,
            "legal_demand_id": self.legal_demand_id,
            "withheld": self.withheld,
        }


class DisclosureService:
    """Disclosures, legal demands and the published list of sub-processors."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

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
        ctx = self.ctx
        idx = ctx.policy
        now = ctx.clock.now()
        asked = tuple(sorted(set(categories))) if categories is not None else None
        rc = idx.recipients.get(recipient)
        if rc is None:
            known = ", ".join(sorted(idx.recipients)) or "none"
            self._refuse(
                actor,
                subject_id,
                purpose,
                recipient,
                Reason.recipient_not_listed,
                f"the policy lists no recipient {recipient!r}: data is never passed to anyone"
                f" else (recipients: {known})",
                asked or (),
                legal_demand_id,
            )
        done = self._disclose(subject_id, rc, purpose, actor, asked, legal_demand_id, now)
        if isinstance(done, Refusal):
            # Decided inside the transaction, which wrote nothing: audited after it.
            self._refuse(
                actor,
                subject_id,
                purpose,
                recipient,
                done.reason,
                done.message,
                done.categories,
                legal_demand_id,
            )
        return done

    def _disclose(
        self,
        subject_id: str,
        rc: Any,
        purpose: str,
        actor: Actor,
        asked: tuple[str, ...] | None,
        legal_demand_id: str | None,
        now: datetime,
    ) -> DisclosurePackage | Refusal:
        """Disclose in one transaction, or return the refusal the gate decided (before
        anything is written: the transaction then writes nothing)."""
        ctx = self.ctx
        idx = ctx.policy
        recipient = rc.id
        grant = idx.recipient_grants.get((recipient, purpose))
        demand: LegalDemand | None = None
        with transaction(ctx) as conn:
            if legal_demand_id is not None:
                demand = self._check_demand(conn, legal_demand_id, recipient, purpose)
            subj = get_subject(conn, subject_id)
            facts = facts_mod.gather(conn, ctx, actor, subj)
            wanted = (
                asked if asked is not None else tuple(sorted(grant.categories if grant else ()))
            )
            if not wanted:
                wanted = tuple(sorted(idx.purpose_categories.get(purpose, ())))
            decision = decide(
                idx,
                Ask(actor, Operation.disclose, purpose, wanted, now, recipient, rc.location),
                facts,
            )
            refused_asked = asked is not None and decision.allowed and decision.masked
            if not decision.allowed or refused_asked:
                reason = decision.reason or next(iter(decision.masked.values()))
                detail = decision.detail or (
                    f"{rc.name} may not receive "
                    + ", ".join(sorted(decision.masked))
                    + f" for {purpose!r}"
                )
                return Refusal(reason, detail, categories=wanted)
            only = grant.fields if grant is not None else frozenset()
            values, fields_out, withheld = self._project(
                conn, subject_id, purpose, decision.categories, only, now, facts
            )
            if not values:
                return Refusal(
                    Reason.purpose_not_of_collection,
                    f"nothing of this person's data may go to {rc.name} for {purpose!r}"
                    " (no value was collected for that purpose, or none of its fields is listed)",
                    categories=wanted,
                )
            safeguard = None
            if rc.location not in idx.allowed_locations:
                safeguard = idx.transfer_locations.get(rc.location) or rc.safeguard
            did = new_id()
            cats = tuple(sorted({v.category for v in values}))
            conn.execute(
                insert(disclosures).values(
                    id=did,
                    subject_id=subject_id,
                    recipient=recipient,
                    purpose=purpose,
                    categories=list(cats),
                    fields=list(fields_out),
                    at=now,
                    actor=actor.label,
                    location=rc.location,
                    transfer_safeguard=safeguard,
                    legal_demand_id=legal_demand_id,
                )
            )
            details: dict[str, Any] = {
                "disclosure": did,
                "recipient": recipient,
                "fields": list(fields_out),
                "location": rc.location,
            }
            if safeguard:
                details["transfer_safeguard"] = safeguard
            if legal_demand_id:
                details["legal_demand"] = legal_demand_id
            append_entries(
                conn,
                now,
                [
                    AuditEntry(
                        "disclose",
                        actor.label,
                        Outcome.allow,
                        subject_id=subject_id,
                        tenant_id=subj.tenant_id,
                        purpose=purpose,
                        categories=cats,
                        details=details,
                    )
                ],
            )
            if demand is not None:
                conn.execute(
                    legal_demands.update()
                    .where(legal_demands.c.id == demand.id)
                    .values(status=DemandStatus.disclosed.value)
                )
                if demand.gag_until is None or demand.gag_until <= now:
                    notify_disclosures(conn, ctx, demand, [did])
        return DisclosurePackage(
            id=did,
            subject_id=subject_id,
            recipient=recipient,
            purpose=purpose,
            values={v.field: v.value for v in values},
            categories=cats,
            fields=fields_out,
            at=now,
            location=rc.location,
            transfer_safeguard=safeguard,
            legal_demand_id=legal_demand_id,
            withheld=withheld,
        )

    def _project(
        self,
        conn: Connection,
        subject_id: str,
        purpose: str,
        allowed: frozenset[str],
        only: frozenset[str],
        now: datetime,
        facts: Any,
    ) -> tuple[list[StoredValue], tuple[str, ...], dict[str, str]]:
        """Values of the allowed categories, bound to the purpose (unless the law obliges
        the disclosure), limited to the recipient's listed fields (P19)."""
        idx = self.ctx.policy
        legal = idx.purposes[purpose].legal_basis is LegalBasis.legal_obligation
        stored = read_values(conn, self.ctx, subject_id, sorted(allowed))
        out: list[StoredValue] = []
        withheld: dict[str, str] = {}
        return_fields: dict[str, None] = {}
        for v in stored:
            if only and v.field not in only:
                withheld[v.field] = "field_not_listed_for_recipient"
                continue
            if not legal:
                # The same binding rules as a use (P02, P03, P07, P08, P25).
                why = value_reason(idx, v, purpose, now, facts)
                if why is not None:
                    withheld[v.field] = why.value
                    continue
            out.append(v)
            return_fields[v.field] = None
        return out, tuple(return_fields), withheld

    def _check_demand(
        self, conn: Connection, demand_id: str, recipient: str, purpose: str
    ) -> LegalDemand:
        demand = demand_row(conn, demand_id)
        idx = self.ctx.policy
        p = idx.purposes.get(purpose)
        if p is None or p.legal_basis is not LegalBasis.legal_obligation:
            legal = sorted(
                p.id for p in idx.purposes.values() if p.legal_basis is LegalBasis.legal_obligation
            )
            raise ValidationError(
                f"a disclosure under a legal demand uses a legal-obligation purpose"
                f" ({', '.join(legal) or 'the policy declares none'}), not {purpose!r}"
            )
        if demand.recipient is not None and demand.recipient != recipient:
            raise ValidationError(
                f"legal demand {demand_id} is from {demand.recipient!r}; disclose to that"
                f" recipient, not {recipient!r}"
            )
        if demand.status == DemandStatus.closed:
            raise ValidationError(f"legal demand {demand_id} is closed")
        return demand

    # -- refusals --------------------------------------------------------------------------
    def _refuse(
        self,
        actor: Actor,
        subject_id: str,
        purpose: str,
        recipient: str,
        reason: Reason,
        message: str,
        categories: Iterable[str],
        legal_demand_id: str | None = None,
    ) -> NoReturn:
        details: dict[str, Any] = {"recipient": recipient[:200]}
        if legal_demand_id:
            # Named so that the attempt stays hidden from the person while a gag runs.
            details["legal_demand"] = legal_demand_id[:64]
        refuse(
            self.ctx,
            "disclose",
            actor,
            reason,
            message,
            subject_id=subject_id,
            purpose=purpose[:100],
            categories=sorted(categories),
            details=details,
            shown={"recipient": recipient},
        )

    # -- what the person sees ----------------------------------------------------------------
    def disclosures_of(
        self, subject_id: str, *, include_gagged: bool = False
    ) -> list[dict[str, Any]]:
        """Every disclosure of this person's data, newest first, for the privacy centre;
        one made under a legal demand is hidden while its non-disclosure order runs
        (P20), unless ``include_gagged`` (the office's own view, which marks it
        ``gagged_until``)."""
        now = self.ctx.clock.now()
        d, ld = disclosures, legal_demands
        stmt = (
            select(d, ld.c.authority, ld.c.instrument, ld.c.reference, ld.c.gag_until)
            .select_from(d.outerjoin(ld, ld.c.id == d.c.legal_demand_id))
            .where(d.c.subject_id == subject_id)
            .order_by(d.c.at.desc(), d.c.id)
        )
        idx = self.ctx.policy
        out: list[dict[str, Any]] = []
        with self.ctx.engine.connect() as conn:
            for row in conn.execute(stmt):
                gagged = row.gag_until is not None and row.gag_until > now
                if gagged and not include_gagged:
                    continue
                rc = idx.recipients.get(row.recipient)
                item: dict[str, Any] = {
                    "id": row.id,
                    "recipient": row.recipient,
                    "recipient_name": rc.name if rc else row.recipient,
                    "purpose": row.purpose,
                    "categories": list(row.categories),
                    "fields": list(row.fields),
                    "at": row.at.isoformat(),
                    "location": row.location,
                    "transfer_safeguard": row.transfer_safeguard,
                }
                if row.legal_demand_id:
                    item["legal_demand"] = {
                        "authority": row.authority,
                        "instrument": row.instrument,
                        "reference": row.reference,
                    }
                if gagged:
                    item["gagged_until"] = row.gag_until.isoformat()
                out.append(item)
        return out

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
