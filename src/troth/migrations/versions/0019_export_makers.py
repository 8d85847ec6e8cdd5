"""A tenant's export is bound to whoever made it: ``request_exports.made_by`` (the actor, as
the audit log names it) and ``made_as`` (the member role it was made as; None: none). Its
download code works only for that actor, still allowed to make it, with that role
(troth.requests.exports). Links made before have no maker: only troth itself takes them."""

from __future__ import annotations

import sqlalchemy as sa

from troth.migrations.steps import columns_added

revision = "0019_export_makers"
down_revision = "0018_demand_scope"

upgrade, downgrade = columns_added(
    "request_exports", sa.Column("made_by", sa.String(255)), sa.Column("made_as", sa.String(64))
)
