"""The ``home`` fixture's copied homes (tests/home_templates.py) are the homes ``init_home``
makes: the same schema (tables, columns, keys, indexes, sequences), the same number of rows
in every table, the policy as version one, and an audit log that verifies with the copy's
keys; on SQLite in the home, on SQLite beside it and on PostgreSQL."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from typing import Any

import pytest
import sqlalchemy as sa

from dbs import IN_CI, PG_ADMIN_URL, pg_schema, schema_of
from troth.audit import verify_log
from troth.clock import ManualClock
from troth.context import Context
from troth.home import init_home
from troth.policy.versions import published_versions


def _schema(ctx: Context) -> list[str]:
    """Every object of the home's database as SQL, the schema's own name left out."""
    url = ctx.engine.url
    if url.get_backend_name() == "sqlite":
        with ctx.engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT type, name, tbl_name, sql FROM sqlite_master"))
            return sorted(" | ".join(str(v) for v in r) for r in rows)
    schema = schema_of(url.render_as_string(hide_password=False))
    admin = sa.make_url(PG_ADMIN_URL)
    args = ["pg_dump", "-h", admin.host or "127.0.0.1", "-p", str(admin.port or 5432)]
    args += ["-U", admin.username or "postgres", "-d", admin.database or ""]
    args += ["--schema", schema, "--schema-only", "--no-owner"]
    dump = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return [x.replace(schema, "S") for x in dump.splitlines() if not x.startswith("\\")]


def _rows(ctx: Context) -> dict[str, int]:
    with ctx.engine.connect() as conn:
        names = sa.inspect(conn).get_table_names()
        return {n: conn.execute(sa.text(f'SELECT count(*) FROM "{n}"')).scalar_one() for n in names}


@pytest.mark.parametrize("where", ["home", "file", "postgresql"])
def test_a_copied_home_is_the_home_init_home_makes(
    home: Any, tmp_path: Any, where: str, _templates: Any, clock: ManualClock
) -> None:
    with contextlib.ExitStack() as stack:
        dbs: tuple[str | None, str | None] = (None, None)
        if where == "file":
            dbs = (f"sqlite:///{tmp_path}/copied.db", f"sqlite:///{tmp_path}/made.db")
        elif where == "postgresql":
            if shutil.which("pg_dump") is None:
                if IN_CI:
                    pytest.fail("pg_dump is missing and CI is set: PostgreSQL homes are copied")
                pytest.skip("pg_dump is missing: PostgreSQL homes are made by init_home")
            dbs = (stack.enter_context(pg_schema()), stack.enter_context(pg_schema()))
        copied: Context = home("phone-service", dbs[0], name="copied", context=True)
        keys = (copied.home / "keys.json").read_bytes()
        assert any(
            folder is not None and (folder / "home" / "keys.json").read_bytes() == keys
            for folder in _templates.made.values()
        ), "this home was not copied from a template"
        made = init_home(
            tmp_path / "made",
            example="phone-service",
            database_url=dbs[1],
            clock=ManualClock(clock.now()),  # the time the copy's template was made at
        )
        stack.callback(made.engine.dispose)
        assert _schema(copied) == _schema(made)
        assert _rows(copied) == _rows(made)
        assert [v.to_dict() for v in published_versions(copied)] == [
            v.to_dict() for v in published_versions(made)
        ]
        report = verify_log(copied)
        assert report.ok and report.unsigned == 0, report.problem
