"""Record seals: each stored value's row gets a keyed MAC over its value and tags
(troth.store.seals). Rows already stored are sealed once by `troth db migrate`, which has
the key file (troth.store.sealing); from then on a row without a seal is refused.
"""

from __future__ import annotations

import sqlalchemy as sa

from troth.migrations.steps import columns_added

revision = "0007_seals"
down_revision = "0006_bulk"

upgrade, downgrade = columns_added("records", sa.Column("seal", sa.LargeBinary))
