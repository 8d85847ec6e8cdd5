"""The tables of retention: the legal holds placed on a whole tenant or a person (a
person's hold is also kept on ``subjects.legal_hold``)."""

from __future__ import annotations

from sqlalchemy import Column, String, Table

from troth.db import UtcDateTime, metadata

# Who placed a hold on a whole tenant (a person's hold lives on ``subjects.legal_hold``).
legal_holds = Table(
    "legal_holds",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(32), index=True),
    Column("subject_id", String(32), index=True),
    Column("reason", String(200), nullable=False),
    Column("placed_at", UtcDateTime, nullable=False),
    Column("placed_by", String(255), nullable=False),
    Column("lifted_at", UtcDateTime),
    Column("lifted_by", String(255)),
)

__all__ = ["legal_holds"]
