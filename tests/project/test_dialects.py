"""The dialect seam (troth.dialects): each dialect class against its real database
(SQLite file, PostgreSQL schema, MariaDB database), and no module outside the seam asking
a database for its name."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from repo_paths import SRC
from troth.db import make_engine
from troth.dialects import (
    MySQL,
    PostgreSQL,
    SQLite,
    WriteBusy,
    dialect_for,
    find_dialect,
    keeps_timezone,
)
from troth.discovery.scan import read_only, readonly_engine
from troth.errors import ConfigError, ConnectorError

# A module that branches on a database's name: the seam is where that belongs.
NAME_CHECK = re.compile(
    r"dialect\.name|dialect_name|get_backend_name|==\s*['\"](sqlite|postgresql|mysql|mariadb)['\"]"
    r"|in \(['\"](sqlite|postgresql|mysql|mariadb)['\"]"
)


def test_no_module_outside_the_seam_checks_a_dialects_name() -> None:
    found = [
        f"{path.relative_to(SRC)}:{n}: {line.strip()}"
        for path in sorted(SRC.rglob("*.py"))
        if path.name != "dialects.py" and "migrations" not in path.parts
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if NAME_CHECK.search(line)
    ]
    assert found == [], "ask troth.dialects.dialect_for(...) instead:\n" + "\n".join(found)


def test_the_name_check_would_be_found() -> None:
    # the guard above is only as good as its pattern
    for line in (
        'if conn.dialect.name != "sqlite":',
        "if parsed.get_backend_name() == 'sqlite':",
        'if name in ("postgresql", "sqlite"):',
        'if kind == "mariadb":',
    ):
        assert NAME_CHECK.search(line), line
    assert not NAME_CHECK.search("if dialect_for(conn).row_locks:")


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/d.db"
    return str(request.getfixturevalue("pg_url" if request.param == "postgresql" else "mysql_url"))


EXPECTED = {"sqlite": SQLite, "postgresql": PostgreSQL, "mysql": MySQL}


def _table(engine: sa.Engine) -> sa.Table:
    md = sa.MetaData()
    t = sa.Table(
        "things",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("value", sa.String(40)),
    )
    md.create_all(engine)
    return t


def test_each_database_gets_its_dialect_by_url_engine_and_connection(url: str) -> None:
    engine = make_engine(url)
    try:
        d = dialect_for(engine)
        assert type(d) is EXPECTED[sa.make_url(url).get_backend_name()]
        assert dialect_for(url) is d and find_dialect(sa.make_url(url)) is d
        with engine.connect() as conn:
            assert dialect_for(conn) is d
            assert keeps_timezone(conn.dialect) is d.keeps_timezone
    finally:
        engine.dispose()


def test_a_database_troth_does_not_know_is_a_clear_error() -> None:
    assert find_dialect("oracle://scott@db.internal/orcl") is None
    with pytest.raises(ConfigError, match="troth uses SQLite, PostgreSQL, MySQL or MariaDB"):
        dialect_for("oracle://scott@db.internal/orcl")
    # MariaDB by its own URL name is the MySQL class
    assert isinstance(dialect_for("mariadb+pymysql://u@h/db"), MySQL)


def test_insert_ignore_keeps_the_first_row(url: str) -> None:
    engine = make_engine(url)
    try:
        d = dialect_for(engine)
        t = _table(engine)
        with engine.begin() as conn:
            conn.execute(d.insert_ignore(t, {"id": 1, "value": "first"}))
            conn.execute(d.insert_ignore(t, {"id": 1, "value": "second"}))
            assert conn.execute(sa.select(t.c.value)).scalars().all() == ["first"]
    finally:
        engine.dispose()


def test_claim_skips_rows_another_worker_holds(url: str) -> None:
    engine = make_engine(url)
    try:
        d = dialect_for(engine)
        t = _table(engine)
        with engine.begin() as conn:
            conn.execute(sa.insert(t), [{"id": i, "value": str(i)} for i in (1, 2)])
        stmt = d.claim(sa.select(t.c.id).order_by(t.c.id).limit(1))
        sql = str(stmt.compile(engine))
        if not d.row_locks:
            # SQLite: one writer holds the whole database, no row locks to take
            assert "FOR UPDATE" not in sql and "FOR UPDATE" not in str(d.lock(stmt))
            return
        assert "SKIP LOCKED" in sql
        with engine.begin() as first:
            assert first.execute(stmt).scalar() == 1
            got: list[int] = []
            other = threading.Thread(
                target=lambda: got.append(_claim_once(engine, stmt)), daemon=True
            )
            other.start()
            other.join(10)
            assert got == [2]  # row 1 is locked by `first`: the other worker takes row 2
        locked = str(d.lock(sa.select(t.c.id)).compile(engine))
        assert "FOR UPDATE" in locked and "SKIP" not in locked
    finally:
        engine.dispose()


def _claim_once(engine: sa.Engine, stmt: sa.Select[tuple[int]]) -> int:
    with engine.begin() as conn:
        return int(conn.execute(stmt).scalar_one())


def test_json_numbers_bands_and_months_in_sql(url: str) -> None:
    engine = make_engine(url)
    try:
        d = dialect_for(engine)
        md = sa.MetaData()
        t = sa.Table(
            "vals",
            md,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("value", sa.Text),
            sa.Column("at", sa.DateTime(timezone=d.keeps_timezone)),
        )
        md.create_all(engine)
        at = datetime(2026, 3, 17, 10, 30, tzinfo=UTC)
        stored = at if d.keeps_timezone else at.replace(tzinfo=None)
        rows = [("42", True), ("-3.5", True), ('"42"', False), ('"x"', False), ("null", False)]
        with engine.begin() as conn:
            conn.execute(
                sa.insert(t), [{"id": i, "value": v, "at": stored} for i, (v, _) in enumerate(rows)]
            )
            got = conn.execute(
                sa.select(t.c.id, d.json_numeric(t.c.value), d.json_number(t.c.value)).order_by(
                    t.c.id
                )
            ).all()
            assert [bool(r[1]) for r in got] == [ok for _, ok in rows]
            # (MySQL's CAST AS DECIMAL keeps no fraction; troth's own database is never MySQL)
            fraction = -3.5 if d.own_database else -4.0
            numbers = [None if r[2] is None else float(r[2]) for r in got]
            assert numbers == [42.0, fraction, None, None, None]
            low = conn.execute(sa.select(d.band_low(t.c.value, 10)).where(t.c.id == 0)).scalar()
            assert int(low) == 40
            month = conn.execute(sa.select(d.month_start(t.c.at)).where(t.c.id == 0)).scalar()
            assert str(month).startswith("2026-03-01 00:00:00")
    finally:
        engine.dispose()


def test_read_only_transactions_refuse_writes(url: str) -> None:
    engine = make_engine(url)
    t = _table(engine)
    with engine.begin() as conn:
        conn.execute(sa.insert(t).values(id=1, value="kept"))
    engine.dispose()
    reader = readonly_engine(url)
    try:
        with read_only(reader, 10) as conn:
            assert conn.execute(sa.text("SELECT value FROM things")).scalar() == "kept"
        with pytest.raises(sa.exc.DBAPIError), read_only(reader, 10) as conn:
            conn.execute(sa.text("UPDATE things SET value = 'changed'"))
        with read_only(reader, 10) as conn:
            assert conn.execute(sa.text("SELECT value FROM things")).scalar() == "kept"
    finally:
        reader.dispose()


def test_sqlite_engine_settings_and_its_write_lock(tmp_path: Path) -> None:
    from troth.db import no_wait

    engine = make_engine(f"sqlite:///{tmp_path}/s.db")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
        t = _table(engine)
        with engine.begin() as holder:
            holder.execute(sa.insert(t).values(id=1, value="a"))
            # another writer that must not wait is refused at once, nothing written
            with pytest.raises(WriteBusy), no_wait(engine).begin() as conn:
                conn.execute(sa.insert(t).values(id=2, value="b"))
        with engine.connect() as conn:
            assert conn.execute(sa.select(t.c.id)).scalars().all() == [1]
    finally:
        engine.dispose()
    with pytest.raises(ConnectorError, match="in-memory database is empty"):
        readonly_engine("sqlite://")


def test_postgresql_turns_prepared_statements_off_only_behind_a_pooler(pg_url: str) -> None:
    direct, pooled = make_engine(pg_url), make_engine(pg_url, pooled=True)
    try:
        for engine, threshold in ((direct, 5), (pooled, None)):
            with engine.connect() as conn:
                assert conn.connection.driver_connection.prepare_threshold == threshold  # type: ignore[union-attr]
                assert conn.exec_driver_sql("SELECT 1").scalar() == 1
        assert direct.pool._pre_ping  # type: ignore[attr-defined]
    finally:
        direct.dispose()
        pooled.dispose()


def test_what_each_dialect_can_do() -> None:
    # troth's own database: SQLite or PostgreSQL; the rest only as connected systems
    assert [d.own_database for d in (SQLite(), PostgreSQL(), MySQL())] == [True, True, False]
    assert [d.row_level_security for d in (SQLite(), PostgreSQL(), MySQL())] == [
        False,
        True,
        False,
    ]
    assert [d.pending_appends for d in (SQLite(), PostgreSQL(), MySQL())] == [False, True, False]
    assert [d.extra for d in (SQLite(), PostgreSQL(), MySQL())] == [None, "postgres", "mysql"]
    assert not MySQL.limit_in_subquery and SQLite.limit_in_subquery
    assert SQLite.snapshot_isolation is None and PostgreSQL.snapshot_isolation == "REPEATABLE READ"
