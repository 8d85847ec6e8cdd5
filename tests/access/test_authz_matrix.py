"""The authorisation matrix: every operation x actor kind x own/other tenant, through
troth on real data, against an independent statement of the rules (troth.access.matrix)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from dbs import pg_schema
from repo_paths import ROOT
from troth.access.matrix import Cell, render, run_matrix
from troth.clock import ManualClock
from troth.engine import Troth
from troth.home import init_home

DOC = ROOT / "docs" / "authorization-matrix.md"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def cells(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[Cell]]:
    """The matrix, run once per database for both tests (they only read the cells): a
    fresh phone-service home on a SQLite file or a fresh PostgreSQL schema."""
    folder = tmp_path_factory.mktemp("matrix")
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{folder}/troth.db"
        else:
            url = stack.enter_context(pg_schema())
        t = Troth(init_home(folder / "home", example="phone-service", database_url=url,
                            clock=ManualClock()))  # fmt: skip
        stack.callback(t.close)
        yield run_matrix(t)


def test_every_cell_matches_the_rules(cells: list[Cell]) -> None:
    kinds = {c.actor for c in cells}
    assert len(cells) == len(kinds) * 9 * 2  # 7 purposes + collect + export, own/other
    for needed in (
        "tenant admin",
        "tenant member",
        "revoked member",
        "vendor admin, no grant",
        "vendor admin, expired grant",
        "the person themself",
        "staff (support)",
        "api key [collect]",
    ):
        assert needed in kinds
    wrong = [c for c in cells if not c.ok and not c.known_gap]
    assert not wrong, "\n".join(map(str, wrong))
    # Nobody but the person sees another tenant's person, except keys of the vendor's
    # own applications (scoped by operation, not by tenant).
    for c in cells:
        if not c.own and c.actual is not None:
            assert c.actor.startswith(("api key", "staff")), c


def test_the_documented_table_is_current(cells: list[Cell]) -> None:
    assert DOC.read_text() == render(cells), (
        "docs/authorization-matrix.md is stale: run `python -m troth.access.matrix`"
    )
