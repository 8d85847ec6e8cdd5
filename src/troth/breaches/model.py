"""A breach as the register holds it (P33): its fields and status, read from its row, and
the checks every operation on the register makes of what it is given."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, func, select, update

from troth.audit.entry import AuditEntry, Outcome
from troth.audit.log import append_entries
from troth.breaches.tables import breach_subjects, breaches
from troth.errors import ValidationError
from troth.gate import Actor
from troth.store.plain import plain_fields
from troth.stored import member

_ID = re.compile(r"[0-9a-f]{32}")
# The register's CSV columns, in the order of Breach.to_dict.
CSV_ORDER = [
    "id",
    "title",
    "description",
    "discovered_at",
    "aware_at",
    "occurred_from",
    "occurred_until",
    "systems",
    "categories",
    "regimes",
    "high_risk",
    "status",
    "affected_count",
    "regulator_notified_at",
    "individuals_notified_at",
    "late_reason",
    "recorded_at",
    "keep_until",
    "scope",
    "by",
    "affected_by_source",
    "unmatched_in_datasets",
    "public_notice",
    "history",
    "regimes_from",
]


class BreachStatus(StrEnum):
    open = "open"
    regulator_notified = "regulator_notified"
    # Some people told, others not yet (no address, or a run interrupted half-way).
    individuals_partly_notified = "individuals_partly_notified"
    # Everyone on the list told, directly or by a public notice.
    individuals_notified = "individuals_notified"


@dataclass(frozen=True)
class Breach:
    id: str
    title: str
    description: str
    discovered_at: datetime
    aware_at: datetime
    occurred_from: datetime
    occurred_until: datetime
    systems: tuple[str, ...]
    categories: tuple[str, ...]
    regimes: tuple[str, ...]
    high_risk: bool
    status: BreachStatus
    affected_count: int
    regulator_notified_at: datetime | None
    individuals_notified_at: datetime | None
    late_reason: str | None
    recorded_at: datetime
    keep_until: date
    scope: dict[str, Any] = field(default_factory=dict)
    history: tuple[dict[str, Any], ...] = ()

    def last_step(self, step: str) -> dict[str, Any] | None:
        """The latest record of a once-only step (``regulator_notified``, ``public_notice``),
        corrections included; None when it was never recorded."""
        found = [h for h in self.history if h.get("step") == step]
        return found[-1] if found else None

    def to_dict(self) -> dict[str, Any]:
        out = plain_fields(self, omit=("scope", "history"))
        out["status"] = self.status.value
        return out | {
            "scope": {k: self.scope.get(k, []) for k in ("tenants", "subjects", "actors")},
            # A breach by named actors (a rogue account): only what they read counts.
            "by": list(self.scope.get("actors", [])),
            "affected_by_source": self.scope.get("by_source", {}),
            "unmatched_in_datasets": self.scope.get("unmatched", {}),
            "public_notice": self.last_step("public_notice"),
            "history": [dict(h) for h in self.history],
            # How the regimes were found: from the people affected, or the organisation's
            # while none is known (troth.breaches.regimes).
            "regimes_from": self.scope.get("regimes_from", {}),
        }


def aware(name: str, value: Any) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValidationError(f"{name} must be a timezone-aware date and time", field=name)
    return value


def checked_ids(name: str, values: Iterable[str]) -> list[str]:
    """Ids as given; a malformed one is refused (what an id looks like)."""
    out = []
    for v in values:
        if not isinstance(v, str) or not _ID.fullmatch(v):
            raise ValidationError(
                f"{v!r} is not an id (32 lowercase hexadecimal characters)", field=name
            )
        out.append(v)
    return out


def recount(conn: Connection, breach_id: str) -> int:
    count = int(
        conn.execute(
            select(func.count())
            .select_from(breach_subjects)
            .where(breach_subjects.c.breach_id == breach_id)
        ).scalar_one()
    )
    conn.execute(update(breaches).where(breaches.c.id == breach_id).values(affected_count=count))
    return count


def breach_of(row: Any) -> Breach:
    return Breach(
        row.id,
        row.title,
        row.description,
        row.discovered_at,
        row.aware_at,
        row.occurred_from,
        row.occurred_until,
        tuple(row.systems),
        tuple(row.categories),
        tuple(row.regimes),
        bool(row.high_risk),
        member(BreachStatus, row.status, "breaches.status"),
        int(row.affected_count),
        row.regulator_notified_at,
        row.individuals_notified_at,
        row.late_reason,
        row.recorded_at,
        row.keep_until,
        dict(row.scope or {}),
        tuple(row.history or ()),
    )


def log_breach(
    conn: Connection, now: datetime, action: str, actor: Actor, details: dict[str, Any]
) -> None:
    """Audit what was done to the register (an ``info`` entry). Not filed under a person:
    the privacy centre must not show a breach before the person is told."""
    append_entries(conn, now, [AuditEntry(action, actor.label, Outcome.info, details=details)])
