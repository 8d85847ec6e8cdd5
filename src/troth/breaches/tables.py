"""The breach register's tables (P33): one row per breach, one per person it affects."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Integer, String, Table, Text

from troth.columns import actor, choice, day, document, key, open_stamps, ref, stamp, stamps
from troth.db import metadata

breaches = Table(
    "breaches",
    metadata,
    key(),
    Column("title", String(200), nullable=False),
    Column("description", Text, nullable=False),
    *stamps("discovered_at", "aware_at", "occurred_from", "occurred_until"),
    document("systems", shape="list"),
    document("categories", shape="list"),
    document("regimes", shape="list"),
    Column("high_risk", Boolean, nullable=False),
    choice("status", "troth.breaches.model:BreachStatus", 30, nullable=False),
    Column("affected_count", Integer, nullable=False),
    *open_stamps("regulator_notified_at", "individuals_notified_at"),
    Column("late_reason", Text),
    stamp("recorded_at"),
    actor("recorded_by"),
    # Register entries may not be deleted before this day (24 months, PIPEDA regs s.6).
    day("keep_until"),
    # The officer's limits (tenants, people, actors) and what the computation found
    # (people per source, unmatched identities per connected dataset); see affected.py.
    document("scope", required=False, shape="dict"),
    # The once-only steps as recorded and corrected, oldest first (troth.breaches.steps).
    document("history", required=False, shape="list"),
)

breach_subjects = Table(
    "breach_subjects",
    metadata,
    ref("breach_id", "breaches.id", primary_key=True),
    ref("subject_id", primary_key=True),
    Column("source", String(10), nullable=False),  # affected.Source
    stamp("notified_at", required=False),
)
