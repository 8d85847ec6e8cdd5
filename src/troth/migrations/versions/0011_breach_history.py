"""A breach keeps the history of its once-only steps (regulator told, public notice given)
and of their corrections: who, when, the earlier value and the reason (GDPR Art. 33(5)).

Revision ID: 0011_breach_history
Revises: 0010_held_erasures
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from troth.db import JsonType

revision = "0011_breach_history"
down_revision = "0010_held_erasures"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("breaches") as batch:
        batch.add_column(sa.Column("history", JsonType, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("breaches") as batch:
        batch.drop_column("history")
