"""Database plumbing shared by every concept: one SQLAlchemy ``MetaData``, engine creation
with the right settings per backend, and column types that behave the same on SQLite,
PostgreSQL and MariaDB.

Each concept declares its own tables against :data:`metadata`; :mod:`troth.schema` imports
them all so migrations and ``create_all`` see the whole schema.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (
    URL,
    Connection,
    DateTime,
    Dialect,
    Engine,
    MetaData,
    TypeDecorator,
    create_engine,
    make_url,
)
from sqlalchemy.engine.base import OptionEngine

from troth.dialects import BigId, JsonType, WriteBusy, find_dialect, keeps_timezone
from troth.errors import ConfigError

__all__ = ["BigId", "JsonType", "WriteBusy"]  # kept in the dialect seam, used from here

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
        return value if keeps_timezone(dialect) else value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def dumps(value: Any) -> str:
    """Canonical JSON: sorted keys, no spaces; the same bytes for the same value."""
    return _CANONICAL(value)


# One encoder, not one per call (json.dumps builds a new one whenever options are given).
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
).encode


_URL_SHAPE = "write it as dialect+driver://user:password@host:port/database"


def check_database_url(url: str, setting: str = "database_url") -> URL:
    """``url`` parsed, its dialect known and its driver importable; otherwise a one-line
    :class:`ConfigError` naming ``setting`` and what to do. The password never appears in
    the message (nor the rest of the URL when it cannot be parsed)."""
    from sqlalchemy.exc import ArgumentError

    if not url or not url.strip():
        raise ConfigError(f"{setting} is empty; {_URL_SHAPE} (or sqlite:///PATH)")
    try:
        parsed = make_url(url)
        _ = parsed.port  # a port that is not a number fails here
    except (ArgumentError, ValueError):
        raise ConfigError(
            f"{setting} is not a database URL that can be read; {_URL_SHAPE}, with any @ : / #"
            " or ? in the user name or password percent-encoded (@ is %40)"
        ) from None
    shown = parsed.render_as_string(hide_password=True)
    known = find_dialect(parsed)
    if parsed.host and "@" in parsed.host:
        raise ConfigError(
            f"{setting} has an unencoded @ in the user name or password ({shown.split('@')[0]}"
            "@...); write @ there as %40"
        )
    in_process = known is not None and known.in_process
    if not in_process and not parsed.host and not parsed.query:
        raise ConfigError(f"{setting} names no host ({shown}); {_URL_SHAPE}")
    try:
        dialect_cls = parsed.get_dialect()
    except ArgumentError:
        raise ConfigError(
            f"{setting}: {parsed.drivername!r} is not a database troth can use; use"
            " sqlite:///PATH, postgresql+psycopg://... or mysql+pymysql://..."
        ) from None
    try:
        dialect_cls.import_dbapi()
    except ImportError as exc:
        extra = known.extra if known is not None else None
        how = (
            f"pip install 'troth[{extra}]'"
            if extra
            else f"install the {parsed.get_driver_name()} driver"
        )
        missing = getattr(exc, "name", None) or parsed.get_driver_name()
        raise ConfigError(
            f"{setting} uses {parsed.drivername}, but its driver ({missing}) is not installed:"
            f" {how}",
            code="database_driver_missing",
        ) from None
    return parsed


def sqlite_file(url: str | URL) -> Path | None:
    """The file a SQLite URL names; None for another backend, memory or a URI filename."""
    parsed = make_url(url)
    known = find_dialect(parsed)
    if known is None or not known.in_process:
        return None
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def make_engine(
    url: str,
    *,
    echo: bool = False,
    setting: str = "database_url",
    create: bool = True,
    pooled: bool = False,
) -> Engine:
    """An engine for ``url`` with troth's per-backend settings (SQLite: WAL, foreign keys,
    busy timeout; PostgreSQL/MariaDB: pre-ping). A URL that cannot be used (malformed,
    unknown database, driver not installed) is a :class:`ConfigError` naming ``setting``.
    ``create=False``: a SQLite file that does not exist is an error, not a new empty
    database (for databases that must already hold data: a connected dataset's).

    ``pooled`` says the URL goes through a pooler in transaction mode (PgBouncer): each
    transaction may then run on another server connection, so psycopg's server-side
    prepared statements are turned off (``prepare_threshold=None``): a statement prepared
    on one server connection is unknown on the next (PgBouncer before 1.21). On a direct
    connection they stay on, since they halve PostgreSQL's CPU per ``Troth.use`` (README,
    "Running troth on several machines")."""
    parsed = check_database_url(url, setting)
    path = sqlite_file(parsed)  # None unless a SQLite file
    if path is not None and not create and not path.is_file():
        raise ConfigError(
            f"{setting} names the SQLite file {path}, which does not exist; check the path"
            " (troth never creates an empty database for it)",
            code="database_missing",
        )
    if path is not None and not path.parent.is_dir():
        raise ConfigError(
            f"{setting} names the SQLite file {path}, whose folder does not exist",
            code="database_missing",
        )
    create_private_database(url)
    dialect = find_dialect(parsed)
    if dialect is None:  # known to SQLAlchemy, not to troth: its defaults
        engine = create_engine(url, echo=echo, pool_pre_ping=True, hide_parameters=True)
    else:
        engine = dialect.create_engine(url, parsed, echo=echo, pooled=pooled)
    engine.__class__ = _TrothEngine
    return engine


def create_private_database(url: str) -> None:
    """Create a SQLite database file that does not exist yet as 0600 (owner only),
    whatever the umask; SQLite gives its -wal and -shm files the same mode."""
    parsed = make_url(url)
    known = find_dialect(parsed)
    if known is None or not known.in_process:
        return  # a server's database name is not a file (it made ./test for postgresql/test)
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if path.exists() or not path.parent.is_dir():
        return
    with contextlib.suppress(FileExistsError):  # another process made it meanwhile
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


_JOINED: ContextVar[Connection | None] = ContextVar("troth_joined_transaction", default=None)


@contextlib.contextmanager
def joined(conn: Connection) -> Iterator[None]:
    """Within this block, on this thread, every audited transaction on ``conn``'s database
    (:func:`troth.audit.log.transaction`) runs as a savepoint of ``conn``'s transaction, so
    it commits (or not) with it: one atomic unit. On SQLite, other connections opened
    meanwhile only read (a write lock is already ours)."""
    token = _JOINED.set(conn)
    try:
        yield
    finally:
        _JOINED.reset(token)


def joined_connection(engine: Engine) -> Connection | None:
    """The connection :func:`joined` made current for ``engine``'s database, if any."""
    conn = _JOINED.get()
    if conn is not None and conn.engine.pool is engine.pool:
        return conn
    return None


class _JoinedConnection:
    """What ``engine.connect()`` hands out inside :func:`joined`: the unit's connection
    within a savepoint, so the work reads what it wrote and its commits are the unit's.
    ``commit`` releases the savepoint; ``rollback`` and closing without a commit undo it,
    as for a connection of its own."""

    def __init__(self, outer: Connection) -> None:
        self._outer = outer
        self._point = outer.begin_nested()

    def __enter__(self) -> _JoinedConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def begin(self) -> _JoinedTransaction:
        return _JoinedTransaction(self)

    def commit(self) -> None:
        if self._point.is_active:
            self._point.commit()
        self._point = self._outer.begin_nested()

    def rollback(self) -> None:
        if self._point.is_active:
            self._point.rollback()
        self._point = self._outer.begin_nested()

    def close(self) -> None:
        if self._point.is_active:
            self._point.rollback()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._outer, name)


class _JoinedTransaction:
    def __init__(self, conn: _JoinedConnection) -> None:
        self._conn = conn

    def __enter__(self) -> _JoinedTransaction:
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        if kind is None:
            self._conn.commit()
        else:
            self._conn.rollback()

    def commit(self) -> None:
        self._conn.commit()

    def rollback(self) -> None:
        self._conn.rollback()


def _connect(self: Engine) -> Connection:
    outer = joined_connection(self)
    if outer is not None:
        return cast(Connection, _JoinedConnection(outer))
    return Engine.connect(self)


class _TrothOptionEngine(OptionEngine):
    connect = _connect


class _TrothEngine(Engine):
    """An engine whose ``connect`` (and so ``begin``) joins the unit of :func:`joined`."""

    connect = _connect
    _option_cls = _TrothOptionEngine


READ_ONLY = "troth_read_only"
NO_WAIT = "troth_no_wait"


def no_wait(engine: Engine) -> Engine:
    """``engine`` whose SQLite write transactions fail at once with :class:`WriteBusy`
    instead of waiting for the lock: for work on an event loop, which must never block
    on another writer. (Other backends ignore it.)"""
    return _with_option(engine, NO_WAIT)


def _with_option(engine: Engine, option: str) -> Engine:
    """``engine.execution_options(option=True)``, made once per engine and kept on it:
    its connections start with the option, where setting it on each connection costs
    a dialect call per checkout."""
    made: Engine | None = engine.__dict__.get(option)
    if made is None:
        made = engine.__dict__[option] = engine.execution_options(**{option: True})
    return made


def reading(engine: Engine) -> Any:
    """A connection for reads only: on SQLite it does not take the write lock, so reads
    never queue behind writers (WAL gives them a consistent snapshot)."""
    return _with_option(engine, READ_ONLY).connect()


def unreachable(exc: BaseException) -> str | None:
    """When ``exc`` says the database could not be reached or answered with an error
    (SQLAlchemy's OperationalError), the driver's first line of it; None otherwise."""
    from sqlalchemy.exc import OperationalError

    if not isinstance(exc, OperationalError):
        return None
    return str(exc.orig).splitlines()[0] if exc.orig else str(exc)


def bind_processor(type_: Any, dialect: Dialect) -> Any:
    """The processor SQLAlchemy itself applies to a value of ``type_`` bound on
    ``dialect``: a TypeDecorator's first, then the dialect's own (SQLite's DateTime text,
    psycopg's Json); None when the driver takes the value as it is."""
    return type_.dialect_impl(dialect).bind_processor(dialect)


def insert_many(
    conn: Any,
    table: Any,
    rows: Sequence[Mapping[str, Any]] | Sequence[Sequence[Any]],
    common: Mapping[str, Any] | None = None,
    names: Sequence[str] | None = None,
) -> None:
    """Insert many rows with one driver-level executemany, applying each column's full
    bind processing (the same chain SQLAlchemy applies) but skipping its per-row statement
    machinery: the bulk-collect hot path. Rows are dicts with the same keys, or tuples in
    the order of ``names``; ``common`` gives columns that are the same in every row
    (processed once). Table and column names come from troth's own metadata; values are
    always bound parameters."""
    if not rows:
        return
    dialect = conn.dialect
    common = common or {}
    if names is None:
        dict_rows = cast("Sequence[Mapping[str, Any]]", rows)
        names = list(dict_rows[0])
        columns: list[Any] = [[row[n] for row in dict_rows] for n in names]
    else:
        columns = [list(col) for col in zip(*rows, strict=True)]
        if len(columns) != len(names):
            raise ValueError(f"rows have {len(columns)} values, names {len(names)}")
    const = [n for n in common if n not in names]
    cols = [table.c[n] for n in (*names, *const)]
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    prep = dialect.identifier_preparer
    # Quoted identifiers from troth's own metadata; every value is a bound parameter.
    sql = (
        f"INSERT INTO {prep.format_table(table)}"  # noqa: S608
        f" ({', '.join(prep.format_column(c) for c in cols)})"
        f" VALUES ({', '.join([mark] * len(cols))})"
    )
    procs = [bind_processor(c.type, dialect) for c in cols]
    for i, p in enumerate(procs[: len(names)]):
        if p is not None:
            columns[i] = _processed(columns[i], p)
    for n, p in zip(const, procs[len(names) :], strict=True):
        v = common[n]
        columns.append(itertools.repeat(v if p is None or v is None else p(v), len(rows)))
    conn.exec_driver_sql(sql, list(zip(*columns, strict=True)))


def _processed(values: list[Any], process: Any) -> list[Any]:
    """``values`` through a bind processor; bulk rows repeat many values (purposes,
    versions), so each distinct one is processed once."""
    seen: dict[Any, Any] = {}
    out: list[Any] = []
    for v in values:
        if v is None:
            out.append(None)
            continue
        key = tuple(v) if isinstance(v, list) else v
        try:
            done = seen[key]
        except KeyError:
            done = seen[key] = process(v)
        except TypeError:  # unhashable: process it each time
            done = process(v)
        out.append(done)
    return out


class Prepared:
    """A Core statement compiled once per dialect and run on the driver's cursor, inside
    the caller's transaction: for the few hot statements (every use and every audit
    append) where SQLAlchemy's per-execution machinery costs several times what the
    statement costs the database. Bind and result values go through each type's own
    processors for the dialect (the chain SQLAlchemy applies), so values read and written
    here are the same as through ``Connection.execute``. Statements with expanding
    (``IN``) or post-compiled parameters are refused: they cannot be compiled once."""

    __slots__ = ("_by_dialect", "stmt")

    def __init__(self, stmt: Any) -> None:
        self.stmt = stmt
        self._by_dialect: dict[type[Dialect], _Compiled] = {}

    def _for(self, dialect: Dialect) -> _Compiled:
        compiled = self._by_dialect.get(type(dialect))
        if compiled is None:
            compiled = self._by_dialect[type(dialect)] = _Compiled(self.stmt, dialect)
        return compiled

    def execute(self, conn: Any, params: dict[str, Any]) -> int:
        """Run once with ``params``; returns the number of rows it changed."""
        c = self._for(conn.dialect)
        cursor = conn.connection.driver_connection.cursor()
        try:
            cursor.execute(c.sql, c.args(params))
            return int(cursor.rowcount)
        finally:
            cursor.close()

    def all(self, conn: Any, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Run a SELECT; every row as a tuple in the statement's column order, each value
        processed as SQLAlchemy would have."""
        c = self._for(conn.dialect)
        cursor = conn.connection.driver_connection.cursor()
        try:
            cursor.execute(c.sql, c.args(params))
            rows = cursor.fetchall()
        finally:
            cursor.close()
        convert = c.result_procs
        if not convert:
            return [tuple(r) for r in rows]
        out = []
        for r in rows:
            values = list(r)
            for i, p in convert:
                v = values[i]
                if v is not None:
                    values[i] = p(v)
            out.append(tuple(values))
        return out


class _Compiled:
    __slots__ = ("keys", "names", "positional", "procs", "result_procs", "sql", "static")

    def __init__(self, stmt: Any, dialect: Dialect) -> None:
        compiled = stmt.compile(dialect=dialect)
        if compiled.literal_execute_params or compiled.post_compile_params:
            raise ValueError("Prepared statements cannot have expanding or post-compiled binds")
        self.sql = str(compiled)
        self.positional = bool(compiled.positional)
        names = list(compiled.positiontup or ()) if self.positional else list(compiled.binds)
        binds = compiled.binds
        # The key a caller passes: the bind parameter's own key (e.g. "sid").
        self.keys = [binds[n].key for n in names]
        self.static = {
            binds[n].key: binds[n].effective_value for n in names if not binds[n].required
        }
        self.procs = [bind_processor(binds[n].type, dialect) for n in names]
        escaped = compiled.escaped_bind_names or {}
        self.names = [escaped.get(n, n) for n in names]
        # (position, processor) of the result columns that have one: most have none.
        self.result_procs: list[tuple[int, Any]] = []
        if getattr(stmt, "is_select", False):
            for i, col in enumerate(stmt.selected_columns):
                proc = col.type.dialect_impl(dialect).result_processor(dialect, None)
                if proc is not None:
                    self.result_procs.append((i, proc))

    def args(self, params: dict[str, Any]) -> Any:
        static = self.static
        values = [params[k] if k in params else static[k] for k in self.keys]
        values = [
            v if p is None or v is None else p(v) for p, v in zip(self.procs, values, strict=True)
        ]
        if self.positional:
            return tuple(values)
        return dict(zip(self.names, values, strict=True))
