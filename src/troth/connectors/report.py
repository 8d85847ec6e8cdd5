"""What a connector did, per dataset and table: plain data, JSON-able both ways."""

from __future__ import annotations

import base64
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from uuid import UUID


@dataclass
class KeptRows:
    """Rows (or some of their columns) kept despite erasure, and why."""

    rows: int
    reason: str
    keep_for: str
    purpose: str | None = None
    columns: list[str] | None = None  # None: the whole rows
    until: str | None = None  # ISO date the latest of them may be erased, when known


@dataclass
class TableReport:
    found: int = 0
    deleted: int = 0
    nulled: int = 0
    masked: int = 0
    hashed: int = 0
    corrected: int = 0
    kept: int = 0
    kept_because: list[KeptRows] = field(default_factory=list)

    def changed(self) -> int:
        return self.deleted + self.nulled + self.masked + self.hashed + self.corrected


@dataclass
class Report:
    """One dataset's part of a request: ``tables`` maps table name to what happened."""

    dataset: str
    operation: str
    location: str | None = None
    tables: dict[str, TableReport] = field(default_factory=dict)

    def table(self, name: str) -> TableReport:
        return self.tables.setdefault(name, TableReport())

    def changed(self) -> int:
        """How many rows or values this run changed (0 when run again: idempotent)."""
        return sum(t.changed() for t in self.tables.values())

    def found(self) -> int:
        return sum(t.found for t in self.tables.values())

    def to_dict(self) -> dict[str, Any]:
        # By hand: dataclasses.asdict deep-copies and costs more than the erasure's SQL.
        tables = {}
        for name, t in self.tables.items():
            d = dict(t.__dict__)
            d["kept_because"] = [dict(k.__dict__) for k in t.kept_because]
            tables[name] = d
        return {
            "dataset": self.dataset,
            "operation": self.operation,
            "location": self.location,
            "tables": tables,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        tables = {}
        for name, t in data.get("tables", {}).items():
            kept = [KeptRows(**k) for k in t.get("kept_because", [])]
            tables[name] = TableReport(**{**t, "kept_because": kept})
        return cls(data["dataset"], data["operation"], data.get("location"), tables)


@dataclass
class TableExport:
    columns: dict[str, str | None]  # column -> category (None: not personal by itself)
    rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class DatasetExport:
    """Everything one dataset holds about a person, rows as JSON-able dicts."""

    dataset: str
    location: str | None = None
    tables: dict[str, TableExport] = field(default_factory=dict)

    def count(self) -> int:
        return sum(len(t.rows) for t in self.tables.values())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_PLAIN = frozenset({bool, int, float, str})


def jsonable(value: Any) -> Any:
    """A database value as JSON: dates ISO 8601, decimals as strings, bytes base64."""
    if value is None or type(value) in _PLAIN:
        return value
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    return str(value)
