"""Roles for a customer's members (a policy role ``for: tenant_members``): an invitation
carries the role the member gets on accepting (``invitations.member_role``); the member's
account holds it in ``users.role``, the column staff roles already use."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_member_roles"
down_revision = "0012_identities"


def upgrade() -> None:
    with op.batch_alter_table("invitations") as batch:
        batch.add_column(sa.Column("member_role", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("invitations") as batch:
        batch.drop_column("member_role")
