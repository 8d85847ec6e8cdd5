"""Discovery scans as stored and read back: the :class:`ScanReport` of a scan, and the
reads of ``discovery_scans`` and ``discovery_tables`` it is made from (masked results only;
:class:`troth.discovery.service.DiscoveryService` computes the drift)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from troth.discovery.classify import ColumnResult
from troth.discovery.drift import DRIFT, Finding, Severity, TableScan
from troth.discovery.tables import discovery_scans, discovery_tables
from troth.errors import NotFound


@dataclass
class ScanReport:
    scan_id: str
    state: str  # complete, partial
    started_at: datetime
    datasets: list[str]
    tables_done: int
    tables_total: int
    findings: list[Finding]
    errors: dict[str, str] = field(default_factory=dict)
    sampled_bytes: int = 0

    @property
    def drift(self) -> bool:
        return any(f.severity in DRIFT for f in self.findings)

    @property
    def complete(self) -> bool:
        return self.state == "complete"

    def counts(self) -> dict[str, int]:
        out = {s.value: 0 for s in Severity}
        for f in self.findings:
            out[f.severity.value] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "scan_id": self.scan_id,
            "state": self.state,
            "started_at": self.started_at.isoformat(),
            "datasets": self.datasets,
            "tables_done": self.tables_done,
            "tables_total": self.tables_total,
            "drift": self.drift,
            "counts": self.counts(),
            "errors": self.errors,
            "findings": [f.to_dict() for f in self.findings],
        }


def stored_scan(conn: Connection, scan_id: str | None) -> tuple[Any, list[Any]]:
    """Scan ``scan_id`` (the newest when None) and its tables, in their order."""
    q = sa.select(discovery_scans)
    q = (
        q.where(discovery_scans.c.id == scan_id)
        if scan_id
        else q.order_by(discovery_scans.c.created_at.desc(), discovery_scans.c.id.desc())
    )
    scan = conn.execute(q.limit(1)).first()
    if scan is None:
        raise NotFound(f"no discovery scan {scan_id!r}" if scan_id else "no discovery scan yet")
    tables = conn.execute(
        sa.select(discovery_tables)
        .where(discovery_tables.c.scan_id == scan.id)
        .order_by(discovery_tables.c.position)
    ).all()
    return scan, list(tables)


def stored_table(t: Any) -> TableScan:
    """A table's classification as stored by a scan."""
    return TableScan(
        t.dataset,
        t.table_name,
        tuple(t.shape.get("primary_key", ())),
        tuple((a, b, c) for a, b, c in t.shape.get("foreign_keys", ())),
        tuple(ColumnResult.from_dict(c) for c in t.result or ()),
    )


def newest_scans(conn: Connection, limit: int) -> list[dict[str, Any]]:
    """The newest scans: id, state, when, by whom, the counts."""
    rows = conn.execute(
        sa.select(discovery_scans)
        .order_by(discovery_scans.c.created_at.desc(), discovery_scans.c.id.desc())
        .limit(limit)
    ).all()
    return [
        {
            "id": r.id,
            "state": r.state,
            "actor": r.actor,
            "datasets": list(r.datasets),
            "created_at": r.created_at,
            "summary": r.summary,
        }
        for r in rows
    ]


def unfinished_scan(conn: Connection) -> str | None:
    """The newest scan that did not finish (partial, or interrupted while running)."""
    found = conn.execute(
        sa.select(discovery_scans.c.id)
        .where(discovery_scans.c.state.in_(("partial", "running")))
        .order_by(discovery_scans.c.created_at.desc())
        .limit(1)
    ).scalar()
    return None if found is None else str(found)
