"""The fields a disclosure sent as their mask, not as held (``disclosures.masked``): a
customer's people pass on what they read, except for a legal obligation, and the register
and the person's list say which values went masked. NULL: none (a disclosure made before
says nothing of it)."""

from __future__ import annotations

import sqlalchemy as sa

from troth.migrations.steps import columns_added

revision = "0020_disclosure_masks"
down_revision = "0019_export_makers"

upgrade, downgrade = columns_added(
    "disclosures",
    sa.Column("masked", sa.JSON().with_variant(sa.JSON(none_as_null=True), "postgresql")),
)
