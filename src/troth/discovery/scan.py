"""Read a connected database, read-only: its tables and columns (names, types, comments,
through SQLAlchemy's inspector, as ``troth datasets check`` does) and a bounded sample of
each table's values.

Safe by construction: SQLite is opened with ``mode=ro`` and ``PRAGMA query_only``
(troth's :func:`troth.db.make_engine` would switch the file to WAL, a write); PostgreSQL
runs each table's read in ``SET TRANSACTION READ ONLY`` with a statement timeout from the
time left; MySQL/MariaDB in a read-only transaction with a statement time limit. Nothing
is ever written, and the values read stay in memory for the classifier only.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Engine
from sqlalchemy.engine import make_url

from troth.dialects import find_dialect


@dataclass(frozen=True)
class LiveColumn:
    name: str
    type: str
    comment: str | None


@dataclass(frozen=True)
class LiveTable:
    name: str
    columns: tuple[LiveColumn, ...]
    comment: str | None = None
    primary_key: tuple[str, ...] = ()
    # (column, parent table, parent column) of each foreign key
    foreign_keys: tuple[tuple[str, str, str], ...] = ()


def readonly_engine(url: str) -> Engine:
    """An engine that cannot write: SQLite read-only by URI and ``query_only``; the server
    databases by their read-only transactions (see :func:`read_sample`)."""
    parsed = make_url(url)
    dialect = find_dialect(parsed)
    if dialect is None:  # known to SQLAlchemy, not to troth: a read-only transaction fails
        return sa.create_engine(url, pool_pre_ping=True, poolclass=sa.pool.NullPool)
    return dialect.readonly_engine(parsed)


def live_tables(engine: Engine) -> list[LiveTable]:
    """Every table with its columns (name, type, comment), sorted by name."""
    insp = sa.inspect(engine)
    out = []
    for name in sorted(insp.get_table_names()):
        try:
            comment = insp.get_table_comment(name).get("text")
        except NotImplementedError:
            comment = None
        cols = tuple(
            LiveColumn(c["name"], _type_name(c["type"]), c.get("comment"))
            for c in insp.get_columns(name)
        )
        pk = tuple(insp.get_pk_constraint(name).get("constrained_columns") or ())
        fks = tuple(
            (c, fk["referred_table"], p)
            for fk in insp.get_foreign_keys(name)
            for c, p in zip(fk["constrained_columns"], fk["referred_columns"], strict=False)
        )
        out.append(LiveTable(name, cols, comment, pk, fks))
    return out


def _type_name(type_: Any) -> str:
    try:
        return str(type_.compile())
    except Exception:
        return type(type_).__name__.upper()


@contextmanager
def read_only(engine: Engine, seconds_left: float) -> Iterator[Connection]:
    """A connection in a read-only transaction that is rolled back at the end; each
    statement is cut off when the time budget would run out."""
    ms = max(int(seconds_left * 1000), 100)
    with engine.connect() as conn:
        dialect = find_dialect(conn)
        if dialect is not None:
            dialect.begin_read_only(conn, ms)
        try:
            yield conn
        finally:
            conn.rollback()
            if dialect is not None:
                dialect.end_read_only(conn)


def read_sample(
    engine: Engine, table: LiveTable, rows: int, seconds_left: float
) -> tuple[dict[str, list[object]], float]:
    """Up to ``rows`` rows of ``table`` (every column), as column -> values, and the
    seconds it took. Identifiers are quoted by the dialect; the limit is a bound
    parameter."""
    t0 = time.monotonic()
    cols: list[Any] = [sa.column(c.name) for c in table.columns]
    stmt = (
        sa.select(*cols)
        .select_from(sa.table(table.name))
        .limit(sa.bindparam("n", rows, literal_execute=True))
    )
    with read_only(engine, seconds_left) as conn:
        result = conn.execute(stmt).all()
    out: dict[str, list[object]] = {c.name: [] for c in table.columns}
    names = [c.name for c in table.columns]
    for row in result:
        for name, value in zip(names, row, strict=True):
            out[name].append(value)
    return out, time.monotonic() - t0
