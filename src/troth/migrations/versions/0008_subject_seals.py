"""Subject seals: each person's row gets a keyed MAC over the columns the gate, retention
and erasure decide on (troth.store.subject_seals). Rows already stored are sealed once by
`troth db migrate`, which has the key file (troth.store.sealing); from then on a person
whose row has no seal is refused.

Revision ID: 0008_subject_seals
Revises: 0007_seals
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_subject_seals"
down_revision = "0007_seals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subjects") as batch:
        batch.add_column(sa.Column("seal", sa.LargeBinary))


def downgrade() -> None:
    with op.batch_alter_table("subjects") as batch:
        batch.drop_column("seal")
