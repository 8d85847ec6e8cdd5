"""The website's change notices (P35): each published version with material changes, from
the version history (:func:`troth.policy.versions.policy_history`)."""

from __future__ import annotations

from typing import Any

from troth.context import Context
from troth.policy.versions import policy_history


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
