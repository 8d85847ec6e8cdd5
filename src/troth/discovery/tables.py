"""Discovery's tables in troth's database: each scan and each table's progress, so an
interrupted scan resumes at the next table. Only masked evidence (shapes and counts) is
ever stored here, never a value read from a scanned database."""

from __future__ import annotations

import sqlalchemy as sa

from troth.columns import document, key, ref, stamp, stamps
from troth.db import metadata

discovery_scans = sa.Table(
    "discovery_scans",
    metadata,
    key(),
    # running -> complete; partial when the time budget ran out (resumable); a scan found
    # ``running`` with no worker on it was interrupted and resumes the same way.
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    document("datasets"),
    document("options"),
    document("summary", required=False),
    *stamps("created_at", "updated_at"),
    stamp("finished_at", required=False),
    sa.Index(None, "state", "created_at"),
)

discovery_tables = sa.Table(
    "discovery_tables",
    metadata,
    ref("scan_id", "discovery_scans.id", cascade=True, primary_key=True),
    sa.Column("dataset", sa.String(64), primary_key=True),
    sa.Column("table_name", sa.String(128), primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # pending, done, failed
    # The table's shape (columns, types, comments, keys) and, once done, each column's
    # classification with masked evidence.
    document("shape"),
    document("result", required=False),
    sa.Column("error", sa.Text, nullable=True),
    stamp("updated_at"),
)
