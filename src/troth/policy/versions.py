"""The policy's version history in the database (P34, P36)."""

from __future__ import annotations

from sqlalchemy import select

from troth.audit.entry import AuditEntry
from troth.audit.log import append_entries, transaction
from troth.context import Context
from troth.store.tables import policy_versions


def record_initial_version(ctx: Context, text: str) -> None:
    """Record the home's first policy as a published version (idempotent)."""
    policy = ctx.policy.policy
    with transaction(ctx) as conn:
        exists = conn.execute(
            select(policy_versions.c.version).where(policy_versions.c.version == policy.version)
        ).first()
        if exists:
            return
        now = ctx.clock.now()
        conn.execute(
            policy_versions.insert().values(
                version=policy.version,
                effective=policy.effective,
                published_at=now,
                digest=ctx.policy.digest,
                text=text,
                changes=[],
                material=False,
            )
        )
        append_entries(
            conn,
            now,
            [
                AuditEntry(
                    action="policy.publish",
                    actor="system",
                    details={"version": policy.version, "effective": policy.effective.isoformat()},
                )
            ],
        )
