"""Run a request over one connected dataset: locate, export, correct, erase.

Each operation is one transaction on the dataset's database. Writes are set-based: one
DELETE or UPDATE per table and batch of keys, children before parents. Erasure is
idempotent: values already erased are recognised and left alone, so a rerun changes nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from dateutil.relativedelta import relativedelta
from sqlalchemy import Connection, Engine

from troth.clock import Clock
from troth.connectors.attribution import export_rows, locate_many
from troth.connectors.declaration import Dataset, Erasure, Keep
from troth.connectors.report import (
    DatasetExport,
    KeptRows,
    Report,
    TableReport,
)
from troth.connectors.walk import (
    Holder,
    Identities,
    Key,
    Plan,
    Rows,
    TablePlan,
    batches,
    holders,
    key_filter,
    locate,
    plan_dataset,
    predicate_values,
)
from troth.connectors.writes import Write, Writer, key_values
from troth.errors import ConnectorError, ValidationError
from troth.keys import Keyring

HASH_PREFIX = "h:"
Hook = Callable[[str], None]


@dataclass(frozen=True)
class _Hold:
    """Why a row survives erasure, for the report."""

    reason: str
    keep_for: str
    purpose: str | None


class DatasetRunner:
    """Executes requests against one dataset's database (``engine``).

    ``hook`` (tests, tracing) is called with ``"statement"`` after each write statement.
    """

    def __init__(
        self,
        dataset: Dataset,
        engine: Engine,
        *,
        keys: Keyring,
        clock: Clock,
        hook: Hook | None = None,
    ) -> None:
        self.dataset = dataset
        self.engine = engine
        self.keys = keys
        self.clock = clock
        self.hook = hook
        self.plan: Plan = plan_dataset(dataset)
        self._tables: dict[str, sa.Table] | None = None
        self._restrict = False  # a foreign key that forbids batching writes in one statement
        self._writer = Writer(self.plan)

    # -- operations --------------------------------------------------------------------
    def locate(self, identities: Identities | Mapping[str, Any]) -> dict[str, int]:
        """How many rows of each table belong to the person."""
        ids = Identities.of(identities)
        with self._connection(write=False) as conn:
            rows = locate(conn, self.plan, self._reflect(conn), ids, {})
        return {t: len(r) for t, r in rows.items() if r}

    def export(self, identities: Identities | Mapping[str, Any]) -> DatasetExport:
        """Every declared column of every row that belongs to the person, with categories
        (rows in primary-key order)."""
        ids = Identities.of(identities)
        with self._connection(write=False) as conn:
            cols = {t: tp.export_columns() for t, tp in self.plan.tables.items()}
            rows = locate(conn, self.plan, self._reflect(conn), ids, cols)
        return export_rows(self.plan, self.dataset.location, rows)

    def export_many(self, people: Mapping[str, Identities]) -> dict[str, DatasetExport]:
        """:meth:`export` for each person (by the caller's key), read with one walk."""
        with self._connection(write=False) as conn:
            cols = {t: tp.export_columns() for t, tp in self.plan.tables.items()}
            found = locate_many(conn, self.plan, self._reflect(conn), people, cols)
        return {p: export_rows(self.plan, self.dataset.location, r) for p, r in found.items()}

    def holders(self, categories: set[str]) -> list[Holder]:
        """Everyone this dataset holds data of ``categories`` about, as their identities."""
        with self._connection(write=False) as conn:
            return holders(conn, self.plan, self._reflect(conn), categories)

    def correct(
        self, identities: Identities | Mapping[str, Any], changes: Mapping[str, Any]
    ) -> Report:
        """Write ``changes`` (field -> new value) into every mapped column of the person's rows."""
        ids = Identities.of(identities)
        fields = self.field_map()
        unknown = set(changes) - {f for per in fields.values() for f in per.values()}
        if unknown:
            raise ValidationError(
                f"dataset {self.dataset.name}: no column holds {sorted(unknown)[0]!r}; map one"
                " with `field:` in the declaration"
            )
        report = Report(self.dataset.name, "correct", self.dataset.location)
        with self._connection(write=True) as conn:
            tables = self._reflect(conn)
            want = {t: list(per) for t, per in fields.items()}
            rows = locate(conn, self.plan, tables, ids, want, for_update=True)
            for name in self.plan.order:
                tr = report.table(name)
                tr.found = len(rows[name])
                mapped = {c: changes[f] for c, f in fields.get(name, {}).items() if f in changes}
                stale = [
                    k for k, r in rows[name].items() if any(r[c] != v for c, v in mapped.items())
                ]
                for chunk in batches(stale):
                    stmt = (
                        tables[name]
                        .update()
                        .where(key_filter(tables[name], self.plan.tables[name].primary_key, chunk))
                    )
                    conn.execute(stmt.values(mapped))
                    self._fire("statement")
                tr.corrected = len(stale)
        return report

    def erase(
        self,
        identities: Identities | Mapping[str, Any],
        *,
        before_commit: Callable[[Report], None] | None = None,
    ) -> Report:
        """Erase the person's data by the declared strategies, in one transaction; kept rows
        and columns are reported with their legal reason and until-date. ``before_commit``
        sees the report while the transaction is still open (the job store records it)."""
        ids = Identities.of(identities)
        report = Report(self.dataset.name, "erase", self.dataset.location)
        with self._connection(write=True) as conn:
            tables = self._reflect(conn)
            want = {t: self._erase_columns(tp) for t, tp in self.plan.tables.items()}
            leaves = [t for t in self.plan.order if self.plan.tables[t].leaf_delete]
            rows = locate(conn, self.plan, tables, ids, want, for_update=True, skip=leaves)
            writes: list[Write] = []
            for name in reversed(leaves):  # deleted by predicate, without reading them first
                tr = report.table(name)
                for preds in predicate_values(self.plan, tables[name], ids, rows):
                    shape = ("delete_where", name, tuple(c for c, _ in preds))
                    params = {f"c{j}": vals for j, (_, vals) in enumerate(preds)}
                    writes.append(Write(shape, params, tr))
            self._erase_located(tables, rows, report, writes, skip=set(leaves))
            self._execute(conn, writes)
            if before_commit is not None:
                before_commit(report)
        self._fire("committed")
        return report

    # -- erasure -----------------------------------------------------------------------
    def _erase_columns(self, tp: TablePlan) -> set[str]:
        cols = set(tp.column_erase)
        for keep in [tp.keep, *(c.keep for c in tp.columns.values())]:
            if keep and keep.from_column:
                cols.add(keep.from_column)
        return cols

    def _erase_located(
        self,
        tables: dict[str, sa.Table],
        rows: Rows,
        report: Report,
        writes: list[Write],
        skip: set[str],
    ) -> None:
        """Decide each located row's fate and queue the statements that carry it out."""
        today = self.clock.now().date()
        # Link values that surviving child rows still hold: those parent rows must stay.
        held: dict[tuple[str, str], dict[Any, tuple[str, _Hold, date | None]]] = {}
        deletes: dict[str, list[Key]] = {}
        updates: dict[str, dict[Key, frozenset[str]]] = {}
        order = [t for t in reversed(self.plan.order) if t not in skip]
        for name in order:
            tp = self.plan.tables[name]
            tr = report.table(name)
            tr.found = len(rows[name])
            kept: dict[tuple[_Hold, tuple[str, ...] | None], list[date | None]] = {}
            deletes[name] = []
            updates[name] = {}
            for key, row in rows[name].items():
                hold, until, delete = self._row_fate(tp, row, held, today)
                if hold is not None:
                    kept.setdefault((hold, None), []).append(until)
                if delete:
                    deletes[name].append(key)
                    continue
                changes: set[str] = set()
                if hold is None or tp.row_erase is not Erasure.keep:
                    changes = self._column_changes(tp, row, today, kept)
                if changes:
                    updates[name][key] = frozenset(changes)
                why = hold or _Hold(f"rows of {name} stay", "", None)
                for link in tp.incoming:
                    value = row[link.child_column]
                    if value is not None and link.child_column not in changes:
                        target = held.setdefault((link.parent, link.parent_column), {})
                        target[value] = (name, why, until)
            for (hold, cols), untils in kept.items():
                dates = [d for d in untils if d is not None]
                tr.kept_because.append(
                    KeptRows(
                        rows=len(untils),
                        reason=hold.reason,
                        keep_for=hold.keep_for,
                        purpose=hold.purpose,
                        columns=list(cols) if cols else None,
                        until=max(dates).isoformat() if dates else None,
                    )
                )
                if cols is None:
                    tr.kept += len(untils)
        for name in order:  # children first, for foreign keys
            self._apply(
                writes,
                tables[name],
                self.plan.tables[name],
                rows[name],
                deletes[name],
                updates[name],
                report.table(name),
            )

    def _row_fate(
        self,
        tp: TablePlan,
        row: dict[str, Any],
        held: dict[tuple[str, str], dict[Any, tuple[str, _Hold, date | None]]],
        today: date,
    ) -> tuple[_Hold | None, date | None, bool]:
        """(why the row stays or None, until when, whether it is deleted)."""
        if tp.row_erase is Erasure.keep and tp.keep is not None:
            until = _until(tp.keep, row)
            if until is None or until > today:
                return _hold(tp.keep), until, False
            if tp.keep.then is not Erasure.delete_row:
                return None, None, False
        elif tp.row_erase is not Erasure.delete_row:
            return None, None, False
        for link in tp.outgoing:
            ref = held.get((tp.name, link.parent_column), {}).get(row[link.parent_column])
            if ref is not None:
                child, why, until = ref
                reason = f"referenced by rows of {child} that are kept ({why.reason})"
                return _Hold(reason, why.keep_for, why.purpose), until, False
        return None, None, True

    def _column_changes(
        self,
        tp: TablePlan,
        row: dict[str, Any],
        today: date,
        kept: dict[tuple[_Hold, tuple[str, ...] | None], list[date | None]],
    ) -> set[str]:
        """Columns of a surviving row that still hold a value to erase."""
        out: set[str] = set()
        for col, how in tp.column_erase.items():
            value = row[col]
            if how is Erasure.keep:
                keep = tp.columns[col].keep
                assert keep is not None
                until = _until(keep, row)
                if until is None or until > today:
                    kept.setdefault((_hold(keep), (col,)), []).append(until)
                    continue
            how = _effective(tp, col)
            if value is None:
                continue
            if how is Erasure.mask and value == tp.columns[col].mask:
                continue
            if how is Erasure.hash and str(value).startswith(HASH_PREFIX):
                continue
            out.add(col)
        return out

    def _apply(
        self,
        writes: list[Write],
        table: sa.Table,
        tp: TablePlan,
        rows: dict[Key, dict[str, Any]],
        deletes: list[Key],
        updates: dict[Key, frozenset[str]],
        tr: TableReport,
    ) -> None:
        name = table.name
        single = len(tp.primary_key) == 1
        for chunk in batches(deletes):
            writes.append(Write(("delete_keys", name), {"k": key_values(chunk, single)}))
        tr.deleted = len(deletes)
        # One UPDATE per batch: a column only some rows need is set through a CASE on the key.
        for chunk in batches(list(updates)):
            spec: list[tuple[str, str, int]] = []
            params: dict[str, Any] = {"k": key_values(chunk, single)}
            for j, col in enumerate(sorted(set().union(*(updates[k] for k in chunk)))):
                need = [k for k in chunk if col in updates[k]]
                how = _effective(tp, col)
                whole = len(need) == len(chunk)
                if how is not Erasure.hash:
                    params[f"v{j}"] = None if how is Erasure.set_null else tp.columns[col].mask
                    if whole:
                        spec.append((col, "set", 0))
                    else:
                        spec.append((col, "case", 0))
                        params[f"n{j}"] = key_values(need, single)
                    continue
                digests = self._digests(table, col, need, rows)
                if whole and len(set(digests.values())) == 1:
                    spec.append((col, "set", 0))
                    params[f"v{j}"] = next(iter(digests.values()))
                    continue
                # The CASE has a power of two of branches (unused ones match no key: a NULL
                # key), so a handful of shapes serve every batch.
                n = 1 << (len(digests) - 1).bit_length()
                spec.append((col, "hash", n))
                pairs = list(digests.items())
                for m in range(n):
                    k, d = pairs[m] if m < len(pairs) else ((None,) * len(tp.primary_key), None)
                    params[f"d{j}_{m}"] = d
                    for q, part in enumerate(k):
                        params[f"a{j}_{m}_{q}"] = part
            writes.append(Write(("update", name, tuple(spec)), params))
        for cols in updates.values():
            hows = {_effective(tp, c) for c in cols}
            tr.nulled += int(Erasure.set_null in hows)
            tr.masked += int(Erasure.mask in hows)
            tr.hashed += int(Erasure.hash in hows)

    def _digests(
        self, table: sa.Table, col: str, keys: list[Key], rows: dict[Key, dict[str, Any]]
    ) -> dict[Key, str]:
        """hash: the keyed HMAC of each old value, computed here, cut to the column."""
        length = getattr(table.c[col].type, "length", None)
        label = f"connector:{self.dataset.name}"
        out: dict[Key, str] = {}
        for k in keys:
            digest = HASH_PREFIX + self.keys.mac(label, str(rows[k][col]).encode()).hex()
            out[k] = digest[:length] if length else digest
        return out

    def _execute(self, conn: Connection, writes: list[Write]) -> None:
        """Run the queued writes in order (:meth:`Writer.execute`), on the tables
        :meth:`_reflect` found."""
        if not writes:
            return
        assert self._tables is not None
        after = functools.partial(self._fire, "statement")
        self._writer.execute(conn, self._tables, writes, restrict=self._restrict, after=after)

    # -- plumbing ----------------------------------------------------------------------
    def field_map(self) -> dict[str, dict[str, str]]:
        """table -> column -> the person's field it holds (identity columns by kind)."""
        out: dict[str, dict[str, str]] = {}
        for name, tp in self.plan.tables.items():
            per = {col: kind.value for kind, col in tp.identity.items()}
            per.update({c: spec.field for c, spec in tp.columns.items() if spec.field})
            if per:
                out[name] = per
        return out

    def _fire(self, event: str) -> None:
        if self.hook is not None:
            self.hook(event)

    def _reflect(self, conn: Connection) -> dict[str, sa.Table]:
        """The declared tables as reflected from the database (types for binding values)."""
        if self._tables is None:
            md = sa.MetaData()
            tables: dict[str, sa.Table] = {}
            for name in self.plan.tables:
                try:
                    tables[name] = sa.Table(name, md, autoload_with=conn, resolve_fks=False)
                except sa.exc.NoSuchTableError:
                    raise ConnectorError(
                        f"dataset {self.dataset.name}: table {name!r} does not exist in the"
                        " database; run `troth datasets check` and fix the declaration"
                    ) from None
                missing = self.dataset.declared_columns(name) - set(tables[name].c.keys())
                if missing:
                    raise ConnectorError(
                        f"dataset {self.dataset.name}: column {name}.{sorted(missing)[0]} does"
                        " not exist; run `troth datasets check` and fix the declaration"
                    )
            self._tables = tables
            self._restrict = any(
                (fk.ondelete or "").upper() == "RESTRICT"
                for t in tables.values()
                for fk in t.foreign_keys
            )
        return self._tables

    @contextmanager
    def _connection(self, *, write: bool) -> Iterator[Connection]:
        """One transaction on the dataset; driver errors become ConnectorError (rolled back)."""
        try:
            with self.engine.begin() if write else self.engine.connect() as conn:
                yield conn
        except sa.exc.DBAPIError as exc:
            first = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            down = isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError)
            what = "cannot be reached or went away" if down else "refused a statement"
            raise ConnectorError(
                f"dataset {self.dataset.name}: the database {what} ({first}); nothing was"
                " committed there, the request can be resumed once it is fixed",
                dataset=self.dataset.name,
            ) from exc


def _until(keep: Keep | None, row: dict[str, Any]) -> date | None:
    """The date the keep period of this row ends (None when no start column is declared)."""
    if keep is None or keep.from_column is None:
        return None
    start = row.get(keep.from_column)
    if start is None:
        return None
    if isinstance(start, datetime):
        start = start.date()
    if not isinstance(start, date):
        start = date.fromisoformat(str(start)[:10])
    d = keep.keep_for
    return start + _period(d.years, d.months, d.days)


@functools.lru_cache(maxsize=256)
def _period(years: int, months: int, days: int) -> relativedelta:
    """A keep period, made once (building a relativedelta costs more than adding it)."""
    return relativedelta(years=years, months=months, days=days)


def _hold(keep: Keep) -> _Hold:
    return _Hold(keep.reason, str(keep.keep_for), keep.purpose)


def _effective(tp: TablePlan, col: str) -> Erasure:
    """The strategy that erases a column now (a column past its keep period: its ``then``)."""
    how = tp.column_erase[col]
    if how is Erasure.keep:
        keep = tp.columns[col].keep
        assert keep is not None
        return keep.then if keep.then is not Erasure.delete_row else Erasure.set_null
    return how
