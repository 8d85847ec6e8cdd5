"""What one audit entry says, and the checks it passes before it is appended."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from troth.errors import ValidationError


class Outcome(StrEnum):
    allow = "allow"
    deny = "deny"
    info = "info"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One thing that happened: who did what to whose data, for what purpose, and what
    troth decided. ``actor`` is ``kind:id`` (``staff:alice``, ``app:shop``,
    ``subject:<id>``, ``vendor:bob``, ``system``)."""

    action: str
    actor: str
    outcome: Outcome = Outcome.allow
    subject_id: str | None = None
    tenant_id: str | None = None
    purpose: str | None = None
    categories: tuple[str, ...] = ()
    reason: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


_LIMITS = {"actor": 255, "action": 100, "subject_id": 128, "tenant_id": 128, "purpose": 100}


def check_entry(at: datetime, entry: AuditEntry) -> None:
    """Raise ValidationError unless ``entry`` at ``at`` can be appended (checked before
    anything is written, so one bad entry never fails a shared transaction)."""
    if at.tzinfo is None:
        raise ValidationError("audit time must be timezone-aware")
    _check(entry)


def _check(entry: AuditEntry) -> None:
    if not isinstance(entry, AuditEntry):
        raise ValidationError(f"audit entries must be AuditEntry, not {type(entry).__name__}")
    if not entry.action or not entry.actor:
        raise ValidationError("an audit entry needs an action and an actor")
    if entry.outcome not in Outcome.__members__:
        raise ValidationError(
            f"audit outcome {entry.outcome!r} is not one of {', '.join(Outcome.__members__)}"
        )
    for name, limit in _LIMITS.items():
        value = getattr(entry, name)
        if value is not None and len(value) > limit:
            raise ValidationError(f"audit entry {name} is longer than {limit} characters")
