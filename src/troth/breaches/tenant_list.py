"""A customer's own affected people (P33): the list a controller needs to tell them.

A customer (tenant) told of a breach of its people's data is their controller: telling them
is its duty (GDPR Art. 34, PIPEDA s.10.1(3)), and the organisation, its processor, assists
(Art. 28(3)(f), 33(2)). Once the customer was told (``breaches notify-controllers``), its
admins and its API keys with the scope ``breaches`` (or ``admin``) read exactly its own
people on the breach's list, never another customer's nor how many others there are: each
person's id, whether the organisation told them itself, and the contact details needed to
tell them (the fields holding an e-mail address or a telephone number).

The contact details are read as any read of a person's data is: through the gate, with the
actor's scopes or member role, consent, restrictions, erasure (what a legal minimum keeps
after erasure serves only its own purpose), each value's purposes, and the masks the policy
declares for a customer's side (:func:`troth.gate.masks.shown_to`). The purposes tried are
those of the policy that declare a contact category, those resting on a legal obligation
first (telling people of a breach is one), never an aggregate-only, marketing or
sale-or-sharing purpose; the first under which the gate reveals a contact value is used,
and the person's entry says which. What the gate withholds is said by its reason
(``withheld``). Every value revealed is audited as a ``use`` filed under the person (with the
breach in its details, which the person's page does not show), and each page read once as
``breach.tenant_affected`` under the customer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from troth.audit.entry import AuditEntry, Outcome
from troth.audit.log import append_entries, transaction
from troth.audit.refusals import denial, refuse, reject_input
from troth.breaches.controllers import tenant_of
from troth.breaches.duties import leaves_to_controller, told_customers
from troth.breaches.model import Breach, breach_of
from troth.breaches.tables import breach_subjects, breaches
from troth.context import Context
from troth.errors import Conflict, NotFound
from troth.gate import REFUSAL_PRECEDENCE, Actor, Ask, Operation, Reason, decide
from troth.gate import facts as facts_mod
from troth.gate.masks import as_held, shown_to, sort_values
from troth.policy.index import PolicyIndex
from troth.policy.model import FieldType, LegalBasis
from troth.store.seals import RecordTampered
from troth.store.tables import subjects
from troth.store.values import StoredValue, read_subject

ACTION = "breach.tenant_affected"
MAX_PAGE = 500
_CONTACT_KINDS = frozenset({"email", "phone"})
_RANK = {r: i for i, r in enumerate(REFUSAL_PRECEDENCE)}


def contact_fields(index: PolicyIndex) -> frozenset[tuple[str, str]]:
    """Every (collection point, field) that holds a way to reach a person: a field that
    identifies them by e-mail or telephone, or is typed an e-mail address or a number."""
    return frozenset(
        (point, name)
        for point, fields in index.point_fields.items()
        for name, spec in fields.items()
        if spec.identifies in _CONTACT_KINDS or spec.type in (FieldType.email, FieldType.phone)
    )


def contact_purposes(index: PolicyIndex, categories: frozenset[str]) -> list[str]:
    """The purposes a contact detail may be read for here (module docstring), in the order
    they are tried: those resting on a legal obligation first, then the policy's order."""
    usable = [
        p
        for p in index.policy.purposes
        if not (p.aggregate_only or p.marketing or p.sale_or_sharing)
        and categories & index.purpose_categories.get(p.id, frozenset())
    ]
    usable.sort(key=lambda p: p.legal_basis is not LegalBasis.legal_obligation)
    return [p.id for p in usable]


def _told_breach(ctx: Context, actor: Actor, tid: str, breach_id: str) -> Breach:
    """The breach, when it affects the tenant's people and the tenant was told of it: one
    that affects none of them is the 404 of one that does not exist; one not told yet is a
    409 (the organisation reviews the list before it hands it over). Both audited."""
    bs = breach_subjects.c
    mine = (
        select(bs.breach_id)
        .join(subjects, subjects.c.id == bs.subject_id)
        .where(subjects.c.tenant_id == tid, bs.breach_id == breach_id)
    )
    with ctx.engine.connect() as conn:
        row = conn.execute(select(breaches).where(breaches.c.id.in_(mine))).first()
    where = {"breach": breach_id[:64], "tenant": tid}
    if row is None:
        refuse(
            ctx,
            ACTION,
            actor,
            Reason.not_found,
            error=NotFound(f"no breach {breach_id[:64]!r} in the register"),
            tenant_id=tid,
            details=where,
        )
    b = breach_of(row)
    if tid not in told_customers(b):
        reject_input(
            ctx,
            ACTION,
            actor,
            Conflict(
                f"breach {b.id}: you have not been told of it yet. The list of your people"
                " comes with our notice, once we have reviewed it",
                code="not_told_yet",
            ),
            details=where,
        )
    return b


def _people(conn: Connection, b: Breach, tid: str, limit: int, offset: int) -> Sequence[Any]:
    bs = breach_subjects.c
    return conn.execute(
        select(bs.subject_id, bs.notified_at, subjects.c.erased_at)
        .join(subjects, subjects.c.id == bs.subject_id)
        .where(bs.breach_id == b.id, subjects.c.tenant_id == tid)
        .order_by(bs.subject_id)
        .offset(max(0, offset))
        .limit(max(0, min(limit, MAX_PAGE)))
    ).all()


def _count(conn: Connection, b: Breach, tid: str) -> int:
    bs = breach_subjects.c
    return int(
        conn.execute(
            select(func.count())
            .select_from(breach_subjects.join(subjects, subjects.c.id == bs.subject_id))
            .where(bs.breach_id == b.id, subjects.c.tenant_id == tid)
        ).scalar_one()
    )


class _Reader:
    """Reads one person's contact details as ``actor`` may (module docstring)."""

    def __init__(self, ctx: Context, actor: Actor, now: datetime) -> None:
        self.ctx, self.actor, self.now = ctx, actor, now
        idx = ctx.policy
        self.fields = contact_fields(idx)
        self.categories = frozenset(
            idx.point_fields[p][f].category for p, f in self.fields if p in idx.point_fields
        )
        self.purposes = contact_purposes(idx, self.categories)

    def read(
        self, conn: Connection, sid: str
    ) -> tuple[list[StoredValue], str | None, str | None, AuditEntry | None]:
        """(the values shown, the purpose they were read for, why nothing was shown, the
        audit entry of the read)."""
        idx = self.ctx.policy
        try:
            subj, values = read_subject(conn, self.ctx, sid, sorted(self.categories))
        except RecordTampered as exc:
            details = {"record": exc.details.get("record_id")}
            entry = denial("use", self.actor, Reason.record_tampered, subject_id=sid)
            return [], None, Reason.record_tampered.value, replace(entry, details=details)
        except NotFound:
            return [], None, Reason.not_found.value, None
        held = [v for v in values if (v.collection_point or "", v.field) in self.fields]
        if not held:
            gone = Reason.subject_erased.value if subj.erased_at is not None else None
            return [], None, gone or "no_contact_details_held", None
        facts = facts_mod.gather(conn, self.ctx, self.actor, subj)
        actor = as_held(self.actor, facts)
        cats = tuple(sorted({v.category for v in held}))
        reasons: list[Reason] = []
        for purpose in self.purposes:
            decision = decide(idx, Ask(actor, Operation.use, purpose, cats, self.now), facts)
            visible, _, hidden = sort_values(idx, actor, purpose, decision, facts, self.now, held)
            if visible:
                entry = AuditEntry(
                    "use",
                    actor.label,
                    Outcome.allow,
                    subject_id=sid,
                    tenant_id=subj.tenant_id,
                    purpose=purpose,
                    categories=tuple(sorted({v.category for v in visible})),
                    details={"grant": decision.grant_id} if decision.grant_id else {},
                )
                return shown_to(idx, actor, visible), purpose, None, entry
            reasons += [decision.reason] if decision.reason else [r for _, r in hidden]
        why = min(reasons, key=lambda r: (_RANK.get(r, len(_RANK)), r.value), default=None)
        return [], None, (why or Reason.purpose_not_declared_for_category).value, None


def tenant_affected(
    ctx: Context, actor: Actor, breach_id: str, *, limit: int = 50, offset: int = 0
) -> dict[str, Any]:
    """The actor's tenant's own people on breach ``breach_id`` (module docstring), ``limit``
    (at most 500) from ``offset`` in id order: ``people`` and ``your_people_affected``."""
    tid = tenant_of(ctx, actor, action=ACTION)
    b = _told_breach(ctx, actor, tid, breach_id)
    now = ctx.clock.now()
    reader = _Reader(ctx, actor, now)
    left = leaves_to_controller(ctx)
    people: list[dict[str, Any]] = []
    entries: list[AuditEntry] = []
    with ctx.engine.connect() as conn:
        total = _count(conn, b, tid)
        for row in _people(conn, b, tid, limit, offset):
            shown, purpose, why, entry = reader.read(conn, row.subject_id)
            if entry is not None:
                entries.append(replace(entry, details={**entry.details, "breach": b.id}))
            people.append(_entry(row, shown, purpose, why, left))
    summary = {
        "breach": b.id,
        "offset": max(0, offset),
        "listed": len(people),
        "contacts_shown": sum(1 for p in people if p["contact"]),
    }
    entries.append(AuditEntry(ACTION, actor.label, Outcome.info, tenant_id=tid, details=summary))
    with transaction(ctx) as conn:
        append_entries(conn, now, entries)
    return {"breach": b.id, "your_people_affected": total, "people": people}


def _entry(
    row: Any, shown: Sequence[StoredValue], purpose: str | None, why: str | None, left: bool
) -> dict[str, Any]:
    told = row.notified_at
    return {
        "subject_id": row.subject_id,
        "erased": row.erased_at is not None,
        "told_by_us_at": told.isoformat() if told else None,
        "yours_to_tell": left and told is None,
        "contact": [{"field": v.field, "category": v.category, "value": v.value} for v in shown],
        "read_for": purpose,
        "withheld": why,
    }


__all__ = ["ACTION", "contact_fields", "contact_purposes", "tenant_affected"]
