"""A request made on someone else's behalf records the agent's own address (encrypted,
troth.requests._contact): the letters about it go to the agent, not to the person.

Revision ID: 0009_agents
Revises: 0008_subject_seals
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_agents"
down_revision = "0008_subject_seals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("agent_contact", sa.LargeBinary))


def downgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("agent_contact")
