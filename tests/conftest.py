"""Fixtures that build real databases: SQLite files in tmp_path, PostgreSQL schemas and
MariaDB databases when reachable (always under CI=true, where unreachable means failure)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from dbs import IN_CI, MYSQL_ADMIN_URL, PG_ADMIN_URL, need  # noqa: F401


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL schema for one test; the URL puts it first on the search_path."""
    need(PG_ADMIN_URL, "PostgreSQL")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_ADMIN_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def mysql_url() -> Iterator[str]:
    """A fresh MariaDB database for one test."""
    need(MYSQL_ADMIN_URL, "MariaDB")
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(MYSQL_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE `{name}`"))
    try:
        yield MYSQL_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: object) -> str:
    """troth's own database, on SQLite and on PostgreSQL: every store test runs on both."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/troth.db"
    return str(request.getfixturevalue("pg_url"))


# -- troth homes ------------------------------------------------------------------------
from collections.abc import Callable  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import yaml  # noqa: E402

from troth.clock import ManualClock  # noqa: E402

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    """The time every test starts at; tests move it, never sleep."""
    return ManualClock(START)


HomeFactory = Callable[..., Any]


@pytest.fixture
def make_troth(tmp_path: Path, clock: ManualClock) -> Iterator[HomeFactory]:
    """Build a troth home from an example policy (optionally edited) on a database URL and
    return ``Troth``; every engine made is closed at the end."""
    from troth.engine import Troth
    from troth.examples import example_path
    from troth.home import init_home

    made: list[Any] = []

    def make(
        example: str,
        db: str | None = None,
        edit: Callable[[dict[str, Any]], None] | None = None,
        name: str = "home",
    ) -> Any:
        policy_file = None
        if edit is not None:
            data = yaml.safe_load(example_path(example).read_text())
            edit(data)
            policy_file = tmp_path / f"{name}-policy.yaml"
            policy_file.write_text(yaml.safe_dump(data, sort_keys=False))
        ctx = init_home(
            tmp_path / name,
            example=None if policy_file else example,
            policy_file=policy_file,
            database_url=db,
            clock=clock,
        )
        t = Troth(ctx)
        made.append(t)
        return t

    yield make
    for t in made:
        t.close()


@pytest.fixture
def home(tmp_path: Path, db_url: str) -> Iterator[Any]:
    """A mindlink home (the HTTP and web tests' default) on SQLite and PostgreSQL; a test
    module that needs another kind of home defines its own ``home``."""
    from _http import make_home

    ctx = make_home(tmp_path, db_url=db_url)
    yield ctx
    ctx.engine.dispose()


@pytest.fixture
def lite(tmp_path: Path) -> Iterator[Any]:
    """The same home on SQLite only (for tests that need no second database)."""
    from _http import make_home

    ctx = make_home(tmp_path)
    yield ctx
    ctx.engine.dispose()
