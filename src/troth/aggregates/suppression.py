"""Small-cell suppression for tables of counts grouped by one or two dimensions.

The caller runs the GROUP BY; :func:`suppress` decides what may be published: no cell or
total below k (REGULATIONS.md, "Aggregates"), and no hidden cell, nor a hidden total below
k, recoverable by subtraction from what is published (complementary suppression). The
same mask then hides sums and averages (:meth:`SuppressedTable.mask`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from troth.errors import ValidationError

# REGULATIONS.md, "Aggregates": k=5 internal, 10 shared, 11 for US health data (CMS cell
# suppression policy: counts 1-10 are not shown), 20 public.
K_DEFAULTS: Final[Mapping[str, int]] = MappingProxyType(
    {"internal": 5, "shared": 10, "us_health": 11, "public": 20}
)

Key = tuple[Hashable, ...]
# A node of the suppression graph: a published row or column, or a pool of withheld lines.
Node = tuple[Hashable, ...]
_Z: Final[Node] = ("free",)  # withheld lines when the grand total is withheld: unconstrained
_UR: Final[Node] = ("withheld_rows",)  # withheld rows when the grand total is published
_UC: Final[Node] = ("withheld_columns",)


@dataclass(frozen=True)
class MaskedTable:
    """Values (sums, averages) under a :class:`SuppressedTable`'s mask; None = suppressed."""

    cells: Mapping[Key, float | None]
    row_totals: Mapping[Hashable, float | None]
    column_totals: Mapping[Hashable, float | None]
    total: float | None


@dataclass(frozen=True)
class SuppressedTable:
    """Counts ready to publish: None marks a suppressed cell or withheld total.

    ``row_totals``/``column_totals`` are keyed by the first/second label of 2-D tables and
    empty for 1-D ones; ``primary`` cells were below k, ``complementary`` ones protect them.
    """

    k: int
    dimensions: int
    cells: Mapping[Key, int | None]
    row_totals: Mapping[Hashable, int | None] = field(default_factory=dict)
    column_totals: Mapping[Hashable, int | None] = field(default_factory=dict)
    total: int | None = None
    primary: frozenset[Key] = frozenset()
    complementary: frozenset[Key] = frozenset()

    @property
    def suppressed(self) -> frozenset[Key]:
        return self.primary | self.complementary

    def mask(self, values: Mapping[Key, float]) -> MaskedTable:
        """Per-group sums under the same mask (totals published where the counts' are)."""
        if set(values) != set(self.cells):
            raise ValidationError(
                "values must have exactly the groups of the counted table "
                f"({len(values)} groups given, {len(self.cells)} counted)"
            )
        rows: dict[Hashable, float] = defaultdict(float)
        cols: dict[Hashable, float] = defaultdict(float)
        for key, value in values.items():
            if self.dimensions == 2:
                rows[key[0]] += value
                cols[key[1]] += value
        return MaskedTable(
            cells={key: None if self.cells[key] is None else v for key, v in values.items()},
            row_totals={r: None if t is None else rows[r] for r, t in self.row_totals.items()},
            column_totals={
                c: None if t is None else cols[c] for c, t in self.column_totals.items()
            },
            total=None if self.total is None else sum(values.values()),
        )

    def averages(self, sums: Mapping[Key, float]) -> MaskedTable:
        """Per-group averages (sum / count) under the same mask."""
        summed = self.mask(sums)

        def avg(total: float | None, count: int | None) -> float | None:
            return None if total is None or not count else total / count

        return MaskedTable(
            cells={key: avg(v, self.cells[key]) for key, v in summed.cells.items()},
            row_totals={r: avg(v, self.row_totals[r]) for r, v in summed.row_totals.items()},
            column_totals={
                c: avg(v, self.column_totals[c]) for c, v in summed.column_totals.items()
            },
            total=avg(summed.total, self.total),
        )


def _validate(cells: Mapping[Key, int], k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValidationError(f"k must be a whole number >= 1, got {k!r}")
    dims = {len(key) if isinstance(key, tuple) else -1 for key in cells}
    if not dims <= {1, 2} or len(dims) > 1:
        raise ValidationError(
            "group keys must all be tuples of the same length, 1 or 2 "
            f"(one or two GROUP BY columns); got lengths {sorted(dims)}"
        )
    for key, count in cells.items():
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValidationError(f"count for group {key!r} must be a whole number >= 0")
    return dims.pop() if dims else 1


def suppress(cells: Mapping[Key, int], k: int) -> SuppressedTable:
    """Suppress every group below ``k`` people and enough others that none can be recovered.

    Keys are 1- or 2-tuples of group labels; a 2-D combination absent from ``cells`` is a
    known zero. Raises ValidationError for mixed key lengths, negative counts or k < 1.
    """
    dims = _validate(cells, k)
    order = {key: i for i, key in enumerate(cells)}
    if dims == 1:
        return _suppress_1d(cells, k, order)
    return _Suppressor(cells, k, order).run()


def _smallest(candidates: list[Key], cells: Mapping[Key, int], order: dict[Key, int]) -> Key:
    return min(candidates, key=lambda key: (cells[key], order[key]))


def _suppress_1d(cells: Mapping[Key, int], k: int, order: dict[Key, int]) -> SuppressedTable:
    primary = {key for key, v in cells.items() if v < k}
    hidden = set(primary)
    total = sum(cells.values())
    published_total = total >= k
    # Total minus the published cells gives the hidden mass: it must hide >= 2 cells and
    # >= k people, else hide the next smallest cell, else withhold the total.
    while published_total and hidden and (len(hidden) == 1 or _mass(hidden, cells) < k):
        rest = [key for key in cells if key not in hidden]
        if rest:
            hidden.add(_smallest(rest, cells, order))
        else:
            published_total = False
    return SuppressedTable(
        k=k,
        dimensions=1,
        cells={key: None if key in hidden else v for key, v in cells.items()},
        total=total if published_total else None,
        primary=frozenset(primary),
        complementary=frozenset(hidden - primary),
    )


def _mass(keys: set[Key] | list[Key], cells: Mapping[Key, int]) -> int:
    return sum(cells[key] for key in keys)


class _Suppressor:
    """2-D complementary suppression on a graph: published rows and columns are
    constrained nodes, each hidden cell an edge between its row and column. A hidden cell
    is recoverable exactly when its edge is a bridge; a withheld total is recoverable when
    its edges are cut off from the rest of its pool (see ``_exposed_margin``)."""

    def __init__(self, cells: Mapping[Key, int], k: int, order: dict[Key, int]) -> None:
        self.cells, self.k, self.order = cells, k, order
        self.row_total: dict[Hashable, int] = defaultdict(int)
        self.col_total: dict[Hashable, int] = defaultdict(int)
        self.by_line: dict[Node, list[Key]] = defaultdict(list)
        for key, v in cells.items():
            self.row_total[key[0]] += v
            self.col_total[key[1]] += v
            self.by_line[("row", key[0])].append(key)
            self.by_line[("col", key[1])].append(key)
        self.grand = sum(cells.values())
        self.primary = {key for key, v in cells.items() if v < k}
        self.hidden = set(self.primary)
        self.withheld: set[Node] = {("row", r) for r, t in self.row_total.items() if t < k}
        self.withheld |= {("col", c) for c, t in self.col_total.items() if t < k}
        self.grand_published = self.grand >= k

    def node(self, line: Node) -> Node:
        if line not in self.withheld:
            return line
        if not self.grand_published:
            return _Z
        return _UR if line[0] == "row" else _UC

    def ends(self, key: Key) -> tuple[Node, Node]:
        return self.node(("row", key[0])), self.node(("col", key[1]))

    def run(self) -> SuppressedTable:
        while self._protect_nodes() or self._break_bridges() or self._hide_small_margins():
            pass
        return SuppressedTable(
            k=self.k,
            dimensions=2,
            cells={key: None if key in self.hidden else v for key, v in self.cells.items()},
            row_totals={
                r: None if ("row", r) in self.withheld else t for r, t in self.row_total.items()
            },
            column_totals={
                c: None if ("col", c) in self.withheld else t for c, t in self.col_total.items()
            },
            total=self.grand if self.grand_published else None,
            primary=frozenset(self.primary),
            complementary=frozenset(self.hidden - self.primary),
        )

    def _withhold(self, node: Node) -> None:
        if node in (_UR, _UC):
            self.grand_published = False
        else:
            self.withheld.add(node)

    def _protect_nodes(self) -> bool:
        """A published total with one hidden cell, or hidden cells of fewer than k people,
        gives them away: hide the next smallest cell on that line, or withhold the total."""
        at: dict[Node, list[Key]] = defaultdict(list)
        for key in self.hidden:
            for end in set(self.ends(key)):
                at[end].append(key)
        for node in sorted(at, key=repr):
            edges = at[node]
            if node == _Z or (len(edges) > 1 and _mass(edges, self.cells) >= self.k):
                continue
            rest = [key for key in self.cells if key not in self.hidden and node in self.ends(key)]
            if rest:
                self.hidden.add(_smallest(rest, self.cells, self.order))
            else:
                self._withhold(node)
            return True
        return False

    def _graph(self, split: Node | None = None) -> dict[Node, list[tuple[Node, Key]]]:
        adj: dict[Node, list[tuple[Node, Key]]] = defaultdict(list)
        for key in sorted(self.hidden, key=self.order.__getitem__):
            a, b = self.ends(key)
            if split is not None:
                # The split line's edges leave from their own node ("cut") instead of the pool.
                line_a, line_b = ("row", key[0]), ("col", key[1])
                a = ("cut",) if line_a == split else a
                b = ("cut",) if line_b == split else b
            adj[a].append((b, key))
            adj[b].append((a, key))
        return adj

    def _break_bridges(self) -> bool:
        adj = self._graph()
        bridge = _first_bridge(adj)
        if bridge is None:
            return False
        a, b = self.ends(bridge)
        side_a, side_b = _reach(adj, a, without=bridge), _reach(adj, b, without=bridge)
        crossing = [
            key
            for key in self.cells
            if key not in self.hidden and _crosses(self.ends(key), side_a, side_b)
        ]
        if crossing:
            self.hidden.add(_smallest(crossing, self.cells, self.order))
        else:
            # Merge one end into the unconstrained pool: prefer the end away from the pool.
            self._withhold(a if _Z not in side_a and a != _Z else b)
        return True

    def _hide_small_margins(self) -> bool:
        for line in sorted(self.withheld, key=repr):
            total = self.row_total[line[1]] if line[0] == "row" else self.col_total[line[1]]
            if total >= self.k:
                continue
            pool = self.node(line)
            adj = self._graph(split=line)
            reach = _reach(adj, ("cut",))
            if pool in reach:
                continue
            # Recoverable as (pool total) - (rest of the pool): widen the pool.
            if self.grand_published:
                self.grand_published = False
            else:
                lines = [n for n in reach if n in self.by_line and n not in self.withheld]
                target = min(
                    lines,
                    key=lambda n: (
                        self.row_total[n[1]] if n[0] == "row" else self.col_total[n[1]],
                        repr(n),
                    ),
                )
                self.withheld.add(target)
            return True
        return False


def _reach(
    adj: dict[Node, list[tuple[Node, Key]]], start: Node, without: Key | None = None
) -> set[Node]:
    seen, stack = {start}, [start]
    while stack:
        for nxt, key in adj.get(stack.pop(), ()):
            if key != without and nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def _crosses(ends: tuple[Node, Node], side_a: set[Node], side_b: set[Node]) -> bool:
    x, y = ends
    return (x in side_a and y in side_b) or (x in side_b and y in side_a)


def _first_bridge(adj: dict[Node, list[tuple[Node, Key]]]) -> Key | None:
    """The first bridge (an edge on no cycle) of the multigraph, by iterative DFS."""
    disc: dict[Node, int] = {}
    low: dict[Node, int] = {}
    bridges: list[Key] = []
    for root in adj:
        if root in disc:
            continue
        disc[root] = low[root] = len(disc)
        stack: list[tuple[Node, Key | None, int]] = [(root, None, 0)]
        while stack:
            node, via, i = stack[-1]
            edges = adj[node]
            if i < len(edges):
                stack[-1] = (node, via, i + 1)
                nxt, key = edges[i]
                if key == via:
                    continue  # the edge we came in by (parallel edges have other keys)
                if nxt in disc:
                    low[node] = min(low[node], disc[nxt])
                else:
                    disc[nxt] = low[nxt] = len(disc)
                    stack.append((nxt, key, 0))
            else:
                stack.pop()
                if stack:
                    parent = stack[-1][0]
                    low[parent] = min(low[parent], low[node])
                    if low[node] > disc[parent] and via is not None:
                        bridges.append(via)
    return min(bridges, key=repr) if bridges else None


__all__ = ["K_DEFAULTS", "MaskedTable", "SuppressedTable", "suppress"]
