"""The breach register's tables (P33): one row per breach, one per person it affects."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Date, ForeignKey, Integer, String, Table, Text

from troth.db import JsonType, UtcDateTime, metadata

breaches = Table(
    "breaches",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("title", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("discovered_at", UtcDateTime, nullable=False),
    Column("aware_at", UtcDateTime, nullable=False),
    Column("occurred_from", UtcDateTime, nullable=False),
    Column("occurred_until", UtcDateTime, nullable=False),
    Column("systems", JsonType, nullable=False),
    Column("categories", JsonType, nullable=False),
    Column("regimes", JsonType, nullable=False),
    Column("high_risk", Boolean, nullable=False),
    Column("status", String(30), nullable=False),
    Column("affected_count", Integer, nullable=False),
    Column("regulator_notified_at", UtcDateTime),
    Column("individuals_notified_at", UtcDateTime),
    Column("late_reason", Text),
    Column("recorded_at", UtcDateTime, nullable=False),
    Column("recorded_by", String(255), nullable=False),
    # Register entries may not be deleted before this day (24 months, PIPEDA regs s.6).
    Column("keep_until", Date, nullable=False),
    # The officer's limits (tenants, people, actors) and what the computation found
    # (people per source, unmatched identities per connected dataset); see affected.py.
    Column("scope", JsonType),
)

breach_subjects = Table(
    "breach_subjects",
    metadata,
    Column("breach_id", String(32), ForeignKey("breaches.id"), primary_key=True),
    Column("subject_id", String(32), primary_key=True),
    Column("source", String(10), nullable=False),  # affected.Source
    Column("notified_at", UtcDateTime),
)
