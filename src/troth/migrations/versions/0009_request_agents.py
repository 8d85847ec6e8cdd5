"""A request made on someone else's behalf records the agent's own address (encrypted,
troth.requests._contact): the letters about it go to the agent, not to the person.
"""

from __future__ import annotations

import sqlalchemy as sa

from troth.migrations.steps import columns_added

revision = "0009_agents"
down_revision = "0008_subject_seals"

upgrade, downgrade = columns_added("requests", sa.Column("agent_contact", sa.LargeBinary))
