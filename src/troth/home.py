"""A home: the directory that holds one organisation's troth (settings, policy, key file,
SQLite database by default, signed audit heads, mail folder)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, select

from troth.clock import Clock, SystemClock
from troth.context import Context
from troth.db import make_engine
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
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, home / "policy.yaml")
    lines = ["# troth settings for this home; every key is documented in the README.\n"]
    if database_url:
        lines.append(f'database_url = "{database_url}"\n')
    (home / SETTINGS_FILE).write_text("".join(lines))
    Keyring.create(home / "keys.json")
    settings = Settings.for_home(home)
    upgrade_database(settings.resolved_database_url)
    ctx = open_context(home, clock=clock)
    from troth.policy.versions import record_initial_version

    record_initial_version(ctx, text)
    return ctx


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
    engine = make_engine(settings.resolved_database_url, pooled=settings.database_pooled)
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
