"""The tables of disclosures and legal demands."""

from __future__ import annotations

from sqlalchemy import Column, Index, String, Table, Text

from troth.columns import actor, choice, document, key, ref, stamp
from troth.db import metadata

# Every hand-over of a person's data to a recipient (P18-P22), visible to the person.
disclosures = Table(
    "disclosures",
    metadata,
    key(),
    ref("subject_id", required=True),
    Column("recipient", String(64), nullable=False),
    Column("purpose", String(64), nullable=False),
    document("categories", shape="list"),
    document("fields", shape="list"),
    stamp("at"),
    actor(),
    Column("location", String(2), nullable=False),
    # Set when the recipient is outside the allowed locations: the policy's safeguard (P22).
    Column("transfer_safeguard", String(500)),
    ref("legal_demand_id"),
    # When the person was told of a disclosure under a legal demand (P20).
    stamp("notified_at", required=False),
    # The fields sent as their mask, not as held (NULL: none, or made before troth
    # recorded it: troth.gate.masks.disclosed_to).
    document("masked", required=False, shape="list"),
    Index("ix_disclosures_subject_at", "subject_id", "at"),
    Index("ix_disclosures_legal_demand_id", "legal_demand_id"),
)

# Court orders, warrants... received from an authority (P20).
legal_demands = Table(
    "legal_demands",
    metadata,
    key(),
    Column("authority", String(200), nullable=False),
    Column("recipient", String(64)),
    choice("instrument", "troth.disclosures.demands:LegalInstrument", 40, nullable=False),
    Column("reference", String(200), nullable=False),
    Column("scope", Text, nullable=False),
    # What the demand asks for (P20): the categories (NULL: recorded before troth kept
    # them; nothing goes under such a demand) and the period the data was collected in.
    document("categories", required=False, shape="list"),
    stamp("period_from", required=False),
    stamp("period_until", required=False),
    stamp("received_at"),
    # The end of a non-disclosure order: the person may not be told before.
    stamp("gag_until", required=False),
    choice("status", "troth.disclosures.demands:DemandStatus", 20, nullable=False),
    stamp("notified_at", required=False),
    actor("recorded_by"),
    stamp("recorded_at"),
    Index("ix_legal_demands_status_gag", "status", "gag_until"),
)
