"""What every part of the access service shares: e-mail addresses and auditing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection

from troth.audit.entry import AuditEntry, Outcome
from troth.audit.log import append_entries
from troth.collection.validation import check_email
from troth.context import Context


def normalise_email(email: str, what: str = "email") -> str:
    """Lower-cased, trimmed; refuses (naming ``what``) something that is not an e-mail
    address, by the one check (:func:`troth.collection.validation.check_email`)."""
    return check_email(email, what).lower()


def audit(
    ctx: Context,
    conn: Connection,
    action: str,
    actor: str,
    *,
    outcome: Outcome = Outcome.info,
    tenant_id: str | None = None,
    subject_id: str | None = None,
    reason: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Append one audit entry in the caller's transaction."""
    entry = AuditEntry(
        action=action,
        actor=actor,
        outcome=outcome,
        subject_id=subject_id,
        tenant_id=tenant_id,
        reason=reason,
        details=dict(details or {}),
    )
    append_entries(conn, ctx.clock.now(), [entry])
