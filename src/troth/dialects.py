"""The dialect seam: every difference between the databases troth talks to, one small
class per dialect. troth's own database is SQLite or PostgreSQL; a connected system's
database (connectors, discovery) may also be MySQL or MariaDB.

Nothing outside this module asks a database for its name: code asks
``dialect_for(conn_or_engine_or_url)`` what it can do (``.row_locks``, ``.insert_ignore``,
``.begin_read_only``...). tests/project/test_dialects.py fails when a module elsewhere checks a
dialect's name. To add a dialect, see "Adding a dialect" in the README's Architecture
section.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy import URL, Connection, Engine, event, make_url

# Integer ids: BIGINT on PostgreSQL/MariaDB, INTEGER (the rowid alias) on SQLite.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


_BUSY_TIMEOUT_MS = 30_000


class WriteBusy(Exception):
    """Another connection holds SQLite's write lock, and the caller asked not to wait
    (:func:`troth.db.no_wait`); nothing was written."""


def _begin_now(driver: Any) -> None:
    """``BEGIN IMMEDIATE`` once, without waiting: WriteBusy if the lock is taken."""
    driver.execute("PRAGMA busy_timeout=0")
    try:
        driver.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise WriteBusy(str(exc)) from exc
        raise
    finally:
        driver.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")


def _begin_immediate(driver: Any) -> None:
    """``BEGIN IMMEDIATE``, waiting for another writer in steps of 50 us to 2 ms.

    SQLite's own busy handler sleeps 1, 2, 5, 10... ms between tries, far longer than a
    troth write transaction holds the lock (well under a millisecond), so under
    concurrent writers most of the time went to sleeping. Here the busy timeout is off
    for the BEGIN alone and the wait is ours, bounded by the same 30 s."""
    driver.execute("PRAGMA busy_timeout=0")
    try:
        deadline = time.monotonic() + _BUSY_TIMEOUT_MS / 1000
        pause = 0.00005
        while True:
            try:
                driver.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                busy = "locked" in str(exc) or "busy" in str(exc)
                if not busy or time.monotonic() > deadline:
                    raise
            time.sleep(pause * (0.5 + random.random()))
            pause = min(pause * 2, 0.002)
    finally:
        driver.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")


class Dialect:
    """What troth needs to know about one database. The defaults are a server database's
    (a network round trip away, row locks, MVCC snapshots); each dialect overrides what
    differs."""

    name: ClassVar[str]
    # SQLAlchemy's names for it (``dialect.name`` and URL backend names)
    names: ClassVar[tuple[str, ...]]
    # the pyproject extra that installs its driver, if any
    extra: ClassVar[str | None] = None
    # may hold troth's own database (consent upserts, retention SQL, the audit log)
    own_database: ClassVar[bool] = False
    # a file opened in this process: no network, one writer at a time
    in_process: ClassVar[bool] = False
    # keeps a datetime's time zone (others store naive UTC wall time)
    keeps_timezone: ClassVar[bool] = False
    # keeps a datetime's microseconds (MySQL/MariaDB's DATETIME keeps whole seconds)
    fractional_seconds: ClassVar[bool] = True
    # SELECT .. FOR UPDATE locks rows, and SKIP LOCKED lets workers take different ones
    row_locks: ClassVar[bool] = True
    # several data-modifying CTEs in one statement (connector writes in one round trip)
    data_modifying_ctes: ClassVar[bool] = False
    # row-level security policies (access/rls.py)
    row_level_security: ClassVar[bool] = False
    # audit appends that find the state row locked commit *pending* entries instead of
    # waiting (troth.audit.log); a sequencer moves them into the tree
    pending_appends: ClassVar[bool] = False
    # DELETE .. WHERE pk IN (SELECT .. LIMIT n) on the same table is accepted
    limit_in_subquery: ClassVar[bool] = True
    # datetimes come back from the driver as text (verify reads them raw)
    times_as_text: ClassVar[bool] = False
    # a Python None bound to a JSON column is stored as the JSON 'null' unless told
    json_none_as_null: ClassVar[bool] = False
    # the isolation level for one consistent snapshot over several reads (verify)
    snapshot_isolation: ClassVar[str | None] = "REPEATABLE READ"

    # -- engines ---------------------------------------------------------------------------
    def create_engine(self, url: str, parsed: URL, *, echo: bool, pooled: bool) -> Engine:
        """A SQLAlchemy engine with troth's settings for this dialect (pre-ping)."""
        return sa.create_engine(url, echo=echo, pool_pre_ping=True, hide_parameters=True)

    def readonly_engine(self, parsed: URL) -> Engine:
        """An engine for discovery, one connection per use; writes are refused by
        :meth:`begin_read_only`'s transaction."""
        return sa.create_engine(parsed, pool_pre_ping=True, poolclass=sa.pool.NullPool)

    def begin_read_only(self, conn: Connection, ms: int) -> None:
        """Start a read-only transaction on ``conn``, each statement cut off after ``ms``."""
        raise NotImplementedError

    def end_read_only(self, conn: Connection) -> None:
        """Undo what :meth:`begin_read_only` set beyond the transaction (rolled back)."""

    @contextmanager
    def key_order(self, conn: Connection) -> Iterator[None]:
        """Around the statements of a keyset page (``id > :after ... ORDER BY id LIMIT
        n``): they walk the primary key in order and stop at the page's end, whatever
        the planner guesses of their filter (default: nothing to do)."""
        yield

    # -- statements ------------------------------------------------------------------------
    def insert(self, table: sa.Table) -> Any:
        """This dialect's INSERT construct (with its ON CONFLICT / ON DUPLICATE forms)."""
        return sa.insert(table)

    def insert_ignore(self, table: sa.Table, values: dict[str, Any]) -> Any:
        """INSERT ``values`` unless a row with the same key exists (then nothing)."""
        return self.insert(table).values(values).on_conflict_do_nothing()

    def lock(self, stmt: Any) -> Any:
        """``stmt`` taking row locks (FOR UPDATE) where the dialect has them."""
        return stmt.with_for_update() if self.row_locks else stmt

    def claim(self, stmt: Any) -> Any:
        """``stmt`` locking the rows it picks and skipping those another worker holds
        (FOR UPDATE SKIP LOCKED), where the dialect has row locks."""
        return stmt.with_for_update(skip_locked=True) if self.row_locks else stmt

    def json_numeric(self, value: Any) -> Any:
        """True where the JSON text ``value`` is a number."""
        return value.regexp_match(r"^-?[0-9]+(\.[0-9]+)?$")

    def json_number(self, value: Any) -> Any:
        """The JSON text ``value`` as a number, NULL where it is not one."""
        return sa.case((self.json_numeric(value), sa.cast(value, sa.Numeric)))

    def band_low(self, value: Any, width: int) -> Any:
        """The lower bound of the band of ``width`` the JSON number ``value`` falls in."""
        return sa.cast(sa.func.floor(sa.cast(value, sa.Numeric) / width), sa.Integer) * width

    def month_start(self, column: Any) -> Any:
        """The first instant of the month of the datetime ``column``."""
        return sa.func.date_trunc("month", column)

    def same_text(self, value: Any) -> Any:
        """``value`` as the database's ``=`` compares text with its default collation:
        two values equal here match each other in a WHERE (default: exactly)."""
        return value

    def one_of(self, column: Any, values: Sequence[Any]) -> Any:
        """``column`` is one of ``values``: an IN list (one parameter a value)."""
        return column.in_(values)

    # -- values troth never writes (troth.audit.unreadable: `troth audit verify`) ----------
    # Each is true for every row whose value troth's types cannot read (and may be for a
    # few that they can: the reader decides): a superset, found by the database.
    def suspect_time(self, column: Any) -> Any:
        """A time the driver cannot return (PostgreSQL's infinities, years past 9999 or
        before 1: every other value of a timestamp column is one)."""
        return _out_of_range(column, "10000-01-01 00:00:00+00", "0001-01-01 00:00:00+00")

    def suspect_day(self, column: Any) -> Any:
        """A date the driver cannot return (as :meth:`suspect_time`)."""
        return _out_of_range(column, "10000-01-01", "0001-01-01")

    def suspect_document(self, column: Any, shape: str | None) -> Any:
        """A JSON value not of ``shape`` (``"list"``, ``"dict"``; None: any parses, for
        the column type checked it when it was written)."""
        if shape is None:
            return sa.false()
        kind = "array" if shape == "list" else "object"
        return sa.func.json_typeof(column) != kind


def _out_of_range(column: Any, after: str, before: str) -> Any:
    text = sa.cast(column, sa.Text)
    return sa.or_(
        text.in_(["infinity", "-infinity"]),
        column >= sa.literal_column(f"'{after}'"),
        column < sa.literal_column(f"'{before}'"),
    )


class SQLite(Dialect):
    name = "sqlite"
    names = ("sqlite",)
    own_database = True
    in_process = True
    row_locks = False  # one writer holds the whole database (BEGIN IMMEDIATE)
    times_as_text = True
    snapshot_isolation = None  # the engine's BEGIN IMMEDIATE already gives one

    def create_engine(self, url: str, parsed: URL, *, echo: bool, pooled: bool) -> Engine:
        """WAL, foreign keys, a busy timeout, and the write lock taken at BEGIN (see
        :mod:`troth.db`: ``reading`` and ``no_wait`` change how a transaction begins)."""
        from troth import db

        engine = sa.create_engine(
            url,
            echo=echo,
            hide_parameters=True,  # no values (personal data) in error messages or logs
            connect_args={"timeout": 30, "check_same_thread": False},
            # Never make a caller wait for a pooled connection: the HTTP read checks one
            # out on the event loop, and a connection to a local file is cheap to open.
            pool_size=16,
            max_overflow=-1,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy manage transactions explicitly (BEGIN IMMEDIATE below).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # Take the write lock up front so concurrent writers queue instead of deadlocking;
            # a connection marked read-only (see `reading`) takes none and never waits.
            # Straight to the driver: this runs for every transaction, and SQLAlchemy's
            # statement machinery adds nothing to a constant BEGIN.
            driver = conn.connection.driver_connection
            options = conn.get_execution_options()
            if options.get(db.READ_ONLY) or db.joined_connection(conn.engine) is not None:
                driver.execute("BEGIN")
            elif options.get(db.NO_WAIT):
                _begin_now(driver)
            else:
                _begin_immediate(driver)

        return engine

    def readonly_engine(self, parsed: URL) -> Engine:
        """Read-only by URI (``mode=ro``) and ``PRAGMA query_only``."""
        from troth.errors import ConnectorError

        path = parsed.database or ""
        if not path or path == ":memory:":
            raise ConnectorError("discovery reads a SQLite file; an in-memory database is empty")
        uri = f"file:{quote(path)}?mode=ro"

        def connect() -> sqlite3.Connection:
            conn = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=5)
            conn.execute("PRAGMA query_only = ON")
            return conn

        return sa.create_engine("sqlite://", creator=connect, poolclass=sa.pool.NullPool)

    def begin_read_only(self, conn: Connection, ms: int) -> None:
        deadline = time.monotonic() + ms / 1000
        raw: Any = conn.connection.driver_connection
        raw.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)

    def end_read_only(self, conn: Connection) -> None:
        raw: Any = conn.connection.driver_connection
        raw.set_progress_handler(None, 0)

    def insert(self, table: sa.Table) -> Any:
        from sqlalchemy.dialects import sqlite  # on first use: keeps `troth find` light

        return sqlite.insert(table)

    def json_numeric(self, value: Any) -> Any:
        return sa.func.json_type(value).in_(["integer", "real"])

    def json_number(self, value: Any) -> Any:
        return sa.case((self.json_numeric(value), sa.cast(value, sa.Float)))

    def band_low(self, value: Any, width: int) -> Any:
        return sa.cast(sa.cast(value, sa.Float) / width, sa.Integer) * width

    def month_start(self, column: Any) -> Any:
        # SQLAlchemy keeps a datetime on SQLite as "YYYY-MM-DD HH:MM:SS.ffffff"
        return sa.func.substr(column, 1, 7) + sa.literal("-01 00:00:00.000000")

    def suspect_time(self, column: Any) -> Any:
        # SQLite keeps whatever it is given. SQLAlchemy writes "YYYY-MM-DD HH:MM:SS.ffffff"
        # (a time written by hand may lack the fraction): good is that shape, read back by
        # SQLite's calendar as the same instant (no 13th month, 31 February or hour 24),
        # from year 1 on; cheap functions only, no GLOB (a scan of every row)
        whole = sa.func.length(column) == 19
        fraction = sa.and_(
            sa.func.length(column) == 26,
            sa.func.substr(column, 20, 1) == ".",
            sa.func.substr(column, 26, 1).between("0", "9"),
        )
        # IS, not =: a NULL (no date SQLite can read) is no match, not unknown
        same = sa.func.datetime(sa.func.julianday(column)).is_(sa.func.substr(column, 1, 19))
        year = sa.func.substr(column, 1, 4) != "0000"
        return ~sa.and_(_text(column), sa.or_(whole, fraction), same, year)

    def suspect_day(self, column: Any) -> Any:
        shaped = sa.func.length(column) == 10
        same = sa.func.date(sa.func.julianday(column)).is_(column)
        return ~sa.and_(_text(column), shaped, same, sa.func.substr(column, 1, 4) != "0000")

    def suspect_document(self, column: Any, shape: str | None) -> Any:
        valid = sa.and_(_text(column), sa.func.json_valid(column) == 1)
        if shape is None:
            return ~valid
        kind = "array" if shape == "list" else "object"
        # json_type() fails on text that is not JSON: asked only of valid JSON
        return ~sa.case((valid, sa.func.json_type(column) == kind), else_=sa.false())


_SETTINGS = sa.text("SELECT current_setting(:a), current_setting(:b)")
_SET = sa.text("SELECT set_config(:a, :va, true), set_config(:b, :vb, true)")


def _text(column: Any) -> Any:
    return sa.func.typeof(column) == "text"


class PostgreSQL(Dialect):
    name = "postgresql"
    names = ("postgresql",)
    extra = "postgres"
    own_database = True
    keeps_timezone = True
    json_none_as_null = True
    data_modifying_ctes = True
    row_level_security = True
    pending_appends = True

    def create_engine(self, url: str, parsed: URL, *, echo: bool, pooled: bool) -> Engine:
        """Pre-ping; behind a pooler in transaction mode (``pooled``: PgBouncer) psycopg's
        server-side prepared statements are off (``prepare_threshold=None``), since a
        statement prepared on one server connection is unknown on the next."""
        options: dict[str, Any] = {}
        if pooled and parsed.get_driver_name() == "psycopg":
            options["connect_args"] = {"prepare_threshold": None}
        return sa.create_engine(url, echo=echo, pool_pre_ping=True, hide_parameters=True, **options)

    def begin_read_only(self, conn: Connection, ms: int) -> None:
        conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(ms)}")

    @contextmanager
    def key_order(self, conn: Connection) -> Iterator[None]:
        """One plan for the page's statements, in this transaction, set back after them
        (an error leaves it to the rollback): no sort (``enable_sort``), no parallel
        workers. A filter PostgreSQL cannot estimate (retention's cast of a JSON column)
        otherwise looks rare enough for a scan of the whole table and a sort, page after
        page (a run over n rows in pages of k reads n * n / k of them instead of n), and
        workers that hand wide rows back through shared memory cost more than they
        save."""
        settings = ("enable_sort", "max_parallel_workers_per_gather")
        was = conn.execute(_SETTINGS, {"a": settings[0], "b": settings[1]}).one()
        conn.execute(_SET, {"a": settings[0], "va": "off", "b": settings[1], "vb": "0"})
        yield
        conn.execute(_SET, {"a": settings[0], "va": was[0], "b": settings[1], "vb": was[1]})

    def insert(self, table: sa.Table) -> Any:
        from sqlalchemy.dialects import postgresql  # on first use: keeps `troth find` light

        return postgresql.insert(table)

    def one_of(self, column: Any, values: Sequence[Any]) -> Any:
        """``column = ANY(:values)``: one array parameter, however many values. A batch of
        10,000 ids as an IN list costs more to render and parse than to run."""
        from sqlalchemy.dialects import postgresql

        array = sa.bindparam(None, list(values), type_=postgresql.ARRAY(column.type))
        return column == sa.any_(array)


class MySQL(Dialect):
    """MySQL and MariaDB (SQLAlchemy names MariaDB ``mysql`` or ``mariadb`` by URL)."""

    name = "mysql"
    names = ("mysql", "mariadb")
    extra = "mysql"
    # MariaDB refuses LIMIT in an IN subquery and a subquery on the table it deletes from
    limit_in_subquery = False
    fractional_seconds = False

    def begin_read_only(self, conn: Connection, ms: int) -> None:
        if getattr(conn.dialect, "is_mariadb", False):
            conn.exec_driver_sql(f"SET SESSION max_statement_time = {ms / 1000:.3f}")
        else:
            conn.exec_driver_sql(f"SET SESSION max_execution_time = {int(ms)}")
        conn.exec_driver_sql("START TRANSACTION READ ONLY")

    def insert(self, table: sa.Table) -> Any:
        from sqlalchemy.dialects import mysql  # on first use: keeps `troth find` light

        return mysql.insert(table)

    def month_start(self, column: Any) -> Any:
        return sa.cast(sa.func.date_format(column, "%Y-%m-01"), sa.DateTime)

    def insert_ignore(self, table: sa.Table, values: dict[str, Any]) -> Any:
        return sa.insert(table).values(values).prefix_with("IGNORE")

    def same_text(self, value: Any) -> Any:
        # The default collations (*_general_ci, *_unicode_ci) ignore case and, PAD SPACE,
        # trailing spaces; accents are not folded here (see README, connected databases).
        return value.casefold().rstrip(" ") if isinstance(value, str) else value

    def suspect_time(self, column: Any) -> Any:
        # DATETIME runs from year 1000; below it only a zero date (0000-00-00) or one
        # written with invalid dates allowed, which the driver returns as text
        return column < sa.literal_column("'1000-01-01'")

    def suspect_day(self, column: Any) -> Any:
        return column < sa.literal_column("'1000-01-01'")

    def suspect_document(self, column: Any, shape: str | None) -> Any:
        # JSON is text checked by json_valid() on the way in: only its shape can be wrong
        if shape is None:
            return sa.false()
        return sa.func.json_type(column) != ("ARRAY" if shape == "list" else "OBJECT")


DIALECTS: tuple[Dialect, ...] = (SQLite(), PostgreSQL(), MySQL())
_BY_NAME: dict[str, Dialect] = {n: d for d in DIALECTS for n in d.names}


def find_dialect(of: Any) -> Dialect | None:
    """The dialect of an engine, connection, SQLAlchemy dialect or URL (string or
    parsed); None for a database troth does not know."""
    if isinstance(of, str):
        of = make_url(of)
    if isinstance(of, URL):
        return _BY_NAME.get(of.get_backend_name())
    sa_dialect = getattr(of, "dialect", of)  # an engine or connection has one
    return _BY_NAME.get(sa_dialect.name)


def dialect_for(of: Any) -> Dialect:
    """The dialect of an engine, connection, SQLAlchemy dialect or URL; a ConfigError
    for a database troth cannot use."""
    found = find_dialect(of)
    if found is None:
        from troth.errors import ConfigError

        raise ConfigError(
            "troth uses SQLite, PostgreSQL, MySQL or MariaDB; use sqlite:///PATH,"
            " postgresql+psycopg://... or mysql+pymysql://..."
        )
    return found


def keeps_timezone(sa_dialect: Any) -> bool:
    """Whether ``sa_dialect`` (SQLAlchemy's) keeps a datetime's time zone: for
    :class:`troth.db.UtcDateTime`, on every bound datetime, so a plain lookup."""
    found = _BY_NAME.get(sa_dialect.name)
    return found is not None and found.keeps_timezone


def none_as_null(sa_dialect: Any) -> bool:
    """Whether a Python None bound to a JSON column of ``sa_dialect`` must be told to be
    SQL NULL (PostgreSQL would store the JSON 'null'; SQLite and MariaDB keep NULL):
    for :class:`troth.stored.Document`."""
    found = _BY_NAME.get(sa_dialect.name)
    return found is not None and found.json_none_as_null


def reported_name(of: Any) -> str:
    """The name SQLAlchemy gives the database of ``of`` (an engine or connection), for
    messages only: never branch on it, ask :func:`dialect_for` what the database can do."""
    return str(getattr(of, "dialect", of).name)
