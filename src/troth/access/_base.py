"""What every part of the access service shares: the context, the clock, auditing and
refusals that are audited before they are raised."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
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


class AccessBase:
    """Holds the context; every mixin of :class:`troth.access.AccessService` builds on it."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def _now(self) -> datetime:
        return self.ctx.clock.now()

    def _audit(
        self,
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
        append_entries(
            conn,
            self._now(),
            [
                AuditEntry(
                    action=action,
                    actor=actor,
                    outcome=outcome,
                    subject_id=subject_id,
                    tenant_id=tenant_id,
                    reason=reason,
                    details=dict(details or {}),
                )
            ],
        )

    def _deny(
        self,
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
        append_entries(
            conn,
            self._now(),
            [denial(action, actor, reason, tenant_id=tenant_id, details=details)],
        )

    def _refuse(
        self,
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
        refuse(self.ctx, action, actor, reason, error=exc, tenant_id=tenant_id, details=details)
