"""An audit entry's leaf hash recomputed from its stored row: what ``troth audit verify``
walks the log with (:mod:`troth.audit.verify`), and what the cross-checks against the
tables use to tell an entry changed outside troth from a genuine one
(:mod:`troth.audit.crosscheck`)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, String, type_coerce

from troth.audit.tables import ENTRY_COLUMNS, audit_entries, entry_bytes

_LEAF = b"\x00"


def sqlite_iso(raw: str) -> str:
    """iso() text of a time as SQLAlchemy keeps it on SQLite ("YYYY-MM-DD HH:MM:SS.ffffff",
    UTC), without a datetime round trip; any other shape was not written by troth and
    comes out unreadable, so its leaf cannot match."""
    if len(raw) != 26 or raw[10] != " ":
        return "unreadable:" + raw
    return raw[:10] + "T" + (raw[11:19] if raw.endswith(".000000") else raw[11:]) + "+00:00"


def leaves_of(rows: Sequence[Any], sqlite: bool) -> list[bytes]:
    """The recomputed leaf hash of each row (:func:`entry_columns`' columns); a row too
    damaged to serialise gets an empty leaf, which matches nothing."""
    sha, eb, iso_of = hashlib.sha256, entry_bytes, sqlite_iso
    try:
        if sqlite:
            return [sha(_LEAF + eb(r, iso_of(r[1]))).digest() for r in rows]
        return [sha(_LEAF + eb(r)).digest() for r in rows]
    except (TypeError, ValueError, AttributeError, UnicodeEncodeError):
        out = []
        for r in rows:
            try:
                out.append(sha(_LEAF + eb(r, iso_of(r[1]) if sqlite else None)).digest())
            except (TypeError, ValueError, AttributeError, UnicodeEncodeError):
                out.append(b"")
        return out


def entry_columns(times_as_text: bool) -> list[ColumnElement[Any]]:
    """The columns entry_bytes() reads, then leaf_hash; ``at`` as raw text on SQLite."""
    t = audit_entries
    cols: list[ColumnElement[Any]] = [t.c[name] for name in ENTRY_COLUMNS] + [t.c.leaf_hash]
    if times_as_text:
        cols[1] = type_coerce(t.c.at, String).label("at")
    return cols
