"""The policy's version history (P34, P36): the table of every published version and all
that reads or writes it.

Publishing (:func:`troth.notices.publish.publish_policy`) records a version here with
:func:`record_version`; :func:`record_initial_version` records a home's first policy;
other processes follow the newest one (:mod:`troth.policy.follow`, through
:data:`NEWEST_VERSION` and :func:`version_text`). Two HTTP endpoints serve the history:
``GET /policy/versions`` (public: :func:`published_versions`, also on the privacy centre's
``/privacy`` page with :func:`posted_notices`) and ``GET /policy/history`` (power
``publish_policy``: :func:`policy_history`, with the digest of each version and how many
values were collected under it; the console and ``troth policy history`` show the same).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Column, Connection, String, Table, Text, func, select

from troth.audit.entry import AuditEntry
from troth.audit.log import append_entry, transaction
from troth.columns import day, document, flag, key, row_of, stamp
from troth.context import Context
from troth.db import metadata
from troth.gate import SYSTEM, Actor
from troth.office import authorize
from troth.policy.model import Power
from troth.store.sealing import (
    ACCESS_SEALED_FLAG,
    GRANTS_SEALED_FLAG,
    OUTBOX_SEALED_FLAG,
    ROWS_SEALED_FLAG,
    SEALED_FLAG,
    SUBJECTS_SEALED_FLAG,
)
from troth.store.tables import policy_notices, records
from troth.stored import readable, tolerating

# Every published version of the policy (P34, P36).
policy_versions = Table(
    "policy_versions",
    metadata,
    key("version", length=64),
    day("effective"),
    stamp("published_at"),
    Column("digest", String(64), nullable=False),
    Column("text", Text, nullable=False),
    document("changes", required=False, shape="list"),
    flag("material"),
)

_v = policy_versions.c

# The newest published version: (published_at, version, digest).
NEWEST_VERSION = (
    select(_v.published_at, _v.version, _v.digest)
    .order_by(_v.published_at.desc(), _v.version.desc())
    .limit(1)
)


@dataclass(frozen=True, slots=True)
class PublishedVersion:
    """A published version of the policy, as the public sees it."""

    version: str
    effective: date
    published_at: datetime
    material: bool
    changes: list[Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "effective": self.effective.isoformat(),
            "published_at": self.published_at.isoformat(),
            "material": self.material,
            "changes": self.changes,
        }


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


@dataclass(frozen=True, slots=True)
class NewVersion:
    """A version as :func:`record_version` records it."""

    version: str
    effective: date
    published_at: datetime
    digest: str
    text: str
    changes: list[Any]
    material: bool


def record_version(conn: Connection, new: NewVersion) -> None:
    """Record ``new`` as published (in the caller's transaction)."""
    conn.execute(policy_versions.insert().values(row_of(policy_versions, new)))


def published_digest(conn: Connection, version: str) -> str | None:
    """The digest ``version`` was published with; None when it was not published."""
    digest = conn.execute(select(_v.digest).where(_v.version == version)).scalar()
    return None if digest is None else str(digest)


def newest_effective(conn: Connection) -> date | None:
    """The latest effective date a version was published with, as the audit log recorded
    it (None: none was): no new version may take effect before it."""
    from troth.policy.logged import logged_versions

    return max((h.effective for h in logged_versions(conn).values()), default=None)


def version_text(conn: Connection, version: str) -> str:
    """The text ``version`` was published with (it must have been)."""
    return str(conn.execute(select(_v.text).where(_v.version == version)).scalar_one())


@dataclass(frozen=True, slots=True)
class _HistoryRow:
    version: str
    effective: date
    published_at: datetime
    material: Any
    changes: Any
    digest: str


def _history_rows(conn: Connection) -> list[_HistoryRow]:
    """Every published version, newest first, without its text, with the dates and digest
    the audit log recorded (troth.policy.logged): a history back-dated outside troth is
    never shown as the history."""
    from troth.policy.logged import logged_versions

    logged = logged_versions(conn)
    with tolerating():  # a date troth never writes: the log's, as for one moved
        rows = conn.execute(
            select(_v.version, _v.effective, _v.published_at, _v.material, _v.changes, _v.digest)
        ).all()
    for r in rows:
        readable(r.changes)  # what only the row says must read back
    out = [
        _HistoryRow(r.version, r.effective, r.published_at, r.material, r.changes, r.digest)
        if (h := logged.get(r.version)) is None
        else _HistoryRow(r.version, h.effective, h.published_at, r.material, r.changes, h.digest)
        for r in rows
    ]
    return sorted(out, key=lambda r: (r.published_at, r.version), reverse=True)


def _published(r: _HistoryRow) -> PublishedVersion:
    return PublishedVersion(
        r.version, r.effective, r.published_at, bool(r.material), r.changes or []
    )


def published_versions(ctx: Context) -> list[PublishedVersion]:
    """Every published version, newest first. Public (the policy and its history are
    published): no actor, nothing audited."""
    with ctx.engine.connect() as conn:
        rows = _history_rows(conn)
    return [_published(r) for r in rows]


def policy_history(ctx: Context, *, actor: Actor = SYSTEM) -> list[dict[str, Any]]:
    """Every published version, newest first, with its material changes, its digest and
    how many stored values were collected under it (P34, P36); power ``publish_policy``."""
    authorize(ctx, actor, Power.publish_policy, details={"operation": "history"})
    with ctx.engine.connect() as conn:
        rows = _history_rows(conn)
        counts = {
            version: n
            for version, n in conn.execute(
                select(records.c.policy_version, func.count()).group_by(records.c.policy_version)
            )
        }
    return [
        {
            **_published(r).to_dict(),
            "digest": r.digest,
            "values_collected_under": int(counts.get(r.version, 0)),
        }
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
        if published_digest(conn, policy.version) is not None:
            return
        now = ctx.clock.now()
        record_version(
            conn,
            NewVersion(policy.version, policy.effective, now, ctx.policy.digest, text, [], False),
        )
        # Its values are sealed from the first (troth.store.sealing): never sealed over later.
        details = {
            "version": policy.version,
            "effective": policy.effective.isoformat(),
            "published_at": now.isoformat(),
            "digest": ctx.policy.digest,  # of the text (troth.policy.logged checks it)
            SEALED_FLAG: True,
            SUBJECTS_SEALED_FLAG: True,
            ACCESS_SEALED_FLAG: True,
            GRANTS_SEALED_FLAG: True,
            ROWS_SEALED_FLAG: True,
            OUTBOX_SEALED_FLAG: True,
        }
        append_entry(
            conn, now, AuditEntry(action="policy.publish", actor="system", details=details)
        )
