"""The authorisation matrix: every operation x actor kind x own/other tenant, through
troth on real data, against an independent statement of the rules (troth.access.matrix)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from dbs import pg_schema
from repo_paths import ROOT
from troth.access.matrix import Cell, matrix_policy, render, run_matrix
from troth.clock import ManualClock
from troth.engine import Troth
from troth.home import init_home

DOC = ROOT / "docs" / "authorization-matrix.md"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def cells(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[Cell]]:
    """The matrix, run once per database for both tests (they only read the cells): a
    fresh phone-service home (with its customers' members' roles added) on a SQLite file
    or a fresh PostgreSQL schema."""
    folder = tmp_path_factory.mktemp("matrix")
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{folder}/troth.db"
        else:
            url = stack.enter_context(pg_schema())
        t = Troth(init_home(folder / "home", policy_file=matrix_policy(folder),
                            database_url=url, clock=ManualClock()))  # fmt: skip
        stack.callback(t.close)
        yield run_matrix(t)


def test_every_cell_matches_the_rules(cells: list[Cell]) -> None:
    kinds = {c.actor for c in cells}
    assert len(cells) == len(kinds) * 9 * 2  # 7 purposes + collect + export, own/other
    for needed in (
        "tenant admin",
        "tenant admin (call_analyst)",
        "tenant member",
        "tenant member (agent)",
        "tenant member (call_analyst)",
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
    by = {(c.actor, c.operation, c.own): c for c in cells}
    # Need to know inside a customer: a member without a role sees nothing of its people
    # (the policy declares member roles); a role sees its categories for its purposes.
    roleless = [c for c in cells if c.actor == "tenant member" and c.own]
    assert all(c.actual is None for c in roleless)
    assert all(c.reason == "role_not_allowed" for c in roleless if c.reason != "aggregate_only")
    agent = by[("tenant member (agent)", "use:provide_service", True)].actual
    assert agent == {"company", "contact", "identity"}
    analyst = by[("tenant member (call_analyst)", "use:provide_service", True)].actual
    assert analyst == {"call_records", "identity"}
    assert by[("tenant member (agent)", "use:support", True)].reason == "role_not_allowed"
    # What goes to the authorities is the vendor's office's: no customer's person reads it.
    for actor in ("tenant admin", "tenant member", "tenant member (agent)"):
        assert by[(actor, "use:legal_requirement", True)].actual is None
    # Nobody but the person sees another tenant's person, except keys of the vendor's
    # own applications (scoped by operation, not by tenant).
    for c in cells:
        if not c.own and c.actual is not None:
            assert c.actor.startswith(("api key", "staff")), c


def test_the_documented_table_is_current(cells: list[Cell]) -> None:
    assert DOC.read_text() == render(cells), (
        "docs/authorization-matrix.md is stale: run `python -m troth.access.matrix`"
    )
