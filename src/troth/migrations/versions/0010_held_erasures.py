"""The erasures a legal hold prevented outside a deletion request (a tenant's offboarding,
a minor's erasure): recorded, and carried out when the hold ends (troth.requests.deferral).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from troth.db import JsonType, UtcDateTime

revision = "0010_held_erasures"
down_revision = "0009_agents"


def upgrade() -> None:
    op.create_table(
        "held_erasures",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("subject_id", sa.String(32), nullable=False),
        sa.Column("tenant_id", sa.String(32)),
        sa.Column("origin", sa.String(32), nullable=False),
        sa.Column("job_id", sa.String(128), nullable=False),
        sa.Column("details", JsonType),
        sa.Column("deferred_at", UtcDateTime, nullable=False),
        sa.Column("deferred_by", sa.String(255), nullable=False),
        sa.Column("done_at", UtcDateTime),
        sa.Column("error", sa.String(500)),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_held_erasures")),
    )
    op.create_index(op.f("ix_held_erasures_subject_id"), "held_erasures", ["subject_id"])
    op.create_index(op.f("ix_held_erasures_done_at"), "held_erasures", ["done_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_held_erasures_done_at"), "held_erasures")
    op.drop_index(op.f("ix_held_erasures_subject_id"), "held_erasures")
    op.drop_table("held_erasures")
