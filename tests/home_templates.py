"""The ``home`` fixture's template homes (no tests here): ``init_home`` runs once per test
process for each kind of home (policy text, start time, where the database is), and every
later home of that kind is a copy of its folder and database, opened with ``open_context``
as ``init_home`` opens a new one. A copy holds what ``init_home`` would have written (the
policy, settings, the database at the newest schema with the policy as version one, the
signed audit head); only its keys are the template's. The database is copied as a file
(SQLite, in the home or beside it) or, on PostgreSQL, as what ``pg_dump`` writes of the
template's schema, run in the test's own fresh schema (``tests/migrations`` checks that a
copy's schema and rows are those ``init_home`` makes). So:

- a home comes from a template only where ``init_home`` would do exactly what it did for
  the template: on a ``ManualClock`` (its time is part of the kind); on SQLite at a file
  that does not exist yet, or in a fresh schema of the test server (``dbs.pg_schema``) that
  holds nothing; at a folder that does not exist; with no ``TROTH_*`` setting in the
  environment. MariaDB homes, and any other, are made by ``init_home`` itself;
- the second home of one kind in one test is made by ``init_home``, so two homes of one
  test never share keys;
- a kind whose ``init_home`` fails (or, on PostgreSQL, whose ``pg_dump`` cannot run) is
  not kept: ``init_home`` makes those homes, and the test's own call fails as it would.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from dbs import PG_ADMIN_URL, pg_schema, schema_url
from troth.clock import Clock, ManualClock

Kind = tuple[str, Any, str]  # (policy text, start, "home" | "file" | "postgresql")
_SCHEMA = re.compile(r"t_[0-9a-f]{12}")


class Templates:
    """Template homes under ``root`` (a session's temporary folder), made on first use;
    ``close`` drops their PostgreSQL schemas."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.made: dict[Kind, Path | None] = {}
        self.dumps: dict[Kind, tuple[str, str]] = {}  # PostgreSQL: (schema, its SQL)
        self._schemas = contextlib.ExitStack()

    def close(self) -> None:
        self._schemas.close()

    def kind(
        self,
        target: Path,
        example: str | None,
        policy: Path | str | None,
        db: str | None,
        clock: Clock | None,
    ) -> Kind | None:
        """The kind of home ``init_home(target, example=example, policy_file=policy,
        database_url=db, clock=clock)`` would make, or None when it must make it itself."""
        from troth.examples import example_path
        from troth.settings import Settings

        if type(clock) is not ManualClock or target.exists() or not (example or policy):
            return None
        if any(f"TROTH_{name.upper()}" in os.environ for name in Settings.model_fields):
            return None
        try:
            text = (Path(policy) if policy else example_path(example or "")).read_text()
        except Exception:
            return None  # init_home says what is wrong
        where = "home" if db is None else _where(db, target)
        return None if where is None else (text, clock.now(), where)

    def copy(self, kind: Kind, target: Path, db: str | None, init: Any, **init_args: Any) -> bool:
        """Make the home at ``target`` (database ``db``) a copy of the template of ``kind``,
        made first with ``init(**init_args)`` if need be; False when that failed."""
        if kind not in self.made:
            self.made[kind] = self._build(kind, init, **init_args)
        folder = self.made[kind]
        if folder is None:
            return False
        where = kind[2]
        shutil.copytree(folder / "home", target, copy_function=shutil.copy)
        if where == "home":
            return True
        assert db is not None
        if where == "file":
            file = Path(db.removeprefix("sqlite:///"))
            for suffix in ("", "-wal", "-shm"):
                if (folder / f"troth.db{suffix}").exists():
                    shutil.copy(folder / f"troth.db{suffix}", f"{file}{suffix}")
            made_on = _file_url(folder)
        else:
            made_on, sql = self.dumps[kind]
            engine = sa.create_engine(PG_ADMIN_URL, poolclass=NullPool)
            try:
                with engine.begin() as conn:
                    conn.exec_driver_sql(sql.replace(f"{made_on}.", f"{_schema_of(db)}."))
            finally:
                engine.dispose()
            made_on = schema_url(made_on)
        settings = target / "troth.toml"
        text = settings.read_text()
        line = f'"{made_on}"'
        assert text.count(line) == 1, text  # the database line init_home wrote
        settings.write_text(text.replace(line, f'"{db}"'))
        return True

    def _build(self, kind: Kind, init: Any, **init_args: Any) -> Path | None:
        _text, start, where = kind
        folder = self.root / f"kind{len(self.made)}"
        folder.mkdir()
        url = None
        if where == "file":
            url = _file_url(folder)
        elif where == "postgresql":
            if shutil.which("pg_dump") is None:
                return None
            url = self._schemas.enter_context(pg_schema())
        try:
            ctx = init(folder / "home", database_url=url, clock=ManualClock(start), **init_args)
        except Exception:
            return None
        ctx.engine.dispose()
        if url is not None and where == "postgresql":
            sql = _dump(_schema_of(url))
            if sql is None:
                return None
            self.dumps[kind] = (_schema_of(url), sql)
        return folder


def _where(db: str, target: Path) -> str | None:
    """Where a database URL given to ``init_home`` is, when a template can be copied
    there: "file" (a SQLite file that does not exist yet, outside ``target``) or
    "postgresql" (an empty schema of the test server made by ``dbs.pg_schema``)."""
    from troth.db import sqlite_file

    try:
        file = sqlite_file(db)
    except Exception:
        return None
    if file is not None:
        if db != _file_url(file.parent, file.name) or not file.is_absolute():
            return None
        if file.exists() or not file.parent.is_dir() or file.is_relative_to(target):
            return None
        return "file"
    schema = _schema_of(db)
    if schema is None or db != schema_url(schema):
        return None
    engine = sa.create_engine(PG_ADMIN_URL, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            held = conn.execute(
                sa.text("SELECT count(*) FROM pg_class c JOIN pg_namespace n"
                        " ON n.oid = c.relnamespace WHERE n.nspname = :s"), {"s": schema},
            ).scalar()  # fmt: skip
    except sa.exc.SQLAlchemyError:
        return None
    finally:
        engine.dispose()
    return "postgresql" if held == 0 else None


def _dump(schema: str) -> str | None:
    """The SQL that makes ``schema`` again, rows and all (``pg_dump``), less its CREATE
    SCHEMA (the test's schema exists) and psql's own commands; None if it cannot run."""
    url = sa.make_url(PG_ADMIN_URL)
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    args = ["pg_dump", "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432)]
    args += ["-U", url.username or "postgres", "-d", url.database or "", "--schema", schema]
    args += ["--no-owner", "--inserts"]
    try:
        done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    lines = done.stdout.splitlines()
    kept = [x for x in lines if not x.startswith(("\\", f"CREATE SCHEMA {schema};"))]
    return "\n".join(kept)


def _schema_of(url: str) -> str | None:
    """The schema a ``dbs.pg_schema`` URL puts first on the search path."""
    prefix = schema_url("")
    schema = url.removeprefix(prefix)
    return schema if url.startswith(prefix) and _SCHEMA.fullmatch(schema) else None


def _file_url(folder: Path, name: str = "troth.db") -> str:
    return f"sqlite:///{folder}/{name}"
