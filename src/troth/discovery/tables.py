"""Discovery's tables in troth's database: each scan and each table's progress, so an
interrupted scan resumes at the next table. Only masked evidence (shapes and counts) is
ever stored here, never a value read from a scanned database."""

from __future__ import annotations

import sqlalchemy as sa

from troth.db import JsonType, UtcDateTime, metadata

discovery_scans = sa.Table(
    "discovery_scans",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    # running -> complete; partial when the time budget ran out (resumable); a scan found
    # ``running`` with no worker on it was interrupted and resumes the same way.
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("datasets", JsonType, nullable=False),
    sa.Column("options", JsonType, nullable=False),
    sa.Column("summary", JsonType, nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("finished_at", UtcDateTime, nullable=True),
    sa.Index(None, "state", "created_at"),
)

discovery_tables = sa.Table(
    "discovery_tables",
    metadata,
    sa.Column(
        "scan_id",
        sa.String(32),
        sa.ForeignKey("discovery_scans.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("dataset", sa.String(64), primary_key=True),
    sa.Column("table_name", sa.String(128), primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # pending, done, failed
    # The table's shape (columns, types, comments, keys) and, once done, each column's
    # classification with masked evidence.
    sa.Column("shape", JsonType, nullable=False),
    sa.Column("result", JsonType, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)
