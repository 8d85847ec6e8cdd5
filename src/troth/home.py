"""A home: the directory that holds one organisation's troth (settings, policy, key file,
SQLite database by default, signed audit heads, mail folder)."""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, select

from troth.clock import Clock, SystemClock
from troth.context import Context
from troth.db import check_database_url, make_engine, sqlite_file
from troth.errors import ConfigError, DatabaseVersionError
from troth.keys import Keyring
from troth.policy.index import PolicyIndex
from troth.policy.loader import parse_policy
from troth.settings import SETTINGS_FILE, Settings


def init_home(
    home: Path | str,
    *,
    example: str | None = None,
    policy_file: Path | None = None,
    database_url: str | None = None,
    clock: Clock | None = None,
) -> Context:
    """Create a home: troth.toml, policy.yaml (from an example or a file), keys.json (0600)
    and the database at the newest schema, with the policy recorded as version one."""
    from troth.examples import example_path
    from troth.migrations import upgrade_database

    home = Path(home).resolve()
    if (home / SETTINGS_FILE).exists() or (home / "keys.json").exists():
        raise ConfigError(f"{home} is already a troth home; use --home {home} to work with it")
    if example is None and policy_file is None:
        raise ConfigError("give --example NAME or --policy FILE for the new home's policy")
    source = example_path(example) if example else Path(policy_file or "")
    text = source.read_text()
    parse_policy(text, str(source))  # refuse a bad policy before creating anything
    # A database troth cannot use, cannot reach or that is taken: refused before anything.
    # (given here, or in TROTH_DATABASE_URL; unset: a new SQLite file in the home)
    given = database_url or Settings.for_home(home).database_url
    setting = "--database" if database_url else "TROTH_DATABASE_URL"
    existing = _check_new_database(given, setting) if given else frozenset()
    made: list[Path] = []  # what this call creates, removed again if it fails
    drop_url: str | None = None
    try:
        for folder in reversed([home, *home.parents]):
            if not folder.exists():
                folder.mkdir()
                made.append(folder)
        made += [p for n in ("policy.yaml", SETTINGS_FILE) if not (p := home / n).exists()]
        made.append(home / "keys.json")
        shutil.copyfile(source, home / "policy.yaml")
        lines = ["# troth settings for this home; every key is documented in the README.\n"]
        if database_url:
            lines.append(f'database_url = "{database_url}"\n')
        (home / SETTINGS_FILE).write_text("".join(lines))
        Keyring.create(home / "keys.json")
        settings = Settings.for_home(home)
        url = settings.resolved_database_url
        db_file = sqlite_file(url)
        new_file = db_file is not None and not db_file.exists()
        if db_file is not None and new_file:
            made += [db_file, Path(f"{db_file}-wal"), Path(f"{db_file}-shm")]
        if not settings.resolved_heads_file.exists():
            made.append(settings.resolved_heads_file)
        # Tables to drop again: in a database given here that was already there (a server's,
        # or a SQLite file), found without a troth; a new SQLite file is removed instead.
        drop_url = url if given and not new_file else None
        upgrade_database(url)
        ctx = open_context(home, clock=clock)
        from troth.policy.versions import record_initial_version

        record_initial_version(ctx, text)
    except BaseException:
        _undo_init(made, drop_url, existing)
        raise
    return ctx


def _check_new_database(url: str, setting: str = "--database") -> frozenset[str]:
    """Refuse, before anything is created, a database URL troth cannot use, a database it
    cannot reach, and one that already holds a troth (each home seals its database with
    its own key: two homes never share one). A SQLite file that does not exist yet is
    fine (init creates it); its folder must exist. Returns the tables already there."""
    parsed = check_database_url(url, setting)
    path = sqlite_file(parsed)
    if path is not None and not path.exists():
        if not path.parent.is_dir():
            raise ConfigError(
                f"{setting} names the SQLite file {path}, whose folder does not exist;"
                " create the folder first"
            )
        return frozenset()
    engine = make_engine(url, setting=setting, create=False)
    try:
        with engine.connect() as conn:
            tables = frozenset(inspect(conn).get_table_names())
    finally:
        engine.dispose()
    if "alembic_version" in tables:
        raise ConfigError(
            f"{setting} already holds a troth database; give each home a database of its own"
            " (or use --home with the home that made it)"
        )
    return tables


def _undo_init(made: list[Path], drop_url: str | None, existing: frozenset[str]) -> None:
    """Remove what a failed ``init_home`` made: its files and folders, and the tables it
    created in a database that was already there (never a table that was there before)."""
    if drop_url is not None:
        with contextlib.suppress(Exception):
            from sqlalchemy import MetaData, Table

            import troth.schema  # noqa: F401  (every table on the metadata)
            from troth.db import metadata

            engine = make_engine(drop_url)
            try:
                with engine.begin() as conn:
                    ours = [t for t in metadata.sorted_tables if t.name not in existing]
                    metadata.drop_all(conn, tables=ours, checkfirst=True)
                    Table("alembic_version", MetaData()).drop(conn, checkfirst=True)
            finally:
                engine.dispose()
    for path in reversed(made):
        with contextlib.suppress(OSError):
            if path.is_dir():
                path.rmdir()  # only when empty: never a folder that held something else
            else:
                path.unlink(missing_ok=True)


def open_context(
    home: Path | str | None = None, *, clock: Clock | None = None, **overrides: Any
) -> Context:
    """Open an existing home: settings, policy in force, key file, database (checked to
    be at this troth's schema version)."""
    settings = Settings.for_home(home, **overrides)
    if not (settings.home / SETTINGS_FILE).exists() and not settings.database_url:
        raise ConfigError(
            f"{settings.home} is not a troth home (no {SETTINGS_FILE}); run `troth init DIR"
            " --example NAME` or pass --home"
        )
    policy_path = settings.resolved_policy_file
    try:
        text = policy_path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read the policy {policy_path}: {exc.strerror}") from exc
    index = PolicyIndex.build(parse_policy(text, str(policy_path)), text)
    keys = Keyring.load(settings.resolved_key_file)
    # A SQLite file that is not there is an error, not a new empty database.
    engine = make_engine(
        settings.resolved_database_url, create=False, pooled=settings.database_pooled
    )
    check_database_version(engine)
    return Context(
        settings=settings, engine=engine, policy=index, keys=keys, clock=clock or SystemClock()
    )


def check_database_version(engine: Any) -> None:
    """Refuse a database from a newer troth, and one that needs `troth db migrate`."""
    from sqlalchemy import MetaData, Table

    from troth.migrations import head_revision, known_revisions

    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            raise DatabaseVersionError(
                "the database has no troth schema: run `troth db migrate` (or `troth init`)"
            )
        table = Table("alembic_version", MetaData(), autoload_with=conn)
        current = conn.execute(select(table.c.version_num)).scalar()
    if current == head_revision():
        return
    if current not in known_revisions():
        raise DatabaseVersionError(
            f"the database is at schema {current}, newer than this troth knows; upgrade troth"
        )
    raise DatabaseVersionError(
        f"the database is at schema {current}; run `troth db migrate` to upgrade it"
    )
