"""The policy's published history as the office reads it (P34, P35, P36): every version
with its material changes and how many stored values were collected under it, and the
website's change notices. The versions themselves come from :mod:`troth.policy.versions`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from troth.context import Context
from troth.gate import SYSTEM, Actor
from troth.office import authorize
from troth.policy.model import Power
from troth.policy.versions import published_versions
from troth.store.tables import records


def policy_history(ctx: Context, *, actor: Actor = SYSTEM) -> list[dict[str, Any]]:
    """Every published version, newest first, with its material changes (P34, P36);
    power ``publish_policy``."""
    authorize(ctx, actor, Power.publish_policy, details={"operation": "history"})
    versions = sorted(
        published_versions(ctx), key=lambda v: (v.published_at, v.version), reverse=True
    )
    with ctx.engine.connect() as conn:
        counts = {
            version: n
            for version, n in conn.execute(
                select(records.c.policy_version, func.count()).group_by(records.c.policy_version)
            )
        }
    return [
        {
            "version": v.version,
            "effective": v.effective.isoformat(),
            "published_at": v.published_at.isoformat(),
            "material": v.material,
            "changes": v.changes,
            "digest": v.digest,
            "values_collected_under": int(counts.get(v.version, 0)),
        }
        for v in versions
    ]


def notice_feed(ctx: Context) -> list[dict[str, Any]]:
    """The website's change notices: each version with material changes (P35)."""
    return [
        {
            "version": v["version"],
            "effective": v["effective"],
            "posted": v["published_at"],
            "changes": [c for c in v["changes"] if c.get("severity") == "material"],
        }
        for v in policy_history(ctx)
        if v["material"]
    ]
