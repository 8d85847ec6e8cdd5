"""What one audit entry says."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


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
