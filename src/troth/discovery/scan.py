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

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy import Connection, Engine
from sqlalchemy.engine import make_url

from troth.errors import ConnectorError


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
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database or ""
        if not path or path == ":memory:":
            raise ConnectorError("discovery reads a SQLite file; an in-memory database is empty")
        uri = f"file:{quote(path)}?mode=ro"

        def connect() -> sqlite3.Connection:
            conn = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=5)
            conn.execute("PRAGMA query_only = ON")
            return conn

        return sa.create_engine("sqlite://", creator=connect, poolclass=sa.pool.NullPool)
    return sa.create_engine(url, pool_pre_ping=True, poolclass=sa.pool.NullPool)


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
        dialect = conn.dialect.name
        if dialect == "postgresql":
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            conn.exec_driver_sql(f"SET LOCAL statement_timeout = {ms}")
        elif dialect in ("mysql", "mariadb"):
            if _is_mariadb(conn):
                conn.exec_driver_sql(f"SET SESSION max_statement_time = {ms / 1000:.3f}")
            else:
                conn.exec_driver_sql(f"SET SESSION max_execution_time = {ms}")
            conn.exec_driver_sql("START TRANSACTION READ ONLY")
        elif dialect == "sqlite":
            deadline = time.monotonic() + ms / 1000
            raw: Any = conn.connection.driver_connection
            raw.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
        try:
            yield conn
        finally:
            conn.rollback()
            if dialect == "sqlite":
                conn.connection.driver_connection.set_progress_handler(None, 0)  # type: ignore[union-attr]


def _is_mariadb(conn: Connection) -> bool:
    return bool(getattr(conn.dialect, "is_mariadb", False))


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
