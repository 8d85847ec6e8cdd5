"""What every part of the access service shares: e-mail addresses and auditing."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection

from troth.audit.entry import AuditEntry, Outcome
from troth.audit.log import append_entries
from troth.context import Context
from troth.errors import ValidationError

_EMAIL = re.compile(r"^[^@\s]{1,200}@[^@\s]{1,200}\.[^@\s]{1,60}$")


def normalise_email(email: str) -> str:
    """Lower-cased, trimmed; refuses something that is not an e-mail address."""
    value = (email or "").strip().lower()
    if not _EMAIL.match(value):
        raise ValidationError(f"{email!r} is not an e-mail address (name@example.com)")
    return value


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
