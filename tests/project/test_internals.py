"""The library internals troth's fast paths rely on, checked one by one against the
installed versions, so that an upgrade that changes one fails here, loudly, naming the
internal, the library version and the troth code that uses it (rather than as a wrong
answer somewhere else). constraints.txt pins versions where all of these hold."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

import fastapi
import pytest
import sqlalchemy as sa
import starlette
from fastapi.testclient import TestClient

from repo_paths import ROOT
from troth.db import _TrothEngine, _TrothOptionEngine, make_engine
from troth.driver import Prepared

SA = f"SQLAlchemy {sa.__version__}"
ST = f"Starlette {starlette.__version__} / FastAPI {fastapi.__version__}"


def need(ok: Any, internal: str, library: str, used_by: str) -> None:
    if not ok:
        pytest.fail(
            f"{internal} is not what troth relies on in {library}: {used_by} uses it. Keep"
            " the version in constraints.txt, or change that code for the new release.",
            pytrace=False,
        )


def test_the_constraints_pin_the_libraries_whose_internals_are_used() -> None:
    pins = {
        line.split("==")[0].lower().replace("_", "-"): line.split("==")[1]
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
    for name, version in (
        ("sqlalchemy", sa.__version__),
        ("starlette", starlette.__version__),
        ("fastapi", fastapi.__version__),
    ):
        need(name in pins, f"a pin of {name}", "constraints.txt", "make / .ci/run")
        need(
            pins[name] == version,
            f"the installed {name} {version} (constraints.txt says {pins.get(name)})",
            "this virtualenv",
            "the tests (run `make` to install the pinned versions)",
        )


def test_make_installs_with_the_constraints() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install -q -c constraints.txt -e '.[dev]'" in makefile
    assert "make test" in (ROOT / ".ci" / "run").read_text()  # CI installs through make


def test_sqlalchemy_engine_subclass_and_option_engine(tmp_path: Path) -> None:
    from sqlalchemy.engine.base import Engine, OptionEngine

    used = "troth.db (_TrothEngine: connect joins the unit of troth.db.joined)"
    need(issubclass(OptionEngine, Engine), "sqlalchemy.engine.base.OptionEngine", SA, used)
    need(hasattr(Engine, "_option_cls"), "Engine._option_cls", SA, used)
    engine = make_engine(f"sqlite:///{tmp_path}/x.db")
    try:
        need(type(engine) is _TrothEngine, "assigning Engine.__class__", SA, used)
        opt = engine.execution_options(troth_read_only=True)
        need(isinstance(opt, _TrothOptionEngine), "execution_options() -> _option_cls", SA, used)
        need("troth_read_only" in opt.get_execution_options(), "OptionEngine options", SA, used)
        with engine.connect() as conn:
            driver = conn.connection.driver_connection
            need(
                isinstance(driver, sqlite3.Connection),
                "Connection.connection.driver_connection",
                SA,
                "troth.db (BEGIN IMMEDIATE on the driver), troth.driver.Prepared, audit verify",
            )
            need(
                "troth_read_only" in opt.connect().get_execution_options(),
                "Connection.get_execution_options()",
                SA,
                "troth.db (the SQLite begin hook)",
            )
    finally:
        engine.dispose()


def test_sqlalchemy_compiled_statement_internals() -> None:
    from sqlalchemy.dialects import postgresql, sqlite

    used = "troth.driver.Prepared (every use and every audit append)"
    t = sa.Table("t", sa.MetaData(), sa.Column("a", sa.Integer), sa.Column("b", sa.String))
    stmt = sa.select(t.c.a, t.c.b).where(t.c.a == sa.bindparam("x"), t.c.b == "const")
    for dialect in (sqlite.dialect(), postgresql.psycopg.dialect()):  # type: ignore[attr-defined]
        c = stmt.compile(dialect=dialect)
        for attr in (
            "literal_execute_params",
            "post_compile_params",
            "positiontup",
            "binds",
            "escaped_bind_names",
            "positional",
        ):
            need(hasattr(c, attr), f"Compiled.{attr}", SA, used)
        names = list(c.positiontup or ()) if c.positional else list(c.binds)
        need(
            names == ["x", "b_1"] if c.positional else {"x", "b_1"} <= set(names),
            f"Compiled.positiontup / binds (got {names})",
            SA,
            used,
        )
        binds = c.binds
        need(
            all(
                hasattr(binds[n], a) for n in names for a in ("key", "required", "effective_value")
            ),
            "BindParameter.key / required / effective_value",
            SA,
            used,
        )
        need(
            {binds[n].key for n in names if binds[n].required} == {"x"},
            "BindParameter.required (a value the caller passes)",
            SA,
            used,
        )
        need(hasattr(stmt, "selected_columns"), "Select.selected_columns", SA, used)
        impl = sa.DateTime().dialect_impl(dialect)
        need(
            callable(getattr(impl, "result_processor", None)),
            "TypeEngine.dialect_impl().result_processor",
            SA,
            used,
        )


def test_prepared_round_trip_on_sqlite(tmp_path: Path) -> None:
    """The whole fast path, end to end, on the installed SQLAlchemy."""
    engine = make_engine(f"sqlite:///{tmp_path}/p.db")
    md = sa.MetaData()
    t = sa.Table("t", md, sa.Column("a", sa.Integer, primary_key=True), sa.Column("b", sa.String))
    md.create_all(engine)
    insert = Prepared(t.insert().values(a=sa.bindparam("a"), b=sa.bindparam("b")))
    query = Prepared(sa.select(t.c.a, t.c.b).where(t.c.a == sa.bindparam("a")))
    try:
        with engine.begin() as conn:
            insert.execute(conn, {"a": 1, "b": "one"})
            rows = query.all(conn, {"a": 1})
        need(rows == [(1, "one")], "Prepared (compiled SQL on the driver cursor)", SA, "troth.db")
    finally:
        engine.dispose()


def test_starlette_and_fastapi_routing_internals(lite, caplog) -> None:
    from starlette.routing import Match, Mount

    from troth.app import create_app
    from troth.operations.httplog import route_templates

    app = create_app(lite)
    templates = set(route_templates(app.routes).values())
    need(
        "/api/v1/subjects/{subject_id}" in templates and "/console" in templates,
        "included routers' effective_candidates() (full path templates)",
        ST,
        "troth.operations.httplog.route_templates (metric labels, request log lines)"
        " and tests/access/test_authz_routes.py",
    )
    need(Match.FULL and Mount, "starlette.routing.Match / Mount", ST, "troth.api.problems")
    caplog.set_level(logging.INFO, logger="troth.http")
    with TestClient(app) as client:
        client.get("/api/v1/policy")
        client.get("/api/v1/subjects/abc", params={"purpose": "support"})
    routes = [getattr(r, "troth", {}).get("route") for r in caplog.records]
    need(
        routes[-2:] == ["/api/v1/policy", "/api/v1/subjects/{subject_id}"],
        f'scope["route"] (the matched route, with its endpoint) after routing (got {routes})',
        ST,
        "troth.operations.httplog.Observe",
    )
