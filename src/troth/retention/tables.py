"""The tables of retention: the legal holds placed on a whole tenant or a person (a
person's hold is also kept on ``subjects.legal_hold``)."""

from __future__ import annotations

from sqlalchemy import Column, String, Table

from troth.columns import actor, key, ref, stamp
from troth.db import metadata

# Who placed a hold on a whole tenant (a person's hold lives on ``subjects.legal_hold``).
legal_holds = Table(
    "legal_holds",
    metadata,
    key(),
    ref("tenant_id", index=True),
    ref("subject_id", index=True),
    Column("reason", String(200), nullable=False),
    stamp("placed_at"),
    actor("placed_by"),
    stamp("lifted_at", required=False),
    actor("lifted_by", required=False),
)

__all__ = ["legal_holds"]
