"""Row seals: each identity (``identities``: the blind index that finds a person),
data-subject request (``requests``) and tenant (``tenants``) gets a keyed MAC
(troth.store.identity_seals, troth.access.seals). Rows already stored are sealed once by
`troth db migrate`, which has the key file (troth.store.sealing, ``rows.sealed``); from
then on an identity that does not match its seal finds nobody, a request is refused and a
tenant gets no notice.
"""

from __future__ import annotations

import sqlalchemy as sa

from troth.migrations.steps import columns_added

revision = "0016_row_seals"
down_revision = "0015_grant_seals"

_TABLES = ("identities", "requests", "tenants")
_STEPS = [columns_added(name, sa.Column("seal", sa.LargeBinary)) for name in _TABLES]


def upgrade() -> None:
    for up, _down in _STEPS:
        up()


def downgrade() -> None:
    for _up, down in reversed(_STEPS):
        down()
