"""The tables of retention: the legal holds placed on a whole tenant or a person (a
person's hold is also kept on ``subjects.legal_hold``), and the erasures a hold prevented
outside a deletion request (an offboarding, a minor's), carried out when it ends."""

from __future__ import annotations

from sqlalchemy import Column, String, Table

from troth.columns import actor, document, key, ref, stamp
from troth.db import metadata

# Who placed a hold on a whole tenant (a person's hold lives on ``subjects.legal_hold``).
legal_holds = Table(
    "legal_holds",
    metadata,
    key(),
    ref("tenant_id", index=True),
    ref("subject_id", index=True),
    Column("reason", String(200), nullable=False),
    # The purposes the hold serves (a complaint's investigation: ``safety``): while it
    # runs they stay usable for the person even when an erasure it defers restricts the
    # rest (troth.gate.facts; GDPR Art. 17(3)(e), 18(2)). None or [] for none.
    document("purposes", required=False, shape="list"),
    stamp("placed_at"),
    actor("placed_by"),
    stamp("lifted_at", required=False),
    actor("lifted_by", required=False),
)

# An erasure a legal hold prevented (troth.requests.deferral): what asked for it (``origin``:
# ``offboarding`` or ``minor``), the connector job that carries it out, what it needs
# (``details``: the minor's evidence), and when it was done; never which hold, nor why.
held_erasures = Table(
    "held_erasures",
    metadata,
    key(),
    ref("subject_id", required=True, index=True),
    ref("tenant_id"),
    Column("origin", String(32), nullable=False),
    Column("job_id", String(128), nullable=False),
    document("details", required=False),
    stamp("deferred_at"),
    actor("deferred_by"),
    stamp("done_at", required=False, index=True),
    Column("error", String(500)),
)

__all__ = ["held_erasures", "legal_holds"]
