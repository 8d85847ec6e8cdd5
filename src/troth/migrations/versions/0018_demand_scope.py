"""A legal demand's scope as troth checks it (P20): the categories it asks for
(``legal_demands.categories``) and the period its data was collected in
(``period_from``, ``period_until``). A demand recorded before has no categories: nothing
is disclosed under it until it is recorded again with them."""

from __future__ import annotations

import sqlalchemy as sa

import troth.db
from troth.migrations.steps import columns_added

revision = "0018_demand_scope"
down_revision = "0017_hold_purposes"

upgrade, downgrade = columns_added(
    "legal_demands",
    sa.Column("categories", sa.JSON().with_variant(sa.JSON(none_as_null=True), "postgresql")),
    sa.Column("period_from", troth.db.UtcDateTime(timezone=True)),
    sa.Column("period_until", troth.db.UtcDateTime(timezone=True)),
)
