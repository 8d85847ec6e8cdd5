"""Access seals: each account (``users``) and API key (``api_keys``) gets a keyed MAC over
the columns that grant power (troth.access.seals). Rows already stored are sealed once by
`troth db migrate`, which has the key file (troth.store.sealing); from then on an account
or key whose row does not match its seal is refused as unauthenticated.
"""

from __future__ import annotations

import sqlalchemy as sa

from troth.migrations.steps import columns_added

revision = "0014_access_seals"
down_revision = "0013_member_roles"

_users_up, _users_down = columns_added("users", sa.Column("seal", sa.LargeBinary))
_keys_up, _keys_down = columns_added("api_keys", sa.Column("seal", sa.LargeBinary))


def upgrade() -> None:
    _users_up()
    _keys_up()


def downgrade() -> None:
    _keys_down()
    _users_down()
