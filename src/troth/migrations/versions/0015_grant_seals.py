"""Grant seals: each console session (``sessions``), privacy-centre session
(``privacy_sessions``), invitation (``invitations``) and support grant
(``support_grants``) gets a keyed MAC over the columns that grant power
(troth.access.seals). Rows already stored are sealed once by `troth db migrate`, which has
the key file (troth.store.sealing, ``grants.sealed``); from then on a session whose row
does not match its seal is not signed in, an invitation is not accepted and a grant grants
nothing.
"""

from __future__ import annotations

import sqlalchemy as sa

from troth.migrations.steps import columns_added

revision = "0015_grant_seals"
down_revision = "0014_access_seals"

_TABLES = ("sessions", "privacy_sessions", "invitations", "support_grants")
_STEPS = [columns_added(name, sa.Column("seal", sa.LargeBinary)) for name in _TABLES]


def upgrade() -> None:
    for up, _down in _STEPS:
        up()


def downgrade() -> None:
    for _up, down in reversed(_STEPS):
        down()
