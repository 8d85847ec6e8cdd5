"""Breaches remember the officer's scope (tenants, people, actors) and what the affected
computation found (people per source, unmatched identities per connected dataset).
"""

from __future__ import annotations

import sqlalchemy as sa

from troth.migrations.steps import columns_added

revision = "0002"
down_revision = "0001"

upgrade, downgrade = columns_added(
    "breaches",
    sa.Column(
        "scope",
        sa.JSON().with_variant(sa.JSON(none_as_null=True), "postgresql"),
        nullable=True,
    ),
)
