"""The walk over a dataset's graph: from identity values, along links (parent -> child),
one set-based SELECT per table and batch (``WHERE column IN (...)``), never a row loop.

Tables are visited parents first; the walk repeats with only the newly found link values
(semi-naive) until nothing new appears, so cycles of links terminate.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from troth.connectors.declaration import Column, Dataset, Erasure, IdentityKind, Keep, Link
from troth.dialects import dialect_for
from troth.errors import ValidationError
from troth.keys import normalise_identity

BATCH = 500

Key = tuple[Any, ...]
Rows = dict[str, dict[Key, dict[str, Any]]]  # table -> primary key -> column values


@dataclass(frozen=True)
class Identities:
    """The identity values a request starts from (several of each kind allowed)."""

    email: tuple[str, ...] = ()
    phone: tuple[str, ...] = ()
    customer_id: tuple[str, ...] = ()

    @classmethod
    def of(cls, value: Identities | Mapping[str, Any]) -> Identities:
        if isinstance(value, Identities):
            return value
        unknown = set(value) - {k.value for k in IdentityKind}
        if unknown:
            raise ValidationError(
                f"unknown identity kind {sorted(unknown)[0]!r}: use email, phone or customer_id"
            )

        def many(v: Any) -> tuple[str, ...]:
            if v is None:
                return ()
            return tuple(str(x) for x in v) if isinstance(v, list | tuple | set) else (str(v),)

        return cls(**{k: many(v) for k, v in value.items()})

    def values(self, kind: IdentityKind) -> list[str]:
        """The values to match, in the forms a database is likely to hold them."""
        raw = getattr(self, kind.value)
        out = dict.fromkeys(v for v in raw if v.strip())
        if kind is not IdentityKind.customer_id:
            out.update(dict.fromkeys(normalise_identity(kind.value, v) for v in raw if v.strip()))
        return list(out)

    def to_dict(self) -> dict[str, list[str]]:
        return {k.value: list(getattr(self, k.value)) for k in IdentityKind}

    def __bool__(self) -> bool:
        return bool(self.email or self.phone or self.customer_id)


@dataclass
class TablePlan:
    """One table, compiled: keys, links both ways, and effective erasure strategies."""

    name: str
    primary_key: tuple[str, ...]
    identity: dict[IdentityKind, str]
    columns: dict[str, Column]
    incoming: list[Link] = field(default_factory=list)  # this table is the child
    outgoing: list[Link] = field(default_factory=list)  # this table is the parent
    row_erase: Erasure | None = None  # delete_row, keep, or None (column strategies only)
    keep: Keep | None = None
    column_erase: dict[str, Erasure] = field(default_factory=dict)

    def walk_columns(self) -> set[str]:
        """Columns the walk itself needs: keys and both ends of links."""
        cols = set(self.primary_key)
        cols |= {link.child_column for link in self.incoming}
        cols |= {link.parent_column for link in self.outgoing}
        return cols

    @property
    def leaf_delete(self) -> bool:
        """Rows are deleted and nothing hangs below: erase may DELETE by predicate unread."""
        return self.row_erase is Erasure.delete_row and not self.outgoing

    def export_columns(self) -> list[str]:
        cols = list(self.primary_key)
        cols += [c for c in self.identity.values() if c not in cols]
        cols += [c for c in self.columns if c not in cols]
        return cols


@dataclass
class Plan:
    dataset: Dataset
    order: list[str]  # parents before children
    tables: dict[str, TablePlan]
    # SELECT statements by shape, built once: constructing them costs more than running them.
    selects: dict[tuple[Any, ...], sa.Select[Any]] = field(default_factory=dict)
    # A link's position in the declaration, by identity (list.index compares models).
    link_index: dict[int, int] = field(default_factory=dict)

    def index_of(self, link: Any) -> int:
        if not self.link_index:
            self.link_index.update({id(x): i for i, x in enumerate(self.dataset.links)})
        return self.link_index[id(link)]


def plan_dataset(ds: Dataset) -> Plan:
    """Compile a validated declaration into the order and strategies the runner follows."""
    tables: dict[str, TablePlan] = {}
    for name, t in ds.tables.items():
        row = t.erase if t.erase in (Erasure.delete_row, Erasure.keep) else None
        if row is None and any(c.erase is Erasure.delete_row for c in t.columns.values()):
            row = Erasure.delete_row
        column_ways = (Erasure.set_null, Erasure.mask, Erasure.hash)
        default = t.erase if t.erase in column_ways else None
        if t.erase is Erasure.keep and t.keep is not None and t.keep.then in column_ways:
            default = t.keep.then  # rows past their keep period are erased column by column
        col_erase: dict[str, Erasure] = {}
        for cname, c in t.columns.items():
            chosen = c.erase or (default if c.category else None)
            if chosen is not None and chosen is not Erasure.delete_row:
                col_erase[cname] = chosen
        tables[name] = TablePlan(
            name=name,
            primary_key=tuple(t.primary_key),
            identity=dict(t.identity),
            columns=dict(t.columns),
            row_erase=row,
            keep=t.keep,
            column_erase=col_erase,
        )
    for link in ds.links:
        tables[link.child].incoming.append(link)
        tables[link.parent].outgoing.append(link)
    return Plan(ds, _parents_first(ds), tables)


def _parents_first(ds: Dataset) -> list[str]:
    """Topological order of the link graph (Kahn); members of cycles go last, declared order."""
    indegree = {t: 0 for t in ds.tables}
    for link in ds.links:
        if link.child != link.parent:
            indegree[link.child] += 1
    order: list[str] = []
    ready = [t for t in ds.tables if indegree[t] == 0]
    while ready:
        t = ready.pop(0)
        order.append(t)
        for link in ds.links:
            if link.parent == t and link.child != t:
                indegree[link.child] -= 1
                if indegree[link.child] == 0:
                    ready.append(link.child)
    order += [t for t in ds.tables if t not in order]
    return order


def batches(values: Sequence[Any], size: int = BATCH) -> Iterator[Sequence[Any]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


def key_filter(table: sa.Table, pk: Sequence[str], keys: Sequence[Key]) -> sa.ColumnElement[bool]:
    """``pk IN (...)`` for one batch of keys (a tuple IN for composite keys)."""
    if len(pk) == 1:
        return table.c[pk[0]].in_([k[0] for k in keys])
    return sa.tuple_(*(table.c[c] for c in pk)).in_(list(keys))


def locate(
    conn: Connection,
    plan: Plan,
    tables: Mapping[str, sa.Table],
    identities: Identities,
    columns: Mapping[str, Iterable[str]],
    *,
    for_update: bool = False,
    skip: Collection[str] = (),
) -> Rows:
    """Every row that belongs to the person, per table, with ``columns[table]`` selected
    (plus what the walk needs). One SELECT per table per batch of values. Tables in
    ``skip`` (leaves the caller deletes by predicate) are not read."""
    found: Rows = {t: {} for t in plan.order}
    pushed: dict[int, set[Any]] = {}  # link index -> parent values already followed
    first = True
    while True:
        added = False
        for name in plan.order:
            if name in skip:
                continue
            tp = plan.tables[name]
            table = tables[name]
            preds = _identity_values(tp, table, identities) if first else []
            for link in tp.incoming:
                idx = plan.index_of(link)
                done = pushed.setdefault(idx, set())
                new = {r[link.parent_column] for r in found[link.parent].values()}
                new -= done | {None}
                if new:
                    done |= new
                    preds.append((link.child_column, list(new)))
            if not preds:
                continue
            wanted = tuple(dict.fromkeys([*tp.walk_columns(), *columns.get(name, ())]))
            lock = for_update and dialect_for(conn).row_locks
            for stmt_preds in _statements(preds):
                shape = (name, wanted, tuple(c for c, _ in stmt_preds), lock)
                stmt = plan.selects.get(shape)
                if stmt is None:
                    stmt = _select(table, wanted, shape[2], lock)
                    plan.selects[shape] = stmt
                params = {f"v{i}": vals for i, (_, vals) in enumerate(stmt_preds)}
                for row in conn.execute(stmt, params).mappings():
                    key = tuple(row[c] for c in tp.primary_key)
                    if key not in found[name]:
                        found[name][key] = dict(row)
                        added = True
        first = False
        if not added:
            return found


def _select(
    table: sa.Table, wanted: tuple[str, ...], by: tuple[str, ...], lock: bool
) -> sa.Select[Any]:
    """SELECT wanted WHERE by[0] IN :v0 OR by[1] IN :v1 ... (built once per shape)."""
    where = sa.or_(
        *(table.c[col].in_(sa.bindparam(f"v{i}", expanding=True)) for i, col in enumerate(by))
    )
    stmt = sa.select(*(table.c[c] for c in wanted)).where(where)
    return stmt.with_for_update() if lock else stmt


def predicates(
    plan: Plan, table: sa.Table, identities: Identities, found: Rows
) -> list[sa.ColumnElement[bool]]:
    """WHERE clauses (one per statement) matching every row of ``table`` that belongs to
    the person, given the rows already found in its parents."""
    return [
        sa.or_(*(table.c[col].in_(vals) for col, vals in stmt_preds))
        for stmt_preds in predicate_values(plan, table, identities, found)
    ]


def predicate_values(
    plan: Plan, table: sa.Table, identities: Identities, found: Rows
) -> list[list[tuple[str, list[Any]]]]:
    """:func:`predicates` as data: per statement, ``(column, values)`` pairs, ORed."""
    tp = plan.tables[table.name]
    preds = _identity_values(tp, table, identities)
    for link in tp.incoming:
        parent = {r[link.parent_column] for r in found[link.parent].values()} - {None}
        if parent:
            preds.append((link.child_column, list(parent)))
    return list(_statements(preds))


def _identity_values(
    tp: TablePlan, table: sa.Table, identities: Identities
) -> list[tuple[str, list[Any]]]:
    """``(column, values)`` for each identity column of the table the person has values
    for, in the column's type."""
    preds: list[tuple[str, list[Any]]] = []
    for kind, col in tp.identity.items():
        vals = _coerce(table.c[col], identities.values(kind))
        if vals:
            preds.append((col, vals))
    return preds


def _statements(preds: list[tuple[str, list[Any]]]) -> Iterator[list[tuple[str, list[Any]]]]:
    """Group ``column IN (...)`` predicates into statements of at most BATCH values."""
    current: list[tuple[str, list[Any]]] = []
    size = 0
    for col, vals in preds:
        for chunk in batches(vals):
            if size + len(chunk) > BATCH and current:
                yield current
                current, size = [], 0
            current.append((col, list(chunk)))
            size += len(chunk)
    if current:
        yield current


def _coerce(column: sa.Column[Any], values: list[str]) -> list[Any]:
    """Identity values in the column's Python type (a customer id '42' for an integer key)."""
    try:
        kind = column.type.python_type
    except NotImplementedError:
        return values
    if kind is int:
        return [int(v) for v in values if v.strip().lstrip("-").isdigit()]
    return values


Holder = frozenset[tuple[IdentityKind, str]]


def holders(
    conn: Connection,
    plan: Plan,
    tables: Mapping[str, sa.Table],
    categories: Collection[str],
) -> list[Holder]:
    """Everyone the dataset holds data of ``categories`` about, each as the set of their
    identities: rows with a non-empty column of one of them are attributed through the
    row's own identity columns and those of every row it belongs to (links, followed up
    to the parents); rows that share an identity are one person."""
    found: list[Holder] = []
    for name, tp in plan.tables.items():
        cols = [c for c, spec in tp.columns.items() if spec.category in categories]
        if not cols:
            continue
        table = tables[name]
        rows = sa.select(table).where(sa.or_(*(table.c[c].is_not(None) for c in cols)))
        _owners(conn, plan, tables, name, rows.subquery(), found, frozenset())
    return _merge(found)


def _owners(
    conn: Connection,
    plan: Plan,
    tables: Mapping[str, sa.Table],
    name: str,
    rows: sa.Subquery,
    out: list[Holder],
    seen: frozenset[str],
) -> None:
    """Add the identities of ``rows`` (a subquery over table ``name``) and of the parent
    rows they belong to."""
    tp = plan.tables[name]
    if tp.identity:
        kinds = list(tp.identity.items())
        q = sa.select(*(rows.c[col] for _, col in kinds)).distinct()
        for values in conn.execute(q):
            ids = frozenset(
                (kind, str(v)) for (kind, _), v in zip(kinds, values, strict=True) if v is not None
            )
            if ids:
                out.append(ids)
    for link in tp.incoming:
        if link.parent in seen or link.parent == name:
            continue
        parent = tables[link.parent]
        parents = (
            sa.select(parent)
            .where(parent.c[link.parent_column].in_(sa.select(rows.c[link.child_column])))
            .subquery()
        )
        _owners(conn, plan, tables, link.parent, parents, out, seen | {name})


def _merge(groups: list[Holder]) -> list[Holder]:
    """Union the groups that share an identity (one person seen from two tables)."""
    parent: dict[tuple[IdentityKind, str], tuple[IdentityKind, str]] = {}

    def root(x: tuple[IdentityKind, str]) -> tuple[IdentityKind, str]:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for g in groups:
        first, *rest = list(g)
        for other in rest:
            parent[root(other)] = root(first)
        root(first)
    merged: dict[tuple[IdentityKind, str], set[tuple[IdentityKind, str]]] = {}
    for x in parent:
        merged.setdefault(root(x), set()).add(x)
    return [frozenset(v) for v in merged.values()]
