"""Legal holds in the database: a person or a whole tenant put under hold keeps everything
of theirs from retention until the hold is lifted. The service checks who asks and what
(:meth:`troth.retention.service.RetentionService.place_hold`); these write it, in the
caller's transaction, with its audit entry."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select, update

from troth.audit.entry import AuditEntry, Outcome
from troth.audit.log import append_entries
from troth.columns import row_of
from troth.errors import NotFound, ValidationError
from troth.retention.tables import legal_holds
from troth.store.subject_seals import update_subjects
from troth.store.tables import subjects

if TYPE_CHECKING:
    from troth.context import Context
    from troth.keys import Keyring


@dataclass(frozen=True)
class Hold:
    """A legal hold on one person or one tenant."""

    id: str
    reason: str
    subject_id: str | None
    tenant_id: str | None
    # The purposes it serves: usable while it runs, whatever erasure it defers.
    purposes: tuple[str, ...] = ()


def hold_purposes(ctx: Context, purposes: Sequence[str] | None) -> tuple[str, ...]:
    """The purposes a hold serves, as given (None: none), each one the policy declares:
    ValidationError naming the declared ones otherwise."""
    if purposes is None:
        return ()
    if isinstance(purposes, str) or not all(isinstance(p, str) for p in purposes):
        raise ValidationError(
            "a legal hold's purposes are a list of the policy's purpose ids", field="purposes"
        )
    known = ctx.policy.purposes
    unknown = sorted({p for p in purposes if p not in known})
    if unknown:
        raise ValidationError(
            f"the policy declares no purpose {', '.join(map(repr, unknown))}: a legal hold"
            f" serves some of {', '.join(sorted(known))}",
            field="purposes",
        )
    return tuple(sorted(set(purposes)))


def place(conn: Connection, now: datetime, hold: Hold, by: str, keys: Keyring) -> None:
    """Record ``hold``, placed by ``by`` (NotFound for an unknown person; the person's
    row is checked against its seal and sealed again, troth.store.subject_seals)."""
    if hold.subject_id is not None:
        who = subjects.c.id == hold.subject_id
        n = update_subjects(conn, keys, who, legal_hold=hold.reason)
        if not n:
            raise NotFound(f"no subject {hold.subject_id!r}", subject_id=hold.subject_id)
    row = row_of(legal_holds, hold, placed_at=now, placed_by=by)
    conn.execute(legal_holds.insert().values(row))
    details: dict[str, Any] = {"hold": hold.id, "reason": hold.reason}
    if hold.purposes:
        details["purposes"] = list(hold.purposes)
    _audit(conn, now, "legal_hold.place", by, hold, details)


def lift(conn: Connection, now: datetime, hold_id: str, by: str, keys: Keyring) -> None:
    """Lift the active hold ``hold_id`` (NotFound when there is none); a person keeps the
    reason of another hold still on them."""
    row = conn.execute(
        select(legal_holds).where(legal_holds.c.id == hold_id, legal_holds.c.lifted_at.is_(None))
    ).first()
    if row is None:
        raise NotFound(f"no active legal hold {hold_id!r}")
    conn.execute(
        update(legal_holds).where(legal_holds.c.id == hold_id).values(lifted_at=now, lifted_by=by)
    )
    if row.subject_id is not None:
        still = conn.execute(
            select(legal_holds.c.reason).where(
                legal_holds.c.subject_id == row.subject_id,
                legal_holds.c.lifted_at.is_(None),
            )
        ).scalar()
        update_subjects(conn, keys, subjects.c.id == row.subject_id, legal_hold=still)
    hold = Hold(hold_id, row.reason, row.subject_id, row.tenant_id)
    _audit(conn, now, "legal_hold.lift", by, hold, {"hold": hold_id})


def _audit(
    conn: Connection, now: datetime, action: str, by: str, hold: Hold, details: dict[str, Any]
) -> None:
    # The entry names the person or tenant in its details, not in its subject and tenant
    # columns: the entries filed under a person are read by them and by their tenant
    # (troth.disclosures.gags.person_entries), and a hold, its id and its reason may be
    # gagged. The office finds them by action.
    target = {"subject": hold.subject_id} if hold.subject_id else {"tenant": hold.tenant_id}
    entry = AuditEntry(action, by, Outcome.info, details={**target, **details})
    append_entries(conn, now, [entry])


def active(conn: Connection, subject_id: str | None = None) -> list[dict[str, Any]]:
    """The holds not lifted, oldest first: each one's id, reason, person or tenant, the
    purposes it serves (a list, maybe empty), and when and by whom it was placed. With
    ``subject_id``: those that hold that person (on them, or on their tenant)."""
    h = legal_holds.c
    stmt = select(
        h.id, h.reason, h.subject_id, h.tenant_id, h.purposes, h.placed_at, h.placed_by
    ).where(h.lifted_at.is_(None))
    if subject_id is not None:
        tenant = select(subjects.c.tenant_id).where(subjects.c.id == subject_id)
        stmt = stmt.where(
            (h.subject_id == subject_id) | (h.tenant_id.is_not(None) & h.tenant_id.in_(tenant))
        )
    rows = conn.execute(stmt.order_by(h.placed_at, h.id)).mappings()
    return [{**r, "purposes": list(r["purposes"] or ())} for r in rows]


def held_subjects(conn: Connection) -> list[str]:
    """Every person a legal hold holds now: on them, or on their tenant, or whose own
    sealed row says they are held (a hold's row deleted outside troth lifts nothing)
    (id order)."""
    h = legal_holds.c
    live = h.lifted_at.is_(None)
    on_person = select(h.subject_id).where(live, h.subject_id.is_not(None))
    on_tenant = select(h.tenant_id).where(live, h.tenant_id.is_not(None))
    stmt = (
        select(subjects.c.id)
        .where(
            subjects.c.id.in_(on_person)
            | subjects.c.tenant_id.in_(on_tenant)
            | subjects.c.legal_hold.is_not(None)
        )
        .order_by(subjects.c.id)
    )
    return [str(s) for s in conn.execute(stmt).scalars()]
