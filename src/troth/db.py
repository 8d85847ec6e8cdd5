"""Database plumbing shared by every concept: one SQLAlchemy ``MetaData``, engine creation
with the right settings per backend, and column types that behave the same on SQLite,
PostgreSQL and MariaDB.

Each concept declares its own tables against :data:`metadata`; :mod:`troth.schema` imports
them all so migrations and ``create_all`` see the whole schema.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    Engine,
    Integer,
    MetaData,
    TypeDecorator,
    create_engine,
    event,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in, timezone-aware UTC out, whatever the backend keeps."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("troth stores only timezone-aware datetimes")
        value = value.astimezone(UTC)
        # SQLite and MariaDB keep naive values: store UTC wall time.
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JsonType = JSON().with_variant(JSON(none_as_null=True), "postgresql")

# Integer ids: BIGINT on PostgreSQL/MariaDB, INTEGER (the rowid alias) on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def dumps(value: Any) -> str:
    """Canonical JSON: sorted keys, no spaces; the same bytes for the same value."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine for ``url`` with troth's per-backend settings (SQLite: WAL, foreign keys,
    busy timeout; PostgreSQL/MariaDB: pre-ping)."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"timeout": 30, "check_same_thread": False},
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy manage transactions explicitly (BEGIN IMMEDIATE below).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # Take the write lock up front so concurrent writers queue instead of deadlocking;
            # a connection marked read-only (see `reading`) takes none and never waits.
            if conn.get_execution_options().get(READ_ONLY):
                conn.exec_driver_sql("BEGIN")
            else:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True, future=True)


READ_ONLY = "troth_read_only"


def reading(engine: Engine) -> Any:
    """A connection for reads only: on SQLite it does not take the write lock, so reads
    never queue behind writers (WAL gives them a consistent snapshot)."""
    return engine.connect().execution_options(**{READ_ONLY: True})


def backend(engine: Engine) -> str:
    """'sqlite', 'postgresql' or 'mysql' (MariaDB reports mysql)."""
    return engine.dialect.name


def insert_many(conn: Any, table: Any, rows: list[dict[str, Any]]) -> None:
    """Insert many rows with one driver-level executemany, applying each column's full
    bind processing (the same chain SQLAlchemy applies) but skipping its per-row statement
    machinery: the bulk-collect hot path. Every row must have the same keys; table and
    column names come from troth's own metadata, values are always bound parameters."""
    if not rows:
        return
    dialect = conn.dialect
    names = list(rows[0])
    cols = [table.c[n] for n in names]
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    prep = dialect.identifier_preparer
    # Quoted identifiers from troth's own metadata; every value is a bound parameter.
    sql = (
        f"INSERT INTO {prep.format_table(table)}"  # noqa: S608
        f" ({', '.join(prep.format_column(c) for c in cols)})"
        f" VALUES ({', '.join([mark] * len(cols))})"
    )
    # _cached_bind_processor is the processor SQLAlchemy itself uses for the column:
    # TypeDecorator first, then the dialect's own (SQLite's DateTime text, psycopg's Json).
    procs = [c.type._cached_bind_processor(dialect) for c in cols]
    # Bulk rows repeat most values (time, version, point, purposes): process each once.
    memo: list[dict[Any, Any]] = [{} for _ in names]
    columns = []
    for n, p, seen in zip(names, procs, memo, strict=True):
        if p is None:
            columns.append([row[n] for row in rows])
            continue
        out: list[Any] = []
        for row in rows:
            v = row[n]
            if v is None:
                out.append(None)
                continue
            key = tuple(v) if isinstance(v, list) else v
            try:
                done = seen[key]
            except KeyError:
                done = seen[key] = p(v)
            except TypeError:  # unhashable: process it each time
                done = p(v)
            out.append(done)
        columns.append(out)
    conn.exec_driver_sql(sql, list(zip(*columns, strict=True)))
