"""The writes of an erasure on a connected dataset: each a DELETE or UPDATE queued as a
*shape* and its parameters (:class:`Write`), its statement built once per runner and then
only executed with new parameters (no statement building or cache-key walk per request,
issue 19); on PostgreSQL up to :data:`CTE_GROUP` of them go in one round trip."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from troth.connectors.report import TableReport
from troth.connectors.walk import Key, Plan
from troth.dialects import dialect_for

CTE_GROUP = 20  # writes per PostgreSQL round trip (bounded to stay far below 65535 params)

# Shapes: ("delete_where", table, (col, ...)), ("delete_keys", table),
# ("update", table, ((col, mode, n), ...)) with mode "set" (every row of the statement),
# "case" (the rows in the column's own key list), "hash" (n keys, a digest each).
STATEMENT_CACHE = 1_024


@dataclass
class Write:
    """A queued DELETE/UPDATE as a *shape* and its parameters; ``counts`` receives its row
    count (deletes by predicate)."""

    shape: tuple[Any, ...]
    params: dict[str, Any]
    counts: TableReport | None = None


class Writer:
    """Builds (once per shape, or group of shapes) and runs the statements of the writes
    on a dataset's tables (``plan``: their primary keys)."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self._stmts: dict[tuple[Any, ...], Any] = {}  # write statements by shape

    def execute(
        self,
        conn: Connection,
        tables: dict[str, sa.Table],
        writes: list[Write],
        *,
        restrict: bool,
        after: Callable[[], None],
    ) -> None:
        """Run the queued writes in order, ``after`` each round trip. On PostgreSQL they go
        as data-modifying CTEs, up to CTE_GROUP per round trip (foreign keys are checked at
        the end of the statement), unless a foreign key says ON DELETE RESTRICT
        (``restrict``)."""
        ctes = dialect_for(conn).data_modifying_ctes
        group = CTE_GROUP if ctes and not restrict else 1
        for start in range(0, len(writes), group):
            part = writes[start : start + group]
            shapes = tuple(w.shape for w in part)
            params = {f"w{i}_{k}": v for i, w in enumerate(part) for k, v in w.params.items()}
            if len(part) == 1:
                counts = [conn.execute(self._prepared(tables, shapes, False), params).rowcount]
            else:
                counts = list(conn.execute(self._prepared(tables, shapes, True), params).one())
            for w, n in zip(part, counts, strict=True):
                if w.counts is not None:
                    w.counts.deleted += n
                    w.counts.found += n
            after()

    def _prepared(
        self, tables: dict[str, sa.Table], shapes: tuple[tuple[Any, ...], ...], grouped: bool
    ) -> Any:
        """The statement for one write, or the data-modifying CTEs of a group, built once."""
        key = (grouped, shapes)
        stmt = self._stmts.get(key)
        if stmt is None:
            if len(self._stmts) >= STATEMENT_CACHE:
                self._stmts.clear()
            if not grouped:
                stmt = self._statement(tables, shapes[0], "w0_")
            else:
                ctes = [
                    self._statement(tables, sh, f"w{i}_").returning(sa.literal(1)).cte(f"w{i}")
                    for i, sh in enumerate(shapes)
                ]
                stmt = sa.select(
                    *(sa.select(sa.func.count()).select_from(c).scalar_subquery() for c in ctes)
                )
            self._stmts[key] = stmt
        return stmt

    def _statement(
        self, tables: dict[str, sa.Table], shape: tuple[Any, ...], p: str
    ) -> sa.Delete | sa.Update:
        """The statement of ``shape``, its parameters named with prefix ``p``."""
        table = tables[shape[1]]
        pk = self.plan.tables[shape[1]].primary_key
        if shape[0] == "delete_where":
            return table.delete().where(
                sa.or_(
                    *(
                        table.c[c].in_(sa.bindparam(f"{p}c{j}", expanding=True))
                        for j, c in enumerate(shape[2])
                    )
                )
            )
        if shape[0] == "delete_keys":
            return table.delete().where(_key_in(table, pk, f"{p}k"))
        values: dict[str, Any] = {}
        for j, (col, mode, n) in enumerate(shape[2]):
            column = table.c[col]
            if mode == "set":
                values[col] = sa.bindparam(f"{p}v{j}", type_=column.type)
            elif mode == "case":
                values[col] = sa.case(
                    (_key_in(table, pk, f"{p}n{j}"), sa.bindparam(f"{p}v{j}", type_=column.type)),
                    else_=column,
                )
            else:
                whens = [
                    (
                        sa.and_(
                            *(
                                table.c[c]
                                == sa.bindparam(f"{p}a{j}_{m}_{q}", type_=table.c[c].type)
                                for q, c in enumerate(pk)
                            )
                        ),
                        sa.bindparam(f"{p}d{j}_{m}", type_=column.type),
                    )
                    for m in range(n)
                ]
                values[col] = sa.case(*whens, else_=column)
        return table.update().where(_key_in(table, pk, f"{p}k")).values(values)


def key_values(keys: Sequence[Key], single: bool) -> list[Any]:
    """Key values for an expanding ``IN``: scalars for a one-column key, else tuples."""
    return [k[0] for k in keys] if single else [tuple(k) for k in keys]


def _key_in(table: sa.Table, pk: Sequence[str], name: str) -> sa.ColumnElement[bool]:
    """``pk IN :name`` (expanding; a tuple IN for a composite key)."""
    if len(pk) == 1:
        return table.c[pk[0]].in_(sa.bindparam(name, expanding=True))
    return sa.tuple_(*(table.c[c] for c in pk)).in_(sa.bindparam(name, expanding=True))
