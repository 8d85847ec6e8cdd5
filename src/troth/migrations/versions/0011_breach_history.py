"""A breach keeps the history of its once-only steps (regulator told, public notice given)
and of their corrections: who, when, the earlier value and the reason (GDPR Art. 33(5)).
"""

from __future__ import annotations

import sqlalchemy as sa

from troth.db import JsonType
from troth.migrations.steps import columns_added

revision = "0011_breach_history"
down_revision = "0010_held_erasures"

upgrade, downgrade = columns_added("breaches", sa.Column("history", JsonType, nullable=True))
