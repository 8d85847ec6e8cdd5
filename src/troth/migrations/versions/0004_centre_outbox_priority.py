"""The outbox sends by priority: transactional mail (sign-in codes, request letters,
verification) before notices, notices before marketing, so a code never waits behind a
bulk mailing. Rows already queued get the priority of their kind.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_centre"
down_revision = "0003_discovery"


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("priority", sa.Integer(), nullable=False, server_default="1"))
    op.execute("UPDATE outbox SET priority = 0 WHERE kind = 'transactional'")
    op.execute("UPDATE outbox SET priority = 2 WHERE kind = 'marketing'")
    with op.batch_alter_table("outbox") as batch:
        batch.create_index("ix_outbox_next", ["status", "priority", "next_attempt_at"])


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_next")
        batch.drop_column("priority")
