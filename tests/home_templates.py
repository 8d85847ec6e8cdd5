"""The ``home`` fixture's template homes (no tests here): ``init_home`` runs once per test
process for each kind of home (policy text, start time, SQLite file inside or beside the
home), and every later home of that kind is a copy of its folder (and SQLite file), opened
with ``open_context`` as ``init_home`` opens a new one. A copy holds what ``init_home`` would
have written (the policy, settings, the database at the newest schema with the policy as
version one, the signed audit head); only its keys are the template's. So:

- a home comes from a template only where ``init_home`` would do exactly what it did for
  the template: a ``ManualClock`` (its time is part of the kind), SQLite (PostgreSQL and
  MariaDB homes are made by ``init_home`` itself), a folder and a database file that do not
  exist yet, and no ``TROTH_*`` setting in the environment;
- the second home of one kind in one test is made by ``init_home``, so two homes of one
  test never share keys;
- a kind whose ``init_home`` fails is not kept: the test's own ``init_home`` fails the same.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from troth.clock import Clock, ManualClock

Kind = tuple[str, Any, bool]


class Templates:
    """Template homes under ``root`` (a session's temporary folder), made on first use."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.made: dict[Kind, Path | None] = {}

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
        from troth.db import sqlite_file
        from troth.examples import example_path
        from troth.settings import Settings

        if type(clock) is not ManualClock or target.exists() or not (example or policy):
            return None
        try:
            text = (Path(policy) if policy else example_path(example or "")).read_text()
        except Exception:
            return None  # init_home says what is wrong
        if any(f"TROTH_{name.upper()}" in os.environ for name in Settings.model_fields):
            return None
        if db is not None:
            try:
                file = sqlite_file(db)
            except Exception:
                return None
            if file is None or db != f"sqlite:///{file}" or not file.is_absolute():
                return None
            if file.exists() or not file.parent.is_dir() or file.is_relative_to(target):
                return None
        return (text, clock.now(), db is not None)

    def copy(self, kind: Kind, target: Path, db: str | None, init: Any, **init_args: Any) -> bool:
        """Make the home at ``target`` (database ``db``) a copy of the template of ``kind``,
        made first with ``init(**init_args)`` if need be; False when that failed."""
        if kind not in self.made:
            self.made[kind] = self._build(kind, init, **init_args)
        folder = self.made[kind]
        if folder is None:
            return False
        shutil.copytree(folder / "home", target, copy_function=shutil.copy)
        if db is not None:
            file = Path(db.removeprefix("sqlite:///"))
            for suffix in ("", "-wal", "-shm"):
                if (folder / f"troth.db{suffix}").exists():
                    shutil.copy(folder / f"troth.db{suffix}", f"{file}{suffix}")
            settings = target / "troth.toml"
            text = settings.read_text()
            line = f'"{_url(folder)}"'
            assert text.count(line) == 1, text  # the database line init_home wrote
            settings.write_text(text.replace(line, f'"{db}"'))
        return True

    def _build(self, kind: Kind, init: Any, **init_args: Any) -> Path | None:
        _text, start, beside = kind
        folder = self.root / f"kind{len(self.made)}"
        folder.mkdir()
        try:
            ctx = init(
                folder / "home",
                database_url=_url(folder) if beside else None,
                clock=ManualClock(start),
                **init_args,
            )
        except Exception:
            return None
        ctx.engine.dispose()
        return folder


def _url(folder: Path) -> str:
    return f"sqlite:///{folder}/troth.db"
