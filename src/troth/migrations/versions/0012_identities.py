"""Every identity a person has given, not only the newest of each kind: look-ups go through
the new ``identities`` table (troth.store.tables), so a person's second e-mail address finds
them as the first does. Filled here from the blind indexes each person's row holds (the
newest of each kind); `troth store reindex` adds the earlier ones their stored values hold.
A privacy-centre sign-in keeps the blind index of the address it proved (the records the
person may move between are that address's, not every address they gave).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_identities"
down_revision = "0011_breach_history"

_KINDS = ("email", "phone", "customer_id")
_SIGNED_IN = ("privacy_signin_codes", "privacy_sessions")


def upgrade() -> None:
    op.create_table(
        "identities",
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("bidx", sa.String(64), nullable=False),
        sa.Column("subject_id", sa.String(32), nullable=False),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_identities_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("kind", "bidx", "subject_id", name=op.f("pk_identities")),
    )
    op.create_index(op.f("ix_identities_subject_id"), "identities", ["subject_id"])
    people = sa.table("subjects", sa.column("id"), *(sa.column(f"{k}_bidx") for k in _KINDS))
    ids = sa.table("identities", sa.column("kind"), sa.column("bidx"), sa.column("subject_id"))
    for kind in _KINDS:
        bidx = people.c[f"{kind}_bidx"]
        found = sa.select(sa.literal(kind), bidx, people.c.id).where(bidx.is_not(None))
        op.execute(ids.insert().from_select(["kind", "bidx", "subject_id"], found))
    for table in _SIGNED_IN:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("email_bidx", sa.String(64)))


def downgrade() -> None:
    for table in reversed(_SIGNED_IN):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("email_bidx")
    op.drop_index(op.f("ix_identities_subject_id"), "identities")
    op.drop_table("identities")
