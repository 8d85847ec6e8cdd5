"""Discovery scans and their per-table progress (masked evidence only), so an interrupted
scan resumes at the next table.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import troth.db

revision = "0003_discovery"
down_revision = "0002"

_JSON = sa.JSON().with_variant(sa.JSON(none_as_null=True), "postgresql")


def upgrade() -> None:
    op.create_table(
        "discovery_scans",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("datasets", _JSON, nullable=False),
        sa.Column("options", _JSON, nullable=False),
        sa.Column("summary", _JSON, nullable=True),
        sa.Column("created_at", troth.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", troth.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", troth.db.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_discovery_scans")),
    )
    op.create_index(
        op.f("ix_discovery_scans_state_created_at"),
        "discovery_scans",
        ["state", "created_at"],
        unique=False,
    )
    op.create_table(
        "discovery_tables",
        sa.Column("scan_id", sa.String(length=32), nullable=False),
        sa.Column("dataset", sa.String(length=64), nullable=False),
        sa.Column("table_name", sa.String(length=128), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("shape", _JSON, nullable=False),
        sa.Column("result", _JSON, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("updated_at", troth.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["scan_id"],
            ["discovery_scans.id"],
            name=op.f("fk_discovery_tables_scan_id_discovery_scans"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "scan_id", "dataset", "table_name", name=op.f("pk_discovery_tables")
        ),
    )


def downgrade() -> None:
    op.drop_table("discovery_tables")
    op.drop_index(op.f("ix_discovery_scans_state_created_at"), table_name="discovery_scans")
    op.drop_table("discovery_scans")
