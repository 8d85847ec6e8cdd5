"""Time-based retention over a connected dataset: the tables' ``retention:`` rules.

A row of a table with a rule expires when its ``from`` column is older than
``now - keep_for``. Expired rows are deleted (``then: delete_row``) unless a legal keep
(``erase: keep`` or a column's ``keep:``) has not ended, or child rows that stay still
reference them: then they are anonymised by the columns' erasure strategies, as erasure
does for parents of kept rows. Tables without a rule whose rows are deleted on erasure
follow their parent: the rows of an expiring parent go with it (order items, payments).

Every statement is set-based and batched, children before parents, one transaction per
batch: ``DELETE ... WHERE pk IN (SELECT pk ... LIMIT n)`` (on MariaDB through a derived
table, which it requires for LIMIT in a subquery). Anonymisation reads each batch of keys
and values, because the keyed hash is computed in troth (the key never goes to the
database), and writes them with the erasure code's UPDATE statements. A rerun finds nothing
left to do; a dry run is one COUNT per table and matches what the run then does.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from dateutil.relativedelta import relativedelta
from sqlalchemy import Connection
from sqlalchemy.sql import ColumnElement, FromClause

from troth.connectors.connector import Connector
from troth.connectors.declaration import Erasure, ExpiryAction, Keep, Link
from troth.connectors.report import TableReport
from troth.connectors.runner import HASH_PREFIX, DatasetRunner, _effective
from troth.connectors.walk import Identities, Rows, locate
from troth.dialects import Dialect, dialect_for
from troth.errors import ConnectorError, ValidationError
from troth.policy.durations import Duration

Key = tuple[Any, ...]


@dataclass
class TableSweep:
    """One table's part of a sweep. A dry run fills ``would_*``; a run ``deleted`` and
    ``anonymised``. ``kept``: expired rows that stay under a legal keep (or ``then: keep``);
    ``held``: expired rows of people under a legal hold, kept whole until it ends."""

    rule: str  # "2y from created_at, then delete_row" or "follows orders"
    purpose: str | None = None
    would_delete: int = 0
    would_anonymise: int = 0
    deleted: int = 0
    anonymised: int = 0
    kept: int = 0
    held: int = 0


@dataclass
class SweepReport:
    """What a sweep of one dataset did (or, dry, would do), per table; ``error`` when the
    dataset could not be swept (its database down, a table missing)."""

    dataset: str
    dry_run: bool
    at: datetime
    location: str | None = None
    tables: dict[str, TableSweep] = field(default_factory=dict)
    batches: int = 0
    error: str | None = None

    @property
    def total(self) -> int:
        """Rows that went or were anonymised (dry: would be)."""
        t = self.tables.values()
        if self.dry_run:
            return sum(x.would_delete + x.would_anonymise for x in t)
        return sum(x.deleted + x.anonymised for x in t)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "dry_run": self.dry_run,
            "at": self.at.isoformat(),
            "location": self.location,
            "total": self.total,
            "batches": self.batches,
            "error": self.error,
            "tables": {name: asdict(t) for name, t in self.tables.items()},
        }


def sweep_dataset(
    runner: DatasetRunner,
    now: datetime,
    *,
    dry_run: bool = False,
    batch: int = 5000,
    held: Identities | None = None,
) -> SweepReport:
    """Apply the dataset's retention rules at ``now`` (dry: count only, change nothing).
    ``held``: the identities of the people under a legal hold: their rows (found as an
    erasure finds them) stay whatever their age, counted ``held``. Raises ConnectorError
    when the database cannot be reached or lacks a declared table."""
    if batch < 1:
        raise ValidationError("batch must be at least 1")
    ds = runner.dataset
    report = SweepReport(ds.name, dry_run, now, ds.location)
    with runner._connection(write=False) as conn:
        tables = runner._reflect(conn)
        keys = held_rows(conn, runner, tables, held) if held else {}
        rules = _Rules(runner, tables, now, dialect_for(conn), keys)
        order = [t for t in reversed(runner.plan.order) if t in rules.swept]
        for name in order:
            report.tables[name] = TableSweep(rules.describe(name), rules.purpose(name))
            report.tables[name].held = int(conn.execute(rules.count_held(name)).scalar() or 0)
        if dry_run:
            for name in order:
                _count(conn, rules, name, report.tables[name])
            return report
    for name in order:  # children first, so their parents are free to go
        tr = report.tables[name]
        report.batches += _delete(runner, rules, name, batch, tr)
        report.batches += _anonymise(runner, rules, name, batch, tr)
        with runner._connection(write=False) as conn:
            tr.kept = int(conn.execute(rules.count_kept(name)).scalar() or 0)
    return report


def held_rows(
    conn: Connection, runner: DatasetRunner, tables: dict[str, sa.Table], held: Identities
) -> Rows:
    """The rows of the people ``held`` identifies, per table, as an erasure walks to them:
    from their identities, then from the identity values their own rows hold (the phone
    on their customer row reaches the calls known by the number only)."""
    plan = runner.plan
    cols = {name: list(tp.identity.values()) for name, tp in plan.tables.items()}
    found = locate(conn, plan, tables, held, cols)
    more: dict[str, list[str]] = {k: list(v) for k, v in held.to_dict().items()}
    for name, rows in found.items():
        for kind, col in plan.tables[name].identity.items():
            for row in rows.values():
                value = row.get(col)
                if value not in (None, "") and str(value) not in more[kind.value]:
                    more[kind.value].append(str(value))
    wider = Identities.of(more)
    return found if wider == held else locate(conn, plan, tables, wider, {})


def sweep_datasets(
    connector: Connector,
    now: datetime,
    *,
    dry_run: bool = False,
    batch: int = 5000,
    held: Identities | None = None,
) -> list[SweepReport]:
    """Sweep every dataset of ``connector`` (``held``: see :func:`sweep_dataset`); one that
    fails is reported with its error and does not stop the others."""
    out = []
    for name, ds in connector.datasets.items():
        if not any(t.retention for t in ds.tables.values()):
            continue
        try:
            runner = connector.runner(name)
            out.append(sweep_dataset(runner, now, dry_run=dry_run, batch=batch, held=held))
        except ConnectorError as exc:
            out.append(SweepReport(name, dry_run, now, ds.location, error=exc.message))
    return out


# -- statements ----------------------------------------------------------------------------
def _count(conn: Connection, rules: _Rules, name: str, tr: TableSweep) -> None:
    t = rules.tables[name]

    def n(cond: ColumnElement[bool]) -> Any:
        return sa.func.coalesce(sa.func.sum(sa.case((cond, 1), else_=0)), 0)

    stmt = sa.select(n(rules.goes(name, t)), n(rules.anon(name, t)), n(rules.kept(name, t)))
    row = conn.execute(stmt.select_from(t).where(rules.expired(name, t))).one()
    tr.would_delete, tr.would_anonymise, tr.kept = (int(v) for v in row)


def _delete(runner: DatasetRunner, rules: _Rules, name: str, batch: int, tr: TableSweep) -> int:
    table = rules.tables[name]
    pk = runner.plan.tables[name].primary_key
    a = rules.alias(name)
    inner: sa.Select[Any] = sa.select(*(a.c[c] for c in pk)).where(rules.goes(name, a))
    inner = inner.limit(batch)
    if not rules.dialect.limit_in_subquery:
        # MariaDB refuses LIMIT in an IN subquery and a subquery on the table it deletes
        # from; a derived table is materialised first, which it accepts.
        d = inner.subquery("d")
        inner = sa.select(*(d.c[c] for c in pk))
    target = table.c[pk[0]] if len(pk) == 1 else sa.tuple_(*(table.c[c] for c in pk))
    stmt = table.delete().where(target.in_(inner))
    done = 0
    while True:
        with runner._connection(write=True) as conn:
            n = conn.execute(stmt).rowcount
        if n <= 0:
            return done
        tr.deleted += n
        done += 1
        if n < batch:
            return done


def _anonymise(runner: DatasetRunner, rules: _Rules, name: str, batch: int, tr: TableSweep) -> int:
    table = rules.tables[name]
    tp = runner.plan.tables[name]
    if not tp.column_erase:
        return 0
    cols = sorted(set(tp.primary_key) | runner._erase_columns(tp))
    stmt = sa.select(*(table.c[c] for c in cols)).where(rules.anon(name, table)).limit(batch)
    stmt = rules.dialect.lock(stmt)
    done = 0
    while True:
        with runner._connection(write=True) as conn:
            rows: dict[Key, dict[str, Any]] = {}
            for r in conn.execute(stmt).mappings():
                rows[tuple(r[c] for c in tp.primary_key)] = dict(r)
            updates = {}
            for key, row in rows.items():
                changes = runner._column_changes(tp, row, rules.today, {})
                if changes:
                    updates[key] = frozenset(changes)
            if not updates:
                return done  # nothing selectable still needs a change: done (never loops)
            writes: list[Any] = []  # the erasure code's UPDATE statements, reused as they are
            runner._apply(writes, table, tp, rows, [], updates, TableReport())
            runner._execute(conn, writes)
        tr.anonymised += len(updates)
        done += 1
        if len(rows) < batch:
            return done


# -- conditions ----------------------------------------------------------------------------
class _Rules:
    """The SQL conditions of one sweep at one instant: which rows expire, which go, which
    are anonymised, which are kept. Conditions on a table take the FROM item (the table or
    an alias) they test; subqueries use fresh aliases."""

    def __init__(
        self,
        runner: DatasetRunner,
        tables: dict[str, sa.Table],
        now: datetime,
        dialect: Dialect,
        held: Rows | None = None,
    ) -> None:
        self.runner = runner
        # Primary keys of the rows a legal hold keeps, per table (few: holds are rare).
        self.held = {name: list(rows) for name, rows in (held or {}).items() if rows}
        self.plan = runner.plan
        self.ds = runner.dataset
        self.tables = tables
        self.now = now
        self.today = now.date()
        self.dialect = dialect
        self._n = 0
        # swept: tables with a rule, and tables following a parent whose rows are deleted.
        self.swept: dict[str, list[Link]] = {}
        for name in self.plan.order:
            spec = self.ds.tables[name]
            if spec.retention is not None:
                self.swept[name] = []
                continue
            tp = self.plan.tables[name]
            if tp.row_erase is not Erasure.delete_row:
                continue
            parents = [lk for lk in tp.incoming if self._deletes(lk.parent)]
            if parents:
                self.swept[name] = parents

    def _deletes(self, name: str) -> bool:
        rule = self.ds.tables[name].retention
        if rule is not None:
            return rule.then is ExpiryAction.delete_row
        return bool(self.swept.get(name))

    def describe(self, name: str) -> str:
        rule = self.ds.tables[name].retention
        if rule is None:
            return "follows " + ", ".join(sorted({lk.parent for lk in self.swept[name]}))
        return f"{rule.keep_for} from {rule.from_column}, then {rule.then}"

    def purpose(self, name: str) -> str | None:
        rule = self.ds.tables[name].retention
        return rule.where_purpose if rule is not None else None

    def alias(self, name: str) -> FromClause:
        self._n += 1
        return self.tables[name].alias(f"s{self._n}")

    # -- dates ------------------------------------------------------------------------
    def _before(self, col: Any, when: datetime) -> ColumnElement[bool]:
        """``col < when`` in the column's own type (date, naive or aware datetime, text)."""
        kind = col.type
        if isinstance(kind, sa.DateTime):
            if getattr(kind, "timezone", False):
                return col < when  # type: ignore[no-any-return]
            return col < when.replace(tzinfo=None)  # type: ignore[no-any-return]
        if isinstance(kind, sa.Date):
            return col < when.date()  # type: ignore[no-any-return]
        return col < when.replace(tzinfo=None).isoformat(sep=" ")  # type: ignore[no-any-return]

    def _cut(self, span: Duration) -> datetime:
        return self.now - relativedelta(years=span.years, months=span.months, days=span.days)

    def _ended(self, keep: Keep | None, t: FromClause) -> ColumnElement[bool]:
        """The keep period of the row has ended (as erasure counts it: by calendar day)."""
        if keep is None or keep.from_column is None:
            return sa.false()
        kf = keep.keep_for
        last = self.today - relativedelta(years=kf.years, months=kf.months, days=kf.days)
        start = datetime.combine(last + timedelta(days=1), time(), tzinfo=self.now.tzinfo)
        return self._before(t.c[keep.from_column], start)

    # -- rows -------------------------------------------------------------------------
    def _is_held(self, name: str, t: FromClause) -> Any:
        """The row belongs to a person under a legal hold."""
        keys = self.held.get(name)
        if not keys:
            return sa.false()
        pk = self.plan.tables[name].primary_key
        if len(pk) == 1:
            return t.c[pk[0]].in_([k[0] for k in keys])
        return sa.tuple_(*(t.c[c] for c in pk)).in_(keys)

    def expired(
        self, name: str, t: FromClause, up: tuple[str, ...] = (), *, holds: bool = True
    ) -> Any:
        """The row's period has passed (a follower: a parent row it refers to expired) and,
        with ``holds``, no legal hold keeps it (nor the parent it follows); ``up``: tables
        already on the way up, so that a cycle of links ends."""
        free = sa.not_(self._is_held(name, t)) if holds and name in self.held else sa.true()
        rule = self.ds.tables[name].retention
        if rule is not None:
            return sa.and_(self._before(t.c[rule.from_column], self._cut(rule.keep_for)), free)
        conds = []
        for lk in self.swept.get(name, []):
            if lk.parent in up:
                continue
            p = self.alias(lk.parent)
            conds.append(
                sa.exists(
                    sa.select(sa.literal(1))
                    .select_from(p)
                    .where(
                        p.c[lk.parent_column] == t.c[lk.child_column],
                        self.expired(lk.parent, p, (*up, name), holds=holds),
                    )
                )
            )
        return sa.and_(sa.or_(sa.false(), *conds), free)

    def count_held(self, name: str) -> sa.Select[Any]:
        """How many rows of ``name`` would have expired but for a legal hold."""
        t = self.tables[name]
        cond = sa.and_(self.expired(name, t, holds=False), self._is_held(name, t))
        return sa.select(sa.func.count()).select_from(t).where(cond)

    def _row_kept(self, name: str, t: FromClause) -> Any:
        tp = self.plan.tables[name]
        if tp.row_erase is Erasure.keep:
            return sa.not_(self._ended(tp.keep, t))
        return sa.false()

    def _keeps_ended(self, name: str, t: FromClause) -> Any:
        tp = self.plan.tables[name]
        conds = [self._ended(tp.keep, t)] if tp.row_erase is Erasure.keep else []
        conds += [self._ended(c.keep, t) for c in tp.columns.values() if c.erase is Erasure.keep]
        return sa.and_(sa.true(), *conds)

    def goes(self, name: str, t: FromClause, path: tuple[str, ...] = ()) -> Any:
        """The row is deleted: expired, every keep over, no child that stays refers to it."""
        if not self._deletes(name) or name in path:
            return sa.false()
        here = (*path, name)
        held = []
        for lk in self.plan.tables[name].outgoing:
            c = self.alias(lk.child)
            stays = sa.and_(
                sa.not_(self.goes(lk.child, c, here)),
                sa.not_(self._releases(lk, c, here)),
            )
            ref = c.c[lk.child_column] == t.c[lk.parent_column]
            held.append(
                sa.not_(sa.exists(sa.select(sa.literal(1)).select_from(c).where(ref, stays)))
            )
        return sa.and_(self.expired(name, t), self._keeps_ended(name, t), *held)

    def _releases(self, lk: Link, c: FromClause, path: tuple[str, ...]) -> Any:
        """The child row lets go of its parent: anonymisation erases the link column."""
        how = self.plan.tables[lk.child].column_erase.get(lk.child_column)
        if how is None or how is Erasure.keep or lk.child in path:
            return sa.false()
        return self.anon(lk.child, c, path)

    def anon(self, name: str, t: FromClause, path: tuple[str, ...] = ()) -> Any:
        """The row is anonymised: expired, not deleted, not under a keep, a value to erase."""
        rule = self.ds.tables[name].retention
        if rule is not None and rule.then is ExpiryAction.keep:
            return sa.false()
        return sa.and_(
            self.expired(name, t),
            sa.not_(self._row_kept(name, t)),
            sa.not_(self.goes(name, t, path)),
            self._pending(name, t),
        )

    def kept(self, name: str, t: FromClause) -> Any:
        rule = self.ds.tables[name].retention
        if rule is not None and rule.then is ExpiryAction.keep:
            return sa.true()
        return self._row_kept(name, t)

    def count_kept(self, name: str) -> sa.Select[Any]:
        t = self.tables[name]
        cond = sa.and_(self.expired(name, t), self.kept(name, t))
        return sa.select(sa.func.count()).select_from(t).where(cond)

    def _pending(self, name: str, t: FromClause) -> Any:
        """Some column still holds a value its strategy erases (the SQL twin of the erasure
        code's column check, so that every selected row changes)."""
        tp = self.plan.tables[name]
        conds = []
        for col, how in tp.column_erase.items():
            c = t.c[col]
            parts: list[ColumnElement[bool]] = [c.is_not(None)]
            if how is Erasure.keep:
                parts.append(self._ended(tp.columns[col].keep, t))
            eff = _effective(tp, col)
            if eff is Erasure.mask:
                parts.append(c != tp.columns[col].mask)
            elif eff is Erasure.hash:
                parts.append(sa.func.substr(c, 1, len(HASH_PREFIX)) != HASH_PREFIX)
            conds.append(sa.and_(*parts))
        return sa.or_(sa.false(), *conds)


__all__ = ["SweepReport", "TableSweep", "sweep_dataset", "sweep_datasets"]
