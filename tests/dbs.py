"""Where the test databases are, the rule for when a test that needs one may skip (only
when it is unreachable AND CI is not set), and the fixtures that build real databases:
SQLite files in tmp_path, PostgreSQL schemas and MariaDB databases. A pytest plugin
(tests/conftest.py registers it): tests ask for ``pg_url``, ``mysql_url`` or ``db_url``."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

import pytest
import sqlalchemy as sa

PG_ADMIN_URL = os.environ.get("TROTH_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MYSQL_ADMIN_URL = os.environ.get("TROTH_TEST_MYSQL", "mysql+pymysql://root@127.0.0.1:3306/test")
IN_CI = bool(os.environ.get("CI"))

_reachable: dict[str, bool] = {}


def _check(url: str) -> bool:
    if url not in _reachable:
        try:
            eng = sa.create_engine(url)
            with eng.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            eng.dispose()
            _reachable[url] = True
        except Exception:
            _reachable[url] = False
    return _reachable[url]


def need(url: str, name: str) -> None:
    if not _check(url):
        if IN_CI:
            pytest.fail(f"{name} is not reachable at {url} and CI is set: it must run in CI")
        pytest.skip(f"{name} not reachable at {url} (set CI=true to make this a failure)")


# Every test session of PostgreSQL commits without waiting for its WAL to reach the disk:
# what the tests check is what troth commits and reads back, never the server surviving a
# crash of its own (the crash tests kill troth's processes, not the server), and waiting
# for the disk at every commit took a fifth of the PostgreSQL tests' time.
FAST_COMMIT = "-csynchronous_commit%3Doff"


def schema_url(schema: str) -> str:
    """The URL of the test server that puts ``schema`` first on the search_path."""
    return f"{PG_ADMIN_URL}?options={FAST_COMMIT}%20-csearch_path%3D{schema}"


def schema_of(url: Any) -> str:
    """The schema a :func:`schema_url` URL (text or SQLAlchemy URL) puts first."""
    options = str(sa.make_url(str(url)).query["options"])
    return options.rsplit("-csearch_path=", 1)[1]


@contextmanager
def pg_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema, dropped after; the URL puts it first on the search_path."""
    need(PG_ADMIN_URL, "PostgreSQL")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with _admin().connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield schema_url(schema)
    finally:
        with _admin().connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


@cache
def _admin() -> sa.Engine:
    """This test process's connections that make and drop schemas (committing fast too)."""
    options = {"options": FAST_COMMIT.replace("%3D", "=")}
    return sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args=options)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL schema for one test."""
    with pg_schema() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def two_dbs(request: pytest.FixtureRequest) -> Iterator[tuple[str | None, str | None]]:
    """Two separate databases for two homes of one test (one by one against in bulk): two
    SQLite files in their homes (None, None), or two fresh PostgreSQL schemas."""
    if request.param == "sqlite":
        yield (None, None)
        return
    with pg_schema() as first, pg_schema() as second:
        yield (first, second)


@pytest.fixture
def mysql_url() -> Iterator[str]:
    """A fresh MariaDB database for one test."""
    with mysql_database() as url:
        yield url


@contextmanager
def mysql_database() -> Iterator[str]:
    """A fresh MariaDB database, dropped after."""
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
