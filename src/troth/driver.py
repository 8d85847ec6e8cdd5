"""The hottest statements, run on the driver's cursor: :class:`Prepared` (a Core
statement compiled once per dialect: the read behind every use, the audit log's appends)
and :func:`insert_many` (one driver-level executemany: bulk records, people, data keys,
audit entries). Values go through each column type's own bind and result processors for
the dialect, the chain SQLAlchemy applies, so they read and write the same as through
``Connection.execute``."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Dialect


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
