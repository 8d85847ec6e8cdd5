"""Values troth never writes, in any of its tables: named by ``troth audit verify``, and
the refusal of a read that met one audited once per process.

:mod:`troth.stored`'s types read every time, date, JSON document and state back. A value
they cannot read (an empty or garbled time, a number in a date, text that is not JSON, a
list where a document belongs, a state no troth knows) was written outside troth:

- **verify** (:func:`with_values`) checks every such column of every table, and names each
  row (``legal_demands:ID (gag_until)``, ``bad_values``). The database finds the few
  suspects (``Dialect.suspect_time`` and its kin: a superset, one scan per column), then
  the column's own type reads each, so a row is named exactly when a read of it fails.
  The audit log's own tables are left to the log's verification, which checks every byte
  of their entries.
- **a read** that meets one is refused (:class:`~troth.errors.TamperedValue`,
  ``record_tampered``, 409). Each edge (HTTP and pages, CLI, worker) hands the refusal to
  :func:`audit_refusal`, which finds the rows of that column and audits them, once per
  process for the same rows (``stored_value``, reason ``record_tampered``, the table,
  column and rows, never the value).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, Connection, Engine, Table, and_, case, or_, select

from troth.db import metadata, reading
from troth.dialects import dialect_for
from troth.stored import Choice, Day, Document, UtcDateTime, is_unreadable, tolerating

if TYPE_CHECKING:
    from troth.audit.verify import VerifyReport
    from troth.context import Context
    from troth.errors import TamperedValue
    from troth.gate import Actor

ACTION = "stored_value"
# At most this many rows are named per finding (the count says how many there are).
NAMED = 20
# The log's own tables: verify checks every byte of their entries (hashes, MACs, seal).
_LOGGED = frozenset({"audit_entries", "audit_pending", "audit_state"})


@dataclass(frozen=True, order=True)
class Found:
    """One stored value troth cannot read: its table, its row's key and its column."""

    table: str
    row: str  # the primary key; "a/b" for one of several columns
    column: str

    def __str__(self) -> str:
        return f"{self.table}:{self.row} ({self.column})"


def checked_columns(table: Table) -> list[Column[Any]]:
    """The columns of ``table`` read through a type that fails closed."""
    types = (UtcDateTime, Day, Document, Choice)
    return [c for c in table.columns if isinstance(c.type, types)]


def find_in(conn: Connection, column: Column[Any], limit: int | None = None) -> list[Found]:
    """The rows of ``column``'s table whose value in it troth cannot read (at most
    ``limit``), in key order."""
    return _find(conn, _table(column), [column], limit)


def find_all(conn: Connection, tables: Iterable[Table] | None = None) -> Iterator[Found]:
    """Every value troth cannot read in ``tables`` (default: all of troth's but the log's),
    one scan a table."""
    for table in tables if tables is not None else metadata.sorted_tables:
        columns = checked_columns(table)
        if table.name not in _LOGGED and columns:
            yield from _find(conn, table, columns, None)


def _find(
    conn: Connection, table: Table, columns: list[Column[Any]], limit: int | None
) -> list[Found]:
    """The values of ``columns`` (of ``table``) troth cannot read: the rows the database
    finds suspect in any of them, each suspect value then read by its own type."""
    keys = list(table.primary_key.columns)
    dialect = dialect_for(conn)
    suspects = [and_(c.is_not(None), _suspect(dialect, c)) for c in columns]
    # What is read of each column: its value, checked by its type; or, for a time or date
    # the driver cannot return at all (PostgreSQL's infinities), whether it is suspect.
    shown = [
        case((s, True), else_=False) if _unreturnable(dialect, c) else c
        for c, s in zip(columns, suspects, strict=True)
    ]
    stmt = select(*keys, *shown).where(or_(*suspects)).order_by(*keys)
    found: list[Found] = []
    with tolerating():
        for row in conn.execute(stmt):
            key = "/".join(str(v) for v in row[: len(keys)])
            for c, value in zip(columns, row[len(keys) :], strict=True):
                if bool(value) if _unreturnable(dialect, c) else is_unreadable(value):
                    found.append(Found(table.name, key, c.name))
            if limit is not None and len(found) >= limit:
                return found[:limit]
    return found


def _table(column: Column[Any]) -> Table:
    table = column.table
    assert isinstance(table, Table)
    return table


def _suspect(dialect: Any, column: Column[Any]) -> Any:
    t = column.type
    if isinstance(t, Choice):
        return ~column.in_(sorted(t.allowed))
    if isinstance(t, Document):
        return dialect.suspect_document(column, t.shape)
    if isinstance(t, Day):
        return dialect.suspect_day(column)
    return dialect.suspect_time(column)


def _unreturnable(dialect: Any, column: Column[Any]) -> bool:
    return isinstance(column.type, UtcDateTime | Day) and not dialect.times_as_text


def with_values(ctx: Context, report: VerifyReport) -> VerifyReport:
    """``report`` with every value troth cannot read named (``bad_values``): any fails it."""
    with reading(ctx.engine) as conn:
        found = list(find_all(conn))
    if not found:
        return report
    report.bad_values = [str(f) for f in found[:NAMED]]
    shown = ", ".join(report.bad_values) + (" ..." if len(found) > NAMED else "")
    problem = (
        f"{len(found)} stored value(s) troth never writes ({shown}): those rows were changed"
        " outside troth (an empty or garbled time, a number in a date, text that is not"
        " JSON, a state no troth knows); what reads them is refused (record_tampered)"
        " until they are restored from a backup"
    )
    report.ok = False
    report.problem = "; ".join(p for p in (report.problem, problem) if p)
    return report


_AUDITED: weakref.WeakKeyDictionary[Engine, set[tuple[Found, ...]]] = weakref.WeakKeyDictionary()
_SCANNED: weakref.WeakKeyDictionary[Engine, dict[str, tuple[float, tuple[Found, ...]]]] = (
    weakref.WeakKeyDictionary()
)
_LOCK = threading.Lock()
RESCAN_SECONDS = 60.0
log = logging.getLogger("troth.audit")


def audit_refusal(
    ctx: Context, exc: TamperedValue, during: str, actor: Actor | str | None = None
) -> None:
    """Audit the refusal ``exc`` of what ``during`` names (a route, a command, a job): the
    rows of its column that troth cannot read, once per process for the same rows. Call
    it after the refused read's connection is closed. It never raises: the refusal is
    what the caller reports (an audit that cannot be written is logged, and tried again
    at the next refusal)."""
    from troth.audit.log import append_entries, transaction
    from troth.audit.refusals import denial
    from troth.gate import SYSTEM, Reason

    rows = _rows_of(ctx, exc)
    key = rows or (Found(str(exc.details.get("table")), "?", str(exc.details.get("column"))),)
    with _LOCK:
        audited = _AUDITED.setdefault(ctx.engine, set())
        if key in audited:
            return
        audited.add(key)
    entry = denial(
        ACTION,
        actor or SYSTEM,
        Reason.record_tampered,
        details={
            "table": exc.details.get("table"),
            "column": exc.details.get("column"),
            "rows": [f.row for f in rows],
            "during": during[:200],
        },
    )
    try:
        with transaction(ctx) as conn:
            append_entries(conn, ctx.clock.now(), [entry])
    except Exception:  # the refusal stands; the next one tries to audit it again
        audited.discard(key)
        log.exception("could not audit a refusal of %s", during[:200])


def _rows_of(ctx: Context, exc: TamperedValue) -> tuple[Found, ...]:
    """The rows of ``exc``'s column troth cannot read (the first :data:`NAMED`), scanned
    at most once a minute per column and process: every refused read of a hot row would
    otherwise scan its table again."""
    column = _column_of(exc)
    if column is None:
        return ()
    now = time.monotonic()
    scans = _SCANNED.setdefault(ctx.engine, {})
    seen = scans.get(str(column))
    if seen is not None and now - seen[0] < RESCAN_SECONDS:
        return seen[1]
    try:
        with reading(ctx.engine) as conn:
            rows = tuple(find_in(conn, column, NAMED))
    except Exception:  # the refusal is audited without its rows
        log.exception("could not look for the rows of %s", column)
        return ()
    scans[str(column)] = (now, rows)
    return rows


@contextmanager
def auditing_refusals(ctx: Context, during: str) -> Iterator[None]:
    """Around an edge's work (a command, a job): a :class:`~troth.errors.TamperedValue`
    raised in it is audited (:func:`audit_refusal`), then raised on."""
    from troth.errors import TamperedValue

    try:
        yield
    except TamperedValue as exc:
        audit_refusal(ctx, exc, during)
        raise


def _column_of(exc: TamperedValue) -> Column[Any] | None:
    table = metadata.tables.get(str(exc.details.get("table")))
    if table is None:
        return None
    column = table.c.get(str(exc.details.get("column")))
    return column if column is not None and column in checked_columns(table) else None
