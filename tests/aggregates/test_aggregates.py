"""Small-cell suppression: examples, bad input, and an exact audit (rational linear algebra)
that no hidden cell, nor a hidden total below k, can be recovered from what is published."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from troth.aggregates.suppression import K_DEFAULTS, SuppressedTable, suppress
from troth.errors import ValidationError


def test_k_defaults_from_regulations() -> None:
    assert dict(K_DEFAULTS) == {"internal": 5, "shared": 10, "us_health": 11, "public": 20}


def test_one_dimension_hides_small_groups_and_a_complement() -> None:
    t = suppress({("a",): 3, ("b",): 100, ("c",): 40}, 5)
    assert t.primary == {("a",)}
    assert t.complementary == {("c",)}  # the next smallest, else total - b - c = a
    assert t.cells == {("a",): None, ("b",): 100, ("c",): None}
    assert t.total == 143


def test_one_dimension_hidden_mass_reaches_k() -> None:
    # 1 + 2 hidden would publish a merged group of 3 by subtraction: hide one more.
    t = suppress({("a",): 1, ("b",): 2, ("c",): 7, ("d",): 90}, 5)
    assert t.suppressed == {("a",), ("b",), ("c",)}
    assert t.total == 100


def test_one_dimension_withholds_the_total_when_nothing_else_can_hide() -> None:
    t = suppress({("a",): 3}, 5)
    assert t.cells == {("a",): None} and t.total is None
    t = suppress({("a",): 30, ("b",): 4}, 5)
    assert t.suppressed == {("a",), ("b",)} and t.total == 34


def test_nothing_small_nothing_hidden() -> None:
    t = suppress({("a", "x"): 10, ("a", "y"): 20, ("b", "x"): 30, ("b", "y"): 40}, 5)
    assert not t.suppressed
    assert t.row_totals == {"a": 30, "b": 70}
    assert t.column_totals == {"x": 40, "y": 60}
    assert t.total == 100


def test_two_dimensions_classic_rectangle() -> None:
    t = suppress({("a", "x"): 3, ("a", "y"): 50, ("b", "x"): 40, ("b", "y"): 60}, 5)
    assert t.primary == {("a", "x")}
    # One hidden cell in row a and column x: the complement must close a rectangle.
    assert t.suppressed == {("a", "x"), ("a", "y"), ("b", "x"), ("b", "y")}
    assert t.row_totals == {"a": 53, "b": 100} and t.total == 153
    audit(t, {("a", "x"): 3, ("a", "y"): 50, ("b", "x"): 40, ("b", "y"): 60})


def test_small_row_total_is_withheld_and_not_recoverable() -> None:
    cells = {("a", "x"): 1, ("a", "y"): 2, ("b", "x"): 40, ("b", "y"): 60, ("c", "x"): 9}
    t = suppress(cells, 5)
    assert t.row_totals["a"] is None
    audit(t, cells)


def test_same_mask_for_sums_and_averages() -> None:
    counts = {("a",): 3, ("b",): 100, ("c",): 40}
    sums = {("a",): 30.0, ("b",): 1000.0, ("c",): 200.0}
    t = suppress(counts, 5)
    masked = t.mask(sums)
    assert masked.cells == {("a",): None, ("b",): 1000.0, ("c",): None}
    assert masked.total == 1230.0
    avg = t.averages(sums)
    assert avg.cells == {("a",): None, ("b",): 10.0, ("c",): None}
    assert avg.total == pytest.approx(1230 / 143)
    two = suppress({("a", "x"): 3, ("a", "y"): 50, ("b", "x"): 40, ("b", "y"): 60}, 5)
    m2 = two.mask({("a", "x"): 1.0, ("a", "y"): 2.0, ("b", "x"): 3.0, ("b", "y"): 4.0})
    assert set(m2.cells.values()) == {None}
    assert m2.row_totals == {"a": 3.0, "b": 7.0} and m2.column_totals == {"x": 4.0, "y": 6.0}
    with pytest.raises(ValidationError, match="exactly the groups"):
        t.mask({("a",): 1.0})


def test_empty_table() -> None:
    t = suppress({}, 5)
    assert t.cells == {} and t.total is None


@pytest.mark.parametrize(
    ("cells", "k"),
    [
        ({("a",): 1}, 0),
        ({("a",): 1}, True),
        ({("a",): -1}, 5),
        ({("a",): 1.5}, 5),
        ({("a",): 1, ("a", "b"): 2}, 5),
        ({("a", "b", "c"): 1}, 5),
        ({"a": 1}, 5),
    ],
)
def test_bad_input_is_refused_clearly(cells: Any, k: Any) -> None:
    with pytest.raises(ValidationError):
        suppress(cells, k)


# The audit: what a reader knows is the published cells and totals; the unknowns are the
# hidden cells. A linear form of the unknowns is recoverable iff it lies in the span of the
# published totals' forms (each restricted to the hidden cells).
def _rank(rows: list[list[Fraction]]) -> int:
    rows = [r[:] for r in rows if any(r)]
    rank, col = 0, 0
    width = len(rows[0]) if rows else 0
    while rank < len(rows) and col < width:
        pivot = next((i for i in range(rank, len(rows)) if rows[i][col] != 0), None)
        if pivot is None:
            col += 1
            continue
        rows[rank], rows[pivot] = rows[pivot], rows[rank]
        for i in range(len(rows)):
            if i != rank and rows[i][col] != 0:
                f = rows[i][col] / rows[rank][col]
                rows[i] = [a - f * b for a, b in zip(rows[i], rows[rank], strict=True)]
        rank, col = rank + 1, col + 1
    return rank


def audit(t: SuppressedTable, cells: dict[tuple[Any, ...], int]) -> None:
    k = t.k
    hidden = sorted(t.suppressed, key=repr)
    # Nothing published is below k.
    assert all(v is None or v >= k for v in t.cells.values())
    assert all(v is None or v >= k for v in t.row_totals.values())
    assert all(v is None or v >= k for v in t.column_totals.values())
    assert t.total is None or t.total >= k
    assert all((t.cells[key] is None) == (key in t.suppressed) for key in cells)
    assert all(cells[key] < k for key in t.primary)

    def form(members: set[tuple[Any, ...]]) -> list[Fraction]:
        return [Fraction(1 if key in members else 0) for key in hidden]

    lines: list[tuple[set[tuple[Any, ...]], int | None, int]] = []
    for r, shown in t.row_totals.items():
        keys = {key for key in cells if key[0] == r}
        lines.append((keys, shown, sum(cells[key] for key in keys)))
    for c, shown in t.column_totals.items():
        keys = {key for key in cells if key[1] == c}
        lines.append((keys, shown, sum(cells[key] for key in keys)))
    lines.append((set(cells), t.total, sum(cells.values())))
    known = [form(keys) for keys, shown, _ in lines if shown is not None]
    base = _rank(known) if known else 0

    def recoverable(vector: list[Fraction]) -> bool:
        return any(vector) and _rank([*known, vector]) == base

    for key in hidden:
        assert not recoverable(form({key})), f"hidden cell {key} is recoverable"
    for keys, shown, total in lines:
        if shown is None and total < k and keys:
            assert not recoverable(form(keys & t.suppressed)), "a small total is recoverable"
        # The brief's brute rule: a published total over hidden cells covers >= 2 of them,
        # and together they hold >= k people.
        inside = keys & t.suppressed
        if shown is not None and inside:
            assert len(inside) >= 2 and sum(cells[key] for key in inside) >= k


def test_the_audit_catches_a_table_without_complements() -> None:
    cells = {("a", "x"): 3, ("a", "y"): 50, ("b", "x"): 40, ("b", "y"): 60}
    naive = SuppressedTable(
        k=5,
        dimensions=2,
        cells={**cells, ("a", "x"): None},
        row_totals={"a": 53, "b": 100},
        column_totals={"x": 43, "y": 110},
        total=153,
        primary=frozenset({("a", "x")}),
    )
    with pytest.raises(AssertionError):
        audit(naive, cells)
    # A bridge: two hidden rectangles joined by one hidden cell, every margin published.
    grid = {(r, c): 50 for r in "abcd" for c in "wxyz"}
    bridged = [("a", "w"), ("a", "x"), ("b", "w"), ("b", "x")]
    bridged += [("c", "y"), ("c", "z"), ("d", "y"), ("d", "z"), ("a", "y")]
    bridge = SuppressedTable(
        k=5,
        dimensions=2,
        cells={key: None if key in bridged else v for key, v in grid.items()},
        row_totals={r: 200 for r in "abcd"},
        column_totals={c: 200 for c in "wxyz"},
        total=800,
        complementary=frozenset(bridged),
    )
    with pytest.raises(AssertionError, match="recoverable"):
        audit(bridge, grid)


counts = st.integers(min_value=0, max_value=40)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.tuples(st.sampled_from("abcdefgh")), counts, max_size=8),
    st.integers(min_value=1, max_value=12),
)
def test_one_dimension_audit(cells: dict[tuple[Any, ...], int], k: int) -> None:
    audit(suppress(cells, k), cells)


@settings(max_examples=400, deadline=None)
@given(
    st.dictionaries(
        st.tuples(st.sampled_from("abcde"), st.sampled_from("vwxyz")), counts, max_size=25
    ),
    st.integers(min_value=1, max_value=12),
)
def test_two_dimension_audit(cells: dict[tuple[Any, ...], int], k: int) -> None:
    audit(suppress(cells, k), cells)


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(
        st.tuples(st.sampled_from("abcdef"), st.sampled_from("uvwxyz")),
        st.integers(min_value=1, max_value=8),
        min_size=10,
        max_size=36,
    ),
    st.sampled_from([5, 10, 11, 20]),
)
def test_two_dimension_audit_mostly_small(cells: dict[tuple[Any, ...], int], k: int) -> None:
    audit(suppress(cells, k), cells)


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(st.tuples(st.sampled_from("abcd"), st.sampled_from("xyz")), counts),
    st.integers(min_value=1, max_value=12),
)
def test_suppression_is_deterministic(cells: dict[tuple[Any, ...], int], k: int) -> None:
    assert suppress(cells, k) == suppress(cells, k)
