"""Appending consent events (the one write path of the ledger): each event's row, the
derived state kept in step, a signed Kantara receipt for each grant and an audit entry for
each event, all in the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, column, insert, select, table

from troth.audit.entry import AuditEntry, Outcome
from troth.audit.log import append_entries
from troth.audit.refusals import Refusal
from troth.consent import state as _state
from troth.consent.events import ConsentKind, ConsentMethod, ConsentRecord, clip
from troth.consent.receipt import build_receipt, sign_receipt
from troth.consent.tables import consent_events, consent_receipts
from troth.context import Context
from troth.errors import NotFound
from troth.gate import Reason
from troth.stored import member

# Only what the ledger needs from the store's subjects table.
subjects = table(
    "subjects", column("id"), column("jurisdiction"), column("erased_at"), column("tenant_id")
)

# One event to record: (purpose, kind, granted, SHA-256 of the notice shown or None).
Item = tuple[str, ConsentKind, bool, str | None]


@dataclass(frozen=True)
class Provenance:
    """How, where from and by whom consent events were expressed: the method, the
    request's origin, user agent and page, the person's jurisdiction (default: the one
    on record), who recorded them, the receipt's language and extra audit details."""

    method: ConsentMethod
    actor: str | None = None  # None: the person themself
    origin: str | None = None
    user_agent: str | None = None
    url: str | None = None
    jurisdiction: str | None = None
    language: str = "en"
    details: Mapping[str, Any] = field(default_factory=dict)


ERASED = (
    "this person's data was erased or their account closed: no consent, withdrawal or"
    " opt-out is recorded for them any more (a new sign-up starts a new record)"
)


def erased_refusal(
    conn: Connection, subject_ids: Sequence[str] | str, purposes: Sequence[str] = ()
) -> Refusal | None:
    """The one erased check of the ledger: every path that records consent events for
    people (grant, withdraw, GPC, cookie choices, unsubscribe, list (un)subscribe, an
    objection, an import) asks it in its transaction before writing. None when none of
    ``subject_ids`` was erased (or closed their account); else the refusal
    (``subject_erased``, naming the first such person), for the caller to hand to
    :func:`troth.audit.refusals.refuse` once its transaction has written nothing. Only
    the erasure's own events (:meth:`ConsentLedger.end_all`) are written without it."""
    ids = [subject_ids] if isinstance(subject_ids, str) else list(dict.fromkeys(subject_ids))
    erased: str | None = None
    for start in range(0, len(ids), 500):
        erased = conn.execute(
            select(subjects.c.id)
            .where(subjects.c.id.in_(ids[start : start + 500]), subjects.c.erased_at.is_not(None))
            .order_by(subjects.c.id)
            .limit(1)
        ).scalar()
        if erased is not None:
            break
    if erased is None:
        return None
    return Refusal(
        Reason.subject_erased,
        ERASED,
        subject_id=str(erased),
        details={"purposes": list(purposes)} if purposes else {},
    )


def append_events(
    conn: Connection,
    ctx: Context,
    subject_id: str,
    items: Sequence[Item],
    how: Provenance,
    now: datetime,
) -> list[ConsentRecord]:
    """Record ``items`` for one person (see module doc); NotFound for an unknown person."""
    where = how.jurisdiction or require_subject(conn, ctx, subject_id)
    rows: list[dict[str, Any]] = []
    receipts: dict[str, str] = {}
    for purpose, kind, granted, nhash in items:
        receipt_id = str(uuid.uuid4()) if kind is ConsentKind.grant else None
        rows.append(
            {
                "subject_id": subject_id,
                "purpose": purpose,
                "kind": kind.value,
                "granted": granted,
                "policy_version": ctx.policy.version,
                "notice_hash": nhash,
                "method": how.method.value,
                "at": now,
                "origin": how.origin,
                "user_agent": clip(how.user_agent, 512),
                "url": clip(how.url, 2048),
                "jurisdiction": where,
                "receipt_id": receipt_id,
            }
        )
        if receipt_id is not None:
            whose = _controller_of(conn, ctx, subject_id, purpose)
            receipts[receipt_id] = _signed_receipt(ctx, rows[-1], how.language, whose)
    ids = (
        conn.execute(
            insert(consent_events).returning(consent_events.c.id, sort_by_parameter_order=True),
            rows,
        )
        .scalars()
        .all()
    )
    for row, event_id in zip(rows, ids, strict=True):
        row["id"] = int(event_id)
    _state.apply_events(conn, rows)
    _store_receipts(conn, rows, receipts, now)
    actor = how.actor or f"subject:{subject_id}"
    append_entries(conn, now, [_audit_entry(r, actor, how.details) for r in rows])
    return [_record(r, receipts) for r in rows]


def _controller_of(
    conn: Connection, ctx: Context, subject_id: str, purpose: str
) -> dict[str, str] | None:
    """Who decides about ``subject_id``'s consent to ``purpose`` when it is not the
    organisation: their customer (its name and primary address), where the customers
    decide about their people (``tenant_controller: customer``) and the purpose is not one
    of the organisation's own (``vendor_only``: it decides about those). None: the
    organisation."""
    from troth.access.mail import tenant_contact
    from troth.policy.parties import customers_control

    if purpose in ctx.policy.declaring(purpose).vendor_purposes or not customers_control(
        ctx.policy.policy
    ):
        return None
    tenant = conn.execute(select(subjects.c.tenant_id).where(subjects.c.id == subject_id)).scalar()
    if tenant is None:
        return None
    name, primary = tenant_contact(conn, ctx, str(tenant))
    return {"name": name, "email": primary or ""}


def _signed_receipt(
    ctx: Context, row: Mapping[str, Any], language: str, controller: dict[str, str] | None
) -> str:
    """The signed receipt (compact JWS) of a grant's row (``controller``: who decides
    about it when not the organisation, :func:`_controller_of`)."""
    receipt = build_receipt(
        ctx.policy.declaring(row["purpose"]),
        receipt_id=row["receipt_id"],
        subject_id=row["subject_id"],
        purpose=row["purpose"],
        at=row["at"],
        method=row["method"],
        jurisdiction=row["jurisdiction"],
        public_key_b64=ctx.keys.public_key_b64(),
        public_url=ctx.settings.public_url,
        language=language,
        controller=controller,
    )
    return sign_receipt(receipt, ctx.keys.signing_key)


def _store_receipts(
    conn: Connection, rows: Sequence[Mapping[str, Any]], receipts: Mapping[str, str], now: datetime
) -> None:
    if not receipts:
        return
    conn.execute(
        insert(consent_receipts),
        [
            {
                "receipt_id": r["receipt_id"],
                "event_id": r["id"],
                "subject_id": r["subject_id"],
                "jws": receipts[r["receipt_id"]],
                "created_at": now,
            }
            for r in rows
            if r["receipt_id"] is not None
        ],
    )


def _audit_entry(row: Mapping[str, Any], actor: str, details: Mapping[str, Any]) -> AuditEntry:
    return AuditEntry(
        action=f"consent.{row['kind']}",
        actor=actor,
        outcome=Outcome.info,
        subject_id=row["subject_id"],
        purpose=row["purpose"],
        details={
            "event_id": row["id"],
            "granted": row["granted"],
            "method": row["method"],
            "policy_version": row["policy_version"],
            "receipt_id": row["receipt_id"],
            **details,
        },
    )


def _record(row: Mapping[str, Any], receipts: Mapping[str, str]) -> ConsentRecord:
    return ConsentRecord(
        event_id=row["id"],
        subject_id=row["subject_id"],
        purpose=row["purpose"],
        kind=member(ConsentKind, row["kind"], "consent_events.kind"),
        granted=row["granted"],
        at=row["at"],
        receipt_id=row["receipt_id"],
        receipt_jws=receipts.get(row["receipt_id"]) if row["receipt_id"] else None,
    )


def require_subject(conn: Connection, ctx: Context, subject_id: str) -> str:
    """The subject's jurisdiction; NotFound when there is no such subject."""
    found = conn.execute(select(subjects.c.jurisdiction).where(subjects.c.id == subject_id)).first()
    if found is None:
        raise NotFound(
            f"no subject {subject_id[:64]!r}; record the person first (store) and use the id "
            "troth returned",
            code="unknown_subject",
        )
    return str(found[0] or ctx.policy.default_jurisdiction)
