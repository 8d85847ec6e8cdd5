"""A tenant's offboarding: its export, its erasure batch by batch, its certificate."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from troth.db import BigId, JsonType, UtcDateTime

revision = "0006_bulk"
down_revision = "0005_audit"


def upgrade() -> None:
    op.create_table(
        "tenant_offboardings",
        sa.Column("tenant_id", sa.String(32), primary_key=True),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("started_at", UtcDateTime, nullable=False),
        sa.Column("first_seq", BigId),
        sa.Column("exported_at", UtcDateTime),
        sa.Column("export", JsonType),
        sa.Column("cursor", sa.String(32)),
        sa.Column("totals", JsonType),
        sa.Column("finished_at", UtcDateTime),
        sa.Column("certificate", JsonType),
    )


def downgrade() -> None:
    op.drop_table("tenant_offboardings")
