"""The audit log's pending entries: committed with their operation, MAC'd with the key,
sequenced into the tree in batches (PostgreSQL); audit_entries remembers each one's
pending id so the process that committed it can confirm it was sequenced.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import troth.db

revision = "0005_audit"
down_revision = "0004_centre"


def upgrade() -> None:
    op.create_table(
        "audit_pending",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("at", troth.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.String(length=128), nullable=True),
        sa.Column("tenant_id", sa.String(length=128), nullable=True),
        sa.Column("purpose", sa.String(length=100), nullable=True),
        sa.Column("categories", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("mac", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_pending")),
    )
    with op.batch_alter_table("audit_entries") as batch:
        batch.add_column(sa.Column("pending_id", sa.BigInteger(), nullable=True))
        batch.create_index(
            "ix_audit_entries_pending_id",
            ["pending_id"],
            unique=False,
            postgresql_where=sa.text("pending_id IS NOT NULL"),
            sqlite_where=sa.text("pending_id IS NOT NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("audit_entries") as batch:
        batch.drop_index("ix_audit_entries_pending_id")
        batch.drop_column("pending_id")
    op.drop_table("audit_pending")
