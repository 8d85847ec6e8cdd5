"""Breaches remember the officer's scope (tenants, people, actors) and what the affected
computation found (people per source, unmatched identities per connected dataset).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("breaches") as batch:
        batch.add_column(
            sa.Column(
                "scope",
                sa.JSON().with_variant(sa.JSON(none_as_null=True), "postgresql"),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("breaches") as batch:
        batch.drop_column("scope")
