"""Database plumbing shared by every concept: one SQLAlchemy ``MetaData``, engine creation
with the right settings per backend, and column types that behave the same on SQLite,
PostgreSQL and MariaDB.

Each concept declares its own tables against :data:`metadata`; :mod:`troth.schema` imports
them all so migrations and ``create_all`` see the whole schema.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (
    URL,
    Connection,
    Engine,
    MetaData,
    Select,
    create_engine,
    make_url,
)
from sqlalchemy.engine.base import OptionEngine

from troth.dialects import BigId, WriteBusy, find_dialect
from troth.errors import ConfigError, ValidationError
from troth.stored import Day, Document, UtcDateTime, driver_processor

# BigId and WriteBusy are kept in the dialect seam, the column types in troth.stored.
__all__ = ["BigId", "Day", "Document", "JsonType", "UtcDateTime", "WriteBusy"]

JsonType = Document  # a JSON value of any shape (troth.columns.document: one per column)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


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


# What to do once an audited transaction commits (:func:`after_commit`): a list on the
# connection's info while :func:`troth.audit.log.transaction` runs.
_AFTER_COMMIT = "troth.after_commit"


def after_commit(conn: Connection, action: Callable[[], object]) -> None:
    """Run ``action`` once the audited transaction ``conn`` belongs to
    (:func:`troth.audit.log.transaction`, or the unit :func:`joined` makes) has committed,
    and never when it rolls back; on a connection outside one, at once. For what lies
    outside the database (files): an action must not raise."""
    hooks = getattr(conn, "info", {}).get(_AFTER_COMMIT)
    if hooks is None:
        action()
    else:
        hooks.append(action)


def start_after_commit(conn: Connection) -> list[Callable[[], object]]:
    """The actions :func:`after_commit` collects on ``conn`` from now on (a new list)."""
    hooks: list[Callable[[], object]] = []
    conn.info[_AFTER_COMMIT] = hooks
    return hooks


def end_after_commit(conn: Connection) -> None:
    """Stop collecting on ``conn`` (its info outlives the checkout)."""
    conn.info.pop(_AFTER_COMMIT, None)


@contextlib.contextmanager
def savepoint_actions(conn: Connection) -> Iterator[None]:
    """Within a savepoint of ``conn``'s transaction: what it asked to run after the commit
    is forgotten when the savepoint rolls back."""
    hooks = conn.info.get(_AFTER_COMMIT)
    mark = len(hooks) if hooks is not None else 0
    try:
        yield
    except BaseException:
        if hooks is not None:
            del hooks[mark:]
        raise


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


# -- one page of a list -------------------------------------------------------------------
def check_page(limit: int, offset: int) -> None:
    """The bounds of every paged list: ``limit`` 1 to 10,000, ``offset`` 0 or more."""
    if limit < 1 or limit > 10_000 or offset < 0:
        raise ValidationError("limit is 1 to 10000 and offset 0 or more")


def within(column: Any, since: datetime | None, until: datetime | None) -> list[Any]:
    """The conditions ``since`` <= ``column`` < ``until``, for the bounds given."""
    where: list[Any] = []
    if since is not None:
        where.append(column >= since)
    if until is not None:
        where.append(column < until)
    return where


def driver_rows(conn: Connection, stmt: Select[Any]) -> list[tuple[Any, ...]]:
    """The rows ``stmt`` selects as plain tuples of the driver's values, converted only
    as the driver's own column types need (SQLite's dates and times from their text, as
    SQLAlchemy reads them); no :class:`~sqlalchemy.engine.Row` objects and no
    :class:`TypeDecorator` processing: a time of :class:`UtcDateTime` comes back naive
    (UTC wall time) on SQLite, and a value the driver's type cannot read (an empty or
    garbled time) comes back as a :class:`troth.stored.Unreadable`, which no seal
    matches. For reads of many rows whose caller converts what it uses itself
    (retention's seal checks)."""
    result = conn.execute(stmt)
    try:
        cursor = result.cursor
        # Both drivers' cursors give a list of tuples.
        rows = cast("list[tuple[Any, ...]]", cursor.fetchall())
        description = cursor.description
    finally:
        result.close()
    dialect = conn.dialect
    procs = [
        driver_processor(col.type, dialect, desc[1])
        for col, desc in zip(stmt.selected_columns, description or (), strict=True)
    ]
    if not any(procs):
        return rows
    pairs = [(i, p) for i, p in enumerate(procs) if p is not None]
    out = [list(row) for row in rows]
    for row in out:
        for i, p in pairs:
            row[i] = p(row[i])
    return [tuple(row) for row in out]


def count_where(conn: Connection, table: Any, where: list[Any]) -> int:
    """How many rows of ``table`` match every condition of ``where`` (a page's total)."""
    from sqlalchemy import func, select

    return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())
