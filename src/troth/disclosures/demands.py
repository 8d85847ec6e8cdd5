"""Legal demands (P20): a court order, warrant or production order is recorded with its
instrument, from an authority (a recipient of kind ``authority``, where it names one); the
data goes through :meth:`DisclosureService.disclose` to an authority under a
legal-obligation purpose (never without a demand); the person is told through the outbox
at once, or, under a non-disclosure order, as soon as it ends (:func:`notify_due`, run by
the worker), in one letter per person (:func:`troth.disclosures.told.demand_letter`: never
the demand's free-text reference).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import Enum, StrEnum
from typing import Any

from sqlalchemy import Connection, insert, select, update

from troth.audit.entry import AuditEntry, Outcome
from troth.audit.log import append_entries, transaction
from troth.columns import row_of
from troth.context import Context
from troth.disclosures.tables import disclosures, legal_demands
from troth.disclosures.told import Told
from troth.errors import NotFound, ValidationError
from troth.gate import SYSTEM, Actor
from troth.office import authorize
from troth.policy.model import Power, RecipientKind
from troth.store.contact import contact_address
from troth.store.ids import new_id
from troth.store.tables import subjects
from troth.stored import member, tampered_value, tolerating


class LegalInstrument(StrEnum):
    """The legal instrument that compels a disclosure. Stored: never rename a value."""

    court_order = "court_order"
    warrant = "warrant"
    subpoena = "subpoena"
    production_order = "production_order"
    summons = "summons"
    statutory_notice = "statutory_notice"
    preservation_order = "preservation_order"


class DemandStatus(StrEnum):
    received = "received"
    disclosed = "disclosed"
    notified = "notified"
    closed = "closed"


@dataclass(frozen=True)
class LegalDemand:
    id: str
    authority: str
    recipient: str | None
    instrument: LegalInstrument
    reference: str
    scope: str
    received_at: datetime
    gag_until: datetime | None
    status: DemandStatus
    notified_at: datetime | None
    # What it asks for: the policy's categories (None: recorded before troth kept them,
    # so nothing goes under it) and the period the data was collected in (P20).
    categories: tuple[str, ...] | None = None
    period_from: datetime | None = None
    period_until: datetime | None = None
    unreadable: tuple[str, ...] = ()
    """In the list only: the columns (``legal_demands.gag_until``) holding a value troth
    never writes (the row was changed outside troth); each such field is None, never the
    value (:func:`list_demands`)."""

    def to_dict(self) -> dict[str, Any]:
        out = {
            k: v.value if isinstance(v, Enum) else v.isoformat() if isinstance(v, datetime) else v
            for k, v in asdict(self).items()
            if k != "unreadable"
        }
        if self.unreadable:
            out |= {"tampered": True, "unreadable": list(self.unreadable)}
        return out


def _text(name: str, value: Any, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"a legal demand needs {name}", field=name)
    if len(value) > limit:
        raise ValidationError(f"{name} is longer than {limit} characters", field=name)
    return value.strip()


def _aware(name: str, value: Any) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValidationError(f"{name} must be a timezone-aware date and time", field=name)
    return value


def record_demand(
    ctx: Context,
    *,
    authority: str,
    instrument: str | LegalInstrument | None,
    reference: str,
    scope: str,
    received_at: datetime | None = None,
    gag_until: datetime | None = None,
    recipient: str | None = None,
    actor: Actor = SYSTEM,
    categories: Iterable[str] | None = None,
    period_from: datetime | None = None,
    period_until: datetime | None = None,
) -> LegalDemand:
    """Record a demand (power ``legal_demands``, troth.office). Without a legal
    instrument there is no demand: ValidationError naming the instruments troth knows.
    It names the ``categories`` it asks for (one or more of the policy's) and, if it
    states one, the period the data was collected in: nothing beyond them is disclosed
    under it (troth.disclosures.scope)."""
    from troth.disclosures.scope import demand_scope

    authorize(ctx, actor, Power.legal_demands, details={"operation": "record"})
    inst = _instrument(instrument)
    asks = demand_scope(ctx, categories, period_from, period_until)
    authority = _text("authority", authority, 200)
    reference = _text("reference", reference, 200)
    scope = _text("scope", scope, 10_000)
    now = ctx.clock.now()
    received = _received(received_at, gag_until, now)
    if recipient is not None:
        authority_recipient(ctx, recipient)
    demand = LegalDemand(
        new_id(),
        authority,
        recipient,
        inst,
        reference,
        scope,
        received,
        gag_until,
        DemandStatus.received,
        None,
        asks.categories,
        asks.period_from,
        asks.period_until,
    )
    with transaction(ctx) as conn:
        _insert_demand(conn, demand, actor, now)
    return demand


def authority_recipient(ctx: Context, recipient: str) -> None:
    """A legal demand comes from an authority, and what it compels goes to one: the
    recipient must be one the policy lists with kind ``authority``; ValidationError naming
    those that are."""
    authorities = sorted(
        r.id for r in ctx.policy.recipients.values() if r.kind is RecipientKind.authority
    )
    known = (
        ", ".join(authorities)
        if authorities
        else "the policy lists none: add a recipient with kind: authority"
    )
    rc = ctx.policy.recipients.get(recipient)
    if rc is None:
        raise ValidationError(
            f"the policy lists no recipient {recipient!r}; a legal demand names an authority"
            f" ({known})",
            field="recipient",
        )
    if rc.kind is not RecipientKind.authority:
        raise ValidationError(
            f"a legal demand comes from an authority: {recipient!r} is a {rc.kind.value}"
            f" recipient, not an authority ({known})",
            field="recipient",
        )


def _instrument(instrument: str | LegalInstrument | None) -> LegalInstrument:
    """The legal instrument that compels the demand: without one there is no demand."""
    known = ", ".join(i.value for i in LegalInstrument)
    if instrument is None or (isinstance(instrument, str) and not instrument.strip()):
        raise ValidationError(
            f"a legal demand needs the legal instrument that compels it ({known});"
            " without one, nothing may be disclosed",
            field="instrument",
        )
    try:
        return LegalInstrument(instrument)
    except ValueError:
        raise ValidationError(
            f"unknown legal instrument {instrument!r}: use one of {known}", field="instrument"
        ) from None


def _received(received_at: datetime | None, gag_until: datetime | None, now: datetime) -> datetime:
    """When the demand was received (default: now), not in the future, before the end of
    its non-disclosure order."""
    received = _aware("received_at", received_at) if received_at is not None else now
    if received > now:
        raise ValidationError("received_at is in the future", field="received_at")
    if gag_until is not None:
        _aware("gag_until", gag_until)
        if gag_until <= received:
            raise ValidationError(
                "gag_until (end of the non-disclosure order) must be after received_at",
                field="gag_until",
            )
    return received


def _insert_demand(conn: Connection, demand: LegalDemand, actor: Actor, now: datetime) -> None:
    """The demand's row and its audit entry."""
    row = row_of(legal_demands, demand, recorded_by=actor.label, recorded_at=now)
    conn.execute(insert(legal_demands).values(**row))
    gag = demand.gag_until
    # The reference is free text (an officer may write a name into it), and the log keeps
    # its entries for good, beyond any erasure: the log holds its digest, which still
    # proves which reference was recorded; the text stays in the demand's row.
    details = {
        "demand": demand.id,
        "authority": demand.authority,
        "instrument": demand.instrument.value,
        "reference_sha256": hashlib.sha256(demand.reference.encode()).hexdigest(),
        "gag_until": gag.isoformat() if gag else None,
        # What troth decides on, checked against the row (troth.disclosures.logged).
        "recipient": demand.recipient,
        "received_at": demand.received_at.isoformat(),
        # What it asks for (troth.disclosures.scope): a disclosure goes no further.
        "categories": list(demand.categories or ()),
        "period_from": demand.period_from.isoformat() if demand.period_from else None,
        "period_until": demand.period_until.isoformat() if demand.period_until else None,
    }
    entry = AuditEntry("legal_demand.record", actor.label, Outcome.info, details=details)
    append_entries(conn, now, [entry])


def list_demands(
    ctx: Context, *, actor: Actor = SYSTEM, offset: int = 0, limit: int = 50
) -> list[LegalDemand]:
    """Legal demands, newest first (power ``legal_demands``): ``limit`` from ``offset``. A
    row holding a value troth never writes is listed flagged (``unreadable``: its columns,
    each such field None), not refused: the others stay in reach; every step on it is
    still refused, and the rows met are audited once per process (``stored_value``)."""
    from troth.audit.unreadable import audit_refusal
    from troth.disclosures.listed import listed_demand

    authorize(ctx, actor, Power.legal_demands, details={"operation": "list"})
    d = legal_demands.c
    with ctx.engine.connect() as conn:
        ids = list(
            conn.execute(
                select(d.id)
                .order_by(d.received_at.desc(), d.id)
                .offset(max(offset, 0))
                .limit(limit)
            ).scalars()
        )
        found = [listed_demand(conn, i) for i in ids]
    for column in sorted({c for x in found for c in x.unreadable}):
        audit_refusal(ctx, tampered_value(column), "legal demands list", actor)
    return found


def demand_row(conn: Connection, demand_id: str, *, tolerant: bool = False) -> LegalDemand:
    """The demand ``demand_id``; a value of its row troth never writes is refused
    (TamperedValue), unless ``tolerant``: then its times come back as
    troth.stored.Unreadable (for the notices and the lifting of its gag, which take the
    gag the log recorded and need only who demanded what)."""
    stmt = select(legal_demands).where(legal_demands.c.id == demand_id)
    with tolerating() if tolerant else nullcontext():
        row = conn.execute(stmt).first()
    if row is None:
        raise NotFound(f"no legal demand {demand_id!r}: record it first (record_demand)")
    return LegalDemand(
        row.id,
        row.authority,
        row.recipient,
        member(LegalInstrument, row.instrument, "legal_demands.instrument"),
        row.reference,
        row.scope,
        row.received_at,
        row.gag_until,
        member(DemandStatus, row.status, "legal_demands.status"),
        row.notified_at,
        tuple(row.categories) if isinstance(row.categories, list) else None,
        row.period_from,
        row.period_until,
    )


def notify_disclosures(
    conn: Connection, ctx: Context, demand: LegalDemand, disclosure_ids: Sequence[str]
) -> int:
    """Queue the notice of the disclosures under ``demand`` (one letter per person, once:
    outbox idempotency keys) and record it; the demand becomes ``notified`` when none is
    left untold."""
    return _notify(conn, ctx, demand, _untold(conn, disclosure_ids))


def _untold(conn: Connection, disclosure_ids: Sequence[str]) -> list[Told]:
    rows = conn.execute(
        select(disclosures, subjects.c.jurisdiction)
        .select_from(disclosures.outerjoin(subjects, subjects.c.id == disclosures.c.subject_id))
        .where(disclosures.c.id.in_(list(disclosure_ids)), disclosures.c.notified_at.is_(None))
    ).all()
    return [
        Told(r.id, r.subject_id, r.recipient, tuple(r.categories), r.at, r.jurisdiction)
        for r in rows
    ]


def _notify(conn: Connection, ctx: Context, demand: LegalDemand, told: list[Told]) -> int:
    now = ctx.clock.now()
    people: dict[str, list[Told]] = {}
    for row in sorted(told, key=lambda r: (r.at, r.id)):
        people.setdefault(row.subject_id, []).append(row)
    sent = sum(_tell(conn, ctx, demand, sid, rows) for sid, rows in people.items())
    for row in told:
        if not row.from_log:
            conn.execute(
                update(disclosures).where(disclosures.c.id == row.id).values(notified_at=now)
            )
    left = conn.execute(
        select(disclosures.c.id).where(
            disclosures.c.legal_demand_id == demand.id, disclosures.c.notified_at.is_(None)
        )
    ).first()
    if left is None:
        conn.execute(
            update(legal_demands)
            .where(legal_demands.c.id == demand.id)
            .values(status=DemandStatus.notified.value, notified_at=now)
        )
    return sent


def _tell(
    conn: Connection, ctx: Context, demand: LegalDemand, subject_id: str, rows: list[Told]
) -> int:
    """Queue one letter to the person of the disclosures ``rows`` (:func:`demand_letter`)
    and audit each; 1 when queued, 0 without an address."""
    from troth.disclosures.told import demand_letter
    from troth.notices.outbox import MailKind, enqueue

    to = contact_address(conn, ctx, subject_id)
    if to is not None:
        subject, body = demand_letter(ctx, demand, rows)
        enqueue(
            conn,
            ctx,
            idempotency_key=f"legal-demand:{demand.id}:{rows[0].id}",
            to_addr=to,
            subject=subject,
            body_text=body,
            subject_id=subject_id,
            kind=MailKind.transactional,
        )
    entries = []
    for row in rows:
        audit: dict[str, Any] = {"demand": demand.id, "disclosure": row.id}
        if row.from_log:
            audit["row_missing"] = True  # deleted outside troth: told from the audit log
        if to is None:
            audit["undeliverable"] = "no e-mail address on record"
        entries.append(
            AuditEntry(
                "legal_demand.notify",
                "system:troth",
                Outcome.info,
                subject_id=subject_id,
                details=audit,
            )
        )
    append_entries(conn, ctx.clock.now(), entries)
    return 0 if to is None else 1


def notify_untold(conn: Connection, ctx: Context, demand: LegalDemand) -> int:
    """:func:`notify_disclosures` of every disclosure under ``demand`` not told yet (a
    gag that ended or was lifted), and of every one the audit log recorded under it whose
    row was deleted outside troth (told from its entry, audited ``record_tampered``),
    each person in one letter; the number of letters queued."""
    from troth.disclosures.logged import honoured_of, logged_disclosures

    d = disclosures.c
    ids = (
        conn.execute(select(d.id).where(d.legal_demand_id == demand.id, d.notified_at.is_(None)))
        .scalars()
        .all()
    )
    honoured, _ = honoured_of(conn, demand.id)
    logged = list(logged_disclosures(conn, demand.id, honoured.record_seq))
    kept = set(conn.execute(select(d.id).where(d.id.in_([x[0] for x in logged]))).scalars())
    lost = [x for x in logged if x[0] not in kept and x[2] is not None]
    told = _untold(conn, list(ids))
    if lost:
        where = {
            s.id: s.jurisdiction
            for s in conn.execute(
                select(subjects.c.id, subjects.c.jurisdiction).where(
                    subjects.c.id.in_([str(x[2]) for x in lost])
                )
            )
        }
        told += [
            Told(did, str(sid), str(e.details.get("recipient")), cats, e.at, where.get(sid), True)
            for did, e, sid, _purpose, cats in lost
        ]
    sent = _notify(conn, ctx, demand, told)
    if lost:
        append_entries(conn, ctx.clock.now(), [_lost_entry(demand, [x[0] for x in lost])])
    return sent


def _lost_entry(demand: LegalDemand, ids: list[str]) -> AuditEntry:
    from troth.audit.refusals import denial
    from troth.gate import Reason

    details = {"demand": demand.id, "disclosures_missing": ids[:100], "missing": len(ids)}
    return denial("legal_demand.notify", SYSTEM, Reason.record_tampered, details=details)


def notify_due(ctx: Context, now: datetime) -> int:
    """Notices for disclosures under demands whose non-disclosure order, as the audit log
    recorded it, has ended (or never existed) and that were not told yet (a gag moved
    outside troth neither tips the person off early nor keeps them untold:
    :mod:`troth.disclosures.logged`). Idempotent."""
    from troth.disclosures.logged import check_demands, demand_rows

    total = 0
    with ctx.engine.connect() as conn:
        open_ = (
            conn.execute(
                select(legal_demands.c.id)
                .where(legal_demands.c.status == DemandStatus.disclosed.value)
                .order_by(legal_demands.c.received_at)
            )
            .scalars()
            .all()
        )
        checked = check_demands(conn, demand_rows(conn, open_))
    checked.audit(ctx)
    due = [i for i in open_ if not checked.gags[i].gagged(now)]
    for demand_id in due:
        with transaction(ctx) as conn:
            total += notify_untold(conn, ctx, demand_row(conn, demand_id, tolerant=True))
    return total
