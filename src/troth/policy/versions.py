"""The policy's version history in the database (P34, P36)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, select

from troth.audit.entry import AuditEntry
from troth.audit.log import append_entries, transaction
from troth.context import Context
from troth.store.tables import policy_notices, policy_versions


@dataclass(frozen=True, slots=True)
class PublishedVersion:
    """A published version of the policy, as the public sees it."""

    version: str
    effective: date
    published_at: datetime
    material: bool
    changes: list[Any]
    digest: str


@dataclass(frozen=True, slots=True)
class PostedNotice:
    """What a published change started (a new use of data, or a purpose to consent to
    again), from when (``posted_at``)."""

    id: int
    version: str
    kind: str
    point: str | None
    purpose: str
    category: str | None
    needs_consent: bool
    notice_hash: str | None
    posted_at: datetime


def published_versions(ctx: Context) -> list[PublishedVersion]:
    """Every published version, newest first. Public (the policy and its history are
    published): no actor, nothing audited."""
    v = policy_versions.c
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            select(
                v.version, v.effective, v.published_at, v.material, v.changes, v.digest
            ).order_by(v.published_at.desc())
        ).all()
    return [
        PublishedVersion(
            r.version, r.effective, r.published_at, bool(r.material), r.changes or [], r.digest
        )
        for r in rows
    ]


def posted_notices(ctx: Context) -> list[PostedNotice]:
    """Every change notice, newest first (public, like the versions)."""
    with ctx.engine.connect() as conn:
        rows = conn.execute(select(policy_notices).order_by(policy_notices.c.posted_at.desc()))
        return [
            PostedNotice(
                r.id,
                r.version,
                r.kind,
                r.point,
                r.purpose,
                r.category,
                bool(r.needs_consent),
                r.notice_hash,
                r.posted_at,
            )
            for r in rows
        ]


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
        first = PublishedVersion(
            policy.version, policy.effective, now, False, [], ctx.policy.digest
        )
        insert_version(conn, first, text)
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


def insert_version(conn: Connection, version: PublishedVersion, text: str) -> None:
    """Record ``version``, published with the full ``text``, in the caller's transaction."""
    conn.execute(
        policy_versions.insert().values(
            version=version.version,
            effective=version.effective,
            published_at=version.published_at,
            digest=version.digest,
            text=text,
            changes=version.changes,
            material=version.material,
        )
    )
