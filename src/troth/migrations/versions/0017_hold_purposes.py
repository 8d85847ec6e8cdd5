"""Hold purposes: a legal hold may name the purposes it serves (``legal_holds.purposes``);
while it runs they stay usable for the person when an erasure it defers restricts the rest
(troth.gate.facts). Holds placed before name none.
"""

from __future__ import annotations

import sqlalchemy as sa

from troth.migrations.steps import columns_added

revision = "0017_hold_purposes"
down_revision = "0016_row_seals"

upgrade, downgrade = columns_added(
    "legal_holds",
    sa.Column("purposes", sa.JSON().with_variant(sa.JSON(none_as_null=True), "postgresql")),
)
