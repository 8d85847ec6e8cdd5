"""Consent: an append-only ledger of what each person agreed to, the state derived from
it, signed receipts, Global Privacy Control, cookie choices and one-click unsubscribe.

    ledger = ConsentLedger(ctx)
    rec = ledger.grant(subject_id, "newsletter", notice_text=shown, origin=ip)
    verify_receipt(rec.receipt_jws, ctx.keys.public_key_b64())
    ledger.withdraw(subject_id, "newsletter")          # one call, like the grant
    ConsentLedger.active_purposes(conn, subject_id)    # what the gate reads
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from troth.consent.events import (
    ConsentKind,
    ConsentMethod,
    ConsentRecord,
    ConsentStatus,
    ImportedEvent,
    Mismatch,
    cookie_purpose,
    gpc_present,
    notice_hash,
    truncate_origin,
)
from troth.consent.ledger import ConsentLedger
from troth.consent.receipt import RECEIPT_VERSION, decode_receipt, verify_receipt
from troth.consent.state import (
    active_purposes,
    granted_subjects,
    granted_subjects_select,
    opted_out_purposes,
)
from troth.context import Context

__all__ = [
    "RECEIPT_VERSION",
    "ConsentKind",
    "ConsentLedger",
    "ConsentMethod",
    "ConsentRecord",
    "ConsentStatus",
    "ImportedEvent",
    "Mismatch",
    "active_purposes",
    "cookie_purpose",
    "decode_receipt",
    "gpc_present",
    "granted_subjects",
    "granted_subjects_select",
    "notice_hash",
    "opted_out_purposes",
    "record_collection_consents",
    "truncate_origin",
    "verify_receipt",
]


def record_collection_consents(
    conn: Connection,
    ctx: Context,
    subject_ids: Sequence[str],
    purposes: Sequence[str],
    actor: str,
    point: str,
    method: ConsentMethod | str = ConsentMethod.api,
) -> list[ConsentRecord]:
    """Grants given on a collection point's form, recorded in the caller's transaction
    (one event, receipt and audit entry per subject and purpose), with how they reached
    troth: ``api`` (the HTTP or Python API), ``staff`` (`troth collect`), ``import``."""
    return ConsentLedger(ctx).record_grants(
        conn, subject_ids, purposes, actor=actor, method=method, point=point
    )
