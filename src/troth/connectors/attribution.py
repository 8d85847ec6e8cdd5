"""One walk for many people (issue 19): the rows of a dataset that belong to any of them,
read by the set-based walk of :func:`troth.connectors.walk.locate` over everyone's
identities at once (one SELECT per table and batch of values, however many people), then
each row attributed to every person whose own walk reaches it.

A person's walk is a closure: the rows whose identity columns hold one of their values,
and every child row whose link column holds a value of a row already reached. The union
of everyone's closures is the closure of everyone's values together, which is what the
one walk reads; attribution then propagates sets of people along the links over the rows
read, semi-naive (only the people newly reaching a row travel on), with no statement.
Values are compared as the database compares them (:meth:`Dialect.same_text`), so a row
shared by two people (a household's address, a joint order) is in both exports.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from troth.connectors.declaration import IdentityKind
from troth.connectors.report import DatasetExport, TableExport, jsonable
from troth.connectors.walk import Identities, Key, Plan, Rows, _coerce, locate
from troth.dialects import dialect_for

Owners = dict[str, dict[Key, set[str]]]  # table -> primary key -> the people it belongs to


def together(people: Iterable[Identities]) -> Identities:
    """Everyone's identity values as one set of identities (the walk's starting values)."""
    merged: dict[str, dict[str, None]] = {k.value: {} for k in IdentityKind}
    for ids in people:
        for kind in IdentityKind:
            merged[kind.value].update(dict.fromkeys(getattr(ids, kind.value)))
    return Identities(**{k: tuple(v) for k, v in merged.items()})


def locate_many(
    conn: Connection,
    plan: Plan,
    tables: Mapping[str, sa.Table],
    people: Mapping[str, Identities],
    columns: Mapping[str, Iterable[str]],
) -> dict[str, Rows]:
    """Per person (by the caller's key), the rows :func:`locate` would find for them alone,
    with ``columns[table]`` selected; read with one walk for all of them."""
    wanted = {
        name: list(dict.fromkeys([*columns.get(name, ()), *tp.identity.values()]))
        for name, tp in plan.tables.items()
    }
    found = locate(conn, plan, tables, together(people.values()), wanted)
    owners = attribute(plan, tables, found, people, dialect_for(conn).same_text)
    if any(key not in owners[name] for name in plan.order for key in found[name]):
        # The database matched a row by a rule the comparison here does not know (a column
        # with its own collation: case- or accent-insensitive, citext): each person's own
        # walk instead, so nobody's export misses a row the database gives them alone.
        return {p: locate(conn, plan, tables, ids, wanted) for p, ids in people.items()}
    out: dict[str, Rows] = {p: {t: {} for t in plan.order} for p in people}
    for name in plan.order:
        for key, row in found[name].items():
            for person in owners[name].get(key, ()):
                out[person][name][key] = row
    return out


def attribute(
    plan: Plan,
    tables: Mapping[str, sa.Table],
    found: Rows,
    people: Mapping[str, Identities],
    same: Callable[[Any], Any],
) -> Owners:
    """Who each row of ``found`` belongs to: the people one of whose values its identity
    columns hold, and along links the people of every parent row it hangs from."""
    owners: Owners = {t: {} for t in plan.order}
    work: list[tuple[str, Key, set[str]]] = []
    for name in plan.order:
        tp = plan.tables[name]
        if not tp.identity or not found[name]:
            continue
        index: dict[tuple[str, Any], set[str]] = {}
        for person, ids in people.items():
            for kind, col in tp.identity.items():
                for v in _coerce(tables[name].c[col], ids.values(kind)):
                    index.setdefault((col, same(v)), set()).add(person)
        for key, row in found[name].items():
            mine: set[str] = set()
            for col in tp.identity.values():
                if row[col] is not None:
                    mine |= index.get((col, same(row[col])), set())
            if mine:
                owners[name][key] = set(mine)
                work.append((name, key, mine))
    children: dict[int, dict[Any, list[Key]]] = {}
    for link in plan.dataset.links:
        by: dict[Any, list[Key]] = children.setdefault(plan.index_of(link), {})
        for key, row in found[link.child].items():
            if row[link.child_column] is not None:
                by.setdefault(same(row[link.child_column]), []).append(key)
    while work:
        name, key, new = work.pop()
        row = found[name][key]
        for link in plan.tables[name].outgoing:
            value = row[link.parent_column]
            if value is None:
                continue
            for child in children[plan.index_of(link)].get(same(value), ()):
                have = owners[link.child].setdefault(child, set())
                delta = new - have
                if delta:
                    have |= delta
                    work.append((link.child, child, delta))
    return owners


def export_rows(plan: Plan, location: str | None, rows: Rows) -> DatasetExport:
    """A person's located rows as their export: every declared column with its category,
    tables parents first, rows in primary-key order (the same for one person as for a
    batch: the database's own order depends on what else the statement asked for)."""
    out = DatasetExport(plan.dataset.name, location)
    for name in plan.order:
        if not rows[name]:
            continue
        tp = plan.tables[name]
        cols = tp.export_columns()
        cats = {c: (tp.columns[c].category if c in tp.columns else None) for c in cols}
        ordered = sorted(rows[name].items(), key=lambda kv: _sort_key(kv[0]))
        out.tables[name] = TableExport(
            cats, [{c: jsonable(r[c]) for c in cols} for _, r in ordered]
        )
    return out


def _sort_key(key: Key) -> tuple[Any, ...]:
    # A key's parts are of one type per column; the type's name orders a database that
    # mixes them (SQLite's dynamic typing) instead of failing.
    return tuple((type(part).__name__, part) for part in key)
