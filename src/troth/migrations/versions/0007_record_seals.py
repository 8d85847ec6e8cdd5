"""Record seals: each stored value's row gets a keyed MAC over its value and tags
(troth.store.seals). Rows already stored are sealed once by `troth db migrate`, which has
the key file (troth.store.sealing); from then on a row without a seal is refused.

Revision ID: 0007_seals
Revises: 0006_bulk
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_seals"
down_revision = "0006_bulk"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("records") as batch:
        batch.add_column(sa.Column("seal", sa.LargeBinary))


def downgrade() -> None:
    with op.batch_alter_table("records") as batch:
        batch.drop_column("seal")
