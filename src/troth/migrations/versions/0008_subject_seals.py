"""Subject seals: each person's row gets a keyed MAC over the columns the gate, retention
and erasure decide on (troth.store.subject_seals). Rows already stored are sealed once by
`troth db migrate`, which has the key file (troth.store.sealing); from then on a person
whose row has no seal is refused.
"""

from __future__ import annotations

import sqlalchemy as sa

from troth.migrations.steps import columns_added

revision = "0008_subject_seals"
down_revision = "0007_seals"

upgrade, downgrade = columns_added("subjects", sa.Column("seal", sa.LargeBinary))
