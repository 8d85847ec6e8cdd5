"""Alembic migrations of troth's own database, run programmatically (``troth db migrate``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.config import Config

HERE = Path(__file__).parent


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade_database(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` (default: the newest); a SQLite file
    it creates is 0600.

    A database that holds none of troth's tables yet, brought to the newest revision, gets
    the whole schema made at once from the tables' declarations and is stamped with the
    newest revision: Alembic's way to build an up-to-date database from scratch, the same
    schema as every revision run in turn (``tests/migrations/test_migrations.py`` compares
    the two on each database), in one transaction on troth's own engine (on SQLite, with
    WAL, one commit instead of one synced write per statement). Any other database is
    migrated revision by revision."""
    from alembic import command

    from troth.db import check_database_url, create_private_database

    check_database_url(url)  # a clear one-line error for a malformed URL or a missing driver
    create_private_database(url)
    if revision == "head" and _create_fresh(url):
        return
    command.upgrade(alembic_config(url), revision)


def _create_fresh(url: str) -> bool:
    """Make troth's whole schema in a database that holds none of its tables and record
    the newest revision, in one transaction; False (nothing done) otherwise."""
    import sqlalchemy as sa
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    import troth.schema  # noqa: F401  (complete the metadata)
    from troth.db import make_engine, metadata

    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            there = set(sa.inspect(conn).get_table_names())
            if there & {*metadata.tables, "alembic_version"}:
                return False
            metadata.create_all(conn)
            script = ScriptDirectory.from_config(alembic_config("sqlite://"))
            MigrationContext.configure(conn).stamp(script, "head")
    finally:
        engine.dispose()
    return True


_REV = re.compile(
    r'^(down_revision|revision)\s*(?::[^=]*)?=\s*(?:"([^"]*)"|\'([^\']*)\'|None)', re.M
)


def _quick_head() -> str | None:
    """The single head read from the version files' ``revision`` / ``down_revision`` lines,
    without importing alembic (every command that opens a home checks the schema)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (HERE / "versions").glob("*.py"):
        found = {m.group(1): m.group(2) or m.group(3) for m in _REV.finditer(path.read_text())}
        if "revision" not in found or not found["revision"]:
            return None
        revisions.add(found["revision"])
        if found.get("down_revision"):
            parents.add(found["down_revision"])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def head_revision() -> str:
    quick = _quick_head()
    if quick is not None:
        return quick
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return {rev.revision for rev in script.walk_revisions()}
