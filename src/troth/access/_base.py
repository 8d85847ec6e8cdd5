"""What every part of the access service shares: e-mail addresses, auditing, and refusals
that are audited before they are raised."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NoReturn

from sqlalchemy import Connection

from troth.audit.entry import AuditEntry, Outcome
from troth.audit.log import append_entries
from troth.audit.refusals import denial, refuse
from troth.context import Context
from troth.errors import TrothError, ValidationError
from troth.gate import Reason

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


def deny(
    ctx: Context,
    conn: Connection,
    action: str,
    actor: str,
    reason: Reason,
    *,
    tenant_id: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Audit a refusal in the caller's transaction, which also records what the refusal
    changes (a failed login's count); the caller raises once it is committed."""
    entry = denial(action, actor, reason, tenant_id=tenant_id, details=details)
    append_entries(conn, ctx.clock.now(), [entry])


def refuse_with(
    ctx: Context,
    exc: TrothError,
    action: str,
    actor: str,
    *,
    reason: Reason,
    tenant_id: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> NoReturn:
    """Audit a refusal in its own transaction (nothing else is written), then raise
    ``exc``."""
    refuse(ctx, action, actor, reason, error=exc, tenant_id=tenant_id, details=details)
