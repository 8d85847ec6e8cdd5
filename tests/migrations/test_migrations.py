"""Alembic migrations: the revisions run in turn build exactly troth's schema on SQLite and
PostgreSQL, and so does a fresh database's schema made at once (``upgrade_database``'s
shortcut); a database from a newer or older troth is refused with what to do."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import troth.schema  # noqa: F401
from troth.db import metadata
from troth.errors import DatabaseVersionError
from troth.home import check_database_version
from troth.migrations import head_revision, upgrade_database


def _step_by_step(url: str, revision: str = "head") -> None:
    """Every revision run in turn from an empty database (never the shortcut)."""
    from alembic import command

    from troth.migrations import alembic_config

    command.upgrade(alembic_config(url), revision)


def test_migrations_build_the_whole_schema(db_url):
    _step_by_step(db_url)
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
        version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    engine.dispose()
    # Only differences a database cannot express may remain (none are expected).
    assert diffs == [], diffs
    assert version == head_revision()
    # Running it again is a no-op.
    upgrade_database(db_url)


def test_database_from_a_newer_troth_is_refused(db_url):
    upgrade_database(db_url)
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'ffffffff9999'"))
    with pytest.raises(DatabaseVersionError, match="newer than this troth"):
        check_database_version(engine)
    engine.dispose()


def test_database_without_schema_says_to_migrate(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path}/empty.db")
    with pytest.raises(DatabaseVersionError, match="troth db migrate"):
        check_database_version(engine)
    engine.dispose()


def test_migrations_go_down_and_up_again(db_url, tmp_path):
    """Every downgrade undoes its upgrade: from the newest revision down to nothing and
    back up gives troth's schema again. A second database migrated in the same process
    gets the same columns (a step's columns are not tied to the first run's tables)."""
    from alembic import command

    from troth.migrations import alembic_config

    _step_by_step(db_url)
    command.downgrade(alembic_config(db_url), "base")
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        left = set(sa.inspect(conn).get_table_names()) - {"alembic_version"}
    assert left == set()
    upgrade_database(db_url)
    second = f"sqlite:///{tmp_path}/second.db"
    upgrade_database(second)
    for url in (db_url, second):
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), metadata) == []
            columns = {c["name"] for c in sa.inspect(conn).get_columns("records")}
        engine.dispose()
        assert "seal" in columns


def test_the_identities_migration_copies_each_persons_blind_indexes(db_url):
    """0012 fills the identities table from each person's row (the newest of each kind),
    so every look-up that found someone before the upgrade finds them after it."""
    upgrade_database(db_url, "0011_breach_history")
    engine = sa.create_engine(db_url)
    people = [("p1", "e1", "t1", None), ("p2", None, None, "c2"), ("p3", None, None, None)]
    with engine.begin() as conn:
        for sid, email, phone, customer in people:
            conn.execute(
                sa.text(
                    "INSERT INTO subjects (id, jurisdiction, email_bidx, phone_bidx,"
                    " customer_id_bidx, status, created_at)"
                    " VALUES (:id, 'gdpr', :e, :p, :c, 'active', CURRENT_TIMESTAMP)"
                ),
                {"id": sid, "e": email, "p": phone, "c": customer},
            )
    upgrade_database(db_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT kind, bidx, subject_id FROM identities")).all()
    engine.dispose()
    assert sorted(tuple(r) for r in rows) == [
        ("customer_id", "c2", "p2"),
        ("email", "e1", "p1"),
        ("phone", "t1", "p1"),
    ]


def _schema(url: str) -> dict[str, object]:
    """Everything the database says of troth's tables: columns (type, nullability,
    default), primary and foreign keys, indexes and unique constraints, by name. Columns
    in name order: a revision adds its columns after the others, the declarations put
    them where they read best, and troth names every column it reads or writes."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            seen = sa.inspect(conn)
            out: dict[str, object] = {}
            for table in sorted(seen.get_table_names()):
                out[table] = {
                    "columns": sorted(
                        (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                        for c in seen.get_columns(table)
                    ),
                    "pk": seen.get_pk_constraint(table)["constrained_columns"],
                    "fks": sorted(
                        (
                            tuple(f["constrained_columns"]),
                            f["referred_table"],
                            tuple(f["referred_columns"]),
                            str(f.get("options")),
                        )
                        for f in seen.get_foreign_keys(table)
                    ),
                    "indexes": sorted(
                        (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                        for i in seen.get_indexes(table)
                    ),
                    "unique": sorted(
                        (u["name"] or "", tuple(u["column_names"]))
                        for u in seen.get_unique_constraints(table)
                    ),
                }
            out["alembic_version"] = conn.execute(
                sa.text("SELECT version_num FROM alembic_version")
            ).all()
            return out
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def two_empty(request: pytest.FixtureRequest, tmp_path) -> tuple[str, str]:
    """Two empty databases of one kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/a.db", f"sqlite:///{tmp_path}/b.db"
    from contextlib import ExitStack

    from dbs import mysql_database, pg_schema

    make = pg_schema if request.param == "postgresql" else mysql_database
    stack = ExitStack()
    request.addfinalizer(stack.close)
    return stack.enter_context(make()), stack.enter_context(make())


def test_a_fresh_database_gets_at_once_the_schema_the_revisions_build(two_empty):
    """The shortcut for an empty database (the whole schema from the tables' declarations,
    stamped with the newest revision) leaves what running every revision in turn leaves,
    on SQLite, PostgreSQL and MariaDB."""
    stepped, fresh = two_empty
    _step_by_step(stepped)
    upgrade_database(fresh)
    assert _schema(fresh) == _schema(stepped)
    assert _schema(fresh)["alembic_version"] == [(head_revision(),)]


def test_an_empty_database_is_made_without_running_the_revisions(tmp_path, monkeypatch):
    from alembic import command

    older = f"sqlite:///{tmp_path}/older.db"
    _step_by_step(older, "0011_breach_history")

    def no_steps(*_args, **_kwargs):
        raise AssertionError("an empty database ran the revisions one by one")

    monkeypatch.setattr(command, "upgrade", no_steps)
    url = f"sqlite:///{tmp_path}/fresh.db"
    upgrade_database(url)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).all() == [
            (head_revision(),)
        ]
    engine.dispose()
    # A database that holds troth's tables at an older revision goes revision by revision.
    with pytest.raises(AssertionError, match="one by one"):
        upgrade_database(older)
