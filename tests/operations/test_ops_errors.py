"""Errors that say what to do: a malformed database URL (troth's own or a connected
dataset's) is one line naming the setting, never the password; a missing driver names the
pip line (shown in a real subprocess whose import of the driver is blocked); a connected
dataset's SQLite URL to a missing file is an error, not a new empty database; a failed
`troth init` leaves no half-made home and no tables behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import connected_schema as cs
from repo_paths import ROOT
from troth.clock import ManualClock
from troth.connectors import Connector, JobState, JobStore, parse_datasets
from troth.db import check_database_url, make_engine
from troth.errors import ConfigError, ConnectorError
from troth.home import init_home, open_context
from troth.keys import Keyring

SECRET = "hunter2-s3cret"
MALFORMED = {
    "port not a number": f"postgresql+psycopg://shop:{SECRET}@db.internal:notaport/shop",
    "not a URL": f"shop:{SECRET} at db.internal",
    "unencoded @": f"postgresql+psycopg://shop:{SECRET}@x@db.internal/shop",
    "unknown database": f"oracle9://shop:{SECRET}@db.internal/shop",
    "unknown driver": f"postgresql+nodriver://shop:{SECRET}@db.internal/shop",
    "no host": f"postgresql+psycopg://shop:{SECRET}@/shop",
}


def troth(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None, pre: str = ""):
    """`troth ARGS` in a fresh interpreter; ``pre`` runs first (an import blocker)."""
    code = f"{pre}\nimport sys\nfrom troth.cli import main\nmain(sys.argv[1:])"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        cwd=cwd,
        timeout=120,
    )


@pytest.mark.parametrize("what", sorted(MALFORMED))
def test_a_malformed_url_is_one_line_naming_the_setting(what: str) -> None:
    with pytest.raises(ConfigError) as err:
        check_database_url(MALFORMED[what], "SHOP_DATABASE_URL")
    message = err.value.message
    assert message.startswith("SHOP_DATABASE_URL")
    assert SECRET not in message and "\n" not in message


def test_init_with_a_malformed_url_creates_nothing(tmp_path: Path) -> None:
    r = troth(
        "init",
        "home",
        "--example",
        "mindlink",
        "--database",
        MALFORMED["port not a number"],
        cwd=tmp_path,
    )
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "--database" in lines[0] and "percent-encoded" in lines[0]
    assert SECRET not in r.stderr + r.stdout and "Traceback" not in r.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("module", "url", "extra"),
    [
        ("psycopg", f"postgresql+psycopg://troth:{SECRET}@127.0.0.1:5432/test", "postgres"),
        ("pymysql", f"mysql+pymysql://troth:{SECRET}@127.0.0.1:3306/test", "mysql"),
    ],
)
def test_a_missing_driver_names_the_pip_line(tmp_path: Path, module: str, url: str, extra: str):
    # The driver is really absent for this interpreter: importing it fails as it would
    # where it was never installed (None in sys.modules stops the import).
    blocker = f"import sys\nsys.modules[{module!r}] = None"
    r = troth("init", "home", "--example", "mindlink", "--database", url, cwd=tmp_path, pre=blocker)
    assert r.returncode == 1, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "database_driver_missing" in lines[0]
    assert f"pip install 'troth[{extra}]'" in lines[0]
    assert SECRET not in r.stderr
    assert list(tmp_path.iterdir()) == []
    # The extra it names exists.
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f"\n{extra} = [" in pyproject


def test_a_missing_driver_for_a_connected_dataset(tmp_path: Path) -> None:
    decl = cs.write_declaration(tmp_path / "shop.yaml")
    url = f"postgresql+psycopg://shop:{SECRET}@127.0.0.1:5432/shop"
    blocker = "import sys\nsys.modules['psycopg'] = None"
    r = troth("datasets", "check", str(decl), env={"SHOP_DATABASE_URL": url}, pre=blocker)
    assert r.returncode == 1
    assert "SHOP_DATABASE_URL uses postgresql+psycopg" in r.stdout
    assert "pip install 'troth[postgres]'" in r.stdout
    assert SECRET not in r.stdout + r.stderr and "Traceback" not in r.stderr


def test_a_malformed_dataset_url_in_the_cli_is_one_line(tmp_path: Path) -> None:
    decl = cs.write_declaration(tmp_path / "shop.yaml")
    r = troth("datasets", "check", str(decl), env={"SHOP_DATABASE_URL": MALFORMED["unencoded @"]})
    assert r.returncode == 1
    out = r.stdout.strip().splitlines()
    assert len(out) == 1 and "SHOP_DATABASE_URL" in out[0] and "%40" in out[0], r.stdout
    assert SECRET not in r.stdout + r.stderr and "Traceback" not in r.stderr


def _connector(tmp_path: Path, url: str) -> tuple[Connector, JobStore]:
    clock = ManualClock()
    store = JobStore(make_engine(f"sqlite:///{tmp_path}/troth.db"), clock)
    store.create_tables()
    connector = Connector(
        parse_datasets(cs.declaration()),
        store=store,
        keys=Keyring.create(tmp_path / "keys.json"),
        clock=clock,
        environ={"SHOP_DATABASE_URL": url},
    )
    return connector, store


def test_a_connected_sqlite_file_that_is_missing_is_an_error_not_a_new_database(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "shop" / "shop.db"
    missing.parent.mkdir()
    connector, store = _connector(tmp_path, f"sqlite:///{missing}")
    with pytest.raises(ConnectorError, match="SHOP_DATABASE_URL names the SQLite file") as err:
        connector.export({"email": "a@example.com"})
    assert "does not exist" in err.value.message
    with pytest.raises(ConnectorError, match="does not exist"):
        connector.erase({"email": "a@example.com"}, job_id="waits")
    assert store.get("waits").state is JobState.interrupted  # resumable once the path is fixed
    assert list(missing.parent.iterdir()) == []  # no empty database made
    connector.close()


def test_a_connected_malformed_url_never_shows_the_password(tmp_path: Path) -> None:
    connector, _store = _connector(tmp_path, MALFORMED["port not a number"])
    with pytest.raises(ConnectorError) as err:
        connector.export({"email": "a@example.com"})
    assert "SHOP_DATABASE_URL" in err.value.message and SECRET not in err.value.message
    connector.close()


def test_opening_a_home_whose_database_file_is_gone_creates_nothing(home: Any) -> None:
    ctx = home("mindlink", clock=ManualClock(), context=True)
    ctx.engine.dispose()
    db = ctx.home / "troth.db"
    for f in ctx.home.glob("troth.db*"):
        f.unlink()
    with pytest.raises(ConfigError, match="does not exist"):
        open_context(ctx.home)
    assert not db.exists()


def _tables(url: str) -> dict[str, int]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            names = sa.inspect(conn).get_table_names()
            return {
                n: conn.execute(sa.text(f'SELECT count(*) FROM "{n}"')).scalar_one() for n in names
            }
    finally:
        engine.dispose()


def test_init_into_a_database_with_a_clashing_table_leaves_it_as_it_was(tmp_path: Path) -> None:
    # Someone else's SQLite database that happens to hold a table named like one of ours.
    theirs = tmp_path / "theirs.db"
    url = f"sqlite:///{theirs}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE subjects (id INTEGER PRIMARY KEY, note TEXT)"))
        conn.execute(sa.text("INSERT INTO subjects (note) VALUES ('keep me')"))
    engine.dispose()
    before = _tables(url)
    with pytest.raises(Exception):  # the migration's own error (a table already exists)
        init_home(tmp_path / "new" / "home", example="mindlink", database_url=url)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["theirs.db"]  # no new/ nor home
    assert _tables(url) == before


def test_init_on_a_database_that_holds_a_troth_is_refused(tmp_path: Path, pg_url: str) -> None:
    first = init_home(tmp_path / "a", example="mindlink", database_url=pg_url)
    first.engine.dispose()
    before = _tables(pg_url)
    with pytest.raises(ConfigError, match="already holds a troth database"):
        init_home(tmp_path / "b", example="mindlink", database_url=pg_url)
    assert not (tmp_path / "b").exists()
    assert _tables(pg_url) == before


def test_init_on_an_unreachable_server_creates_nothing(tmp_path: Path) -> None:
    r = troth(
        "init",
        "home",
        "--example",
        "mindlink",
        "--database",
        f"postgresql+psycopg://troth:{SECRET}@127.0.0.1:1/none",
        cwd=tmp_path,
    )
    assert r.returncode == 1 and "database_unreachable" in r.stderr
    assert SECRET not in r.stderr and "Traceback" not in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_database_errors_never_carry_the_values(tmp_path: Path) -> None:
    # A failed statement's message (which reaches logs and tracebacks) names no value.
    engine = make_engine(f"sqlite:///{tmp_path}/x.db")
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE t (email TEXT PRIMARY KEY)"))
            conn.execute(sa.text("INSERT INTO t VALUES (:e)"), {"e": "ada@example.com"})
        with pytest.raises(sa.exc.IntegrityError) as err, engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO t VALUES (:e)"), {"e": "ada@example.com"})
        assert "ada@example.com" not in str(err.value)
        assert "hidden due to hide_parameters" in str(err.value)
    finally:
        engine.dispose()


def test_troths_own_malformed_url_is_one_line(home: Any) -> None:
    ctx = home("mindlink", clock=ManualClock(), context=True)
    ctx.engine.dispose()
    env = {"TROTH_DATABASE_URL": MALFORMED["unencoded @"]}
    for args in (("audit", "verify"), ("db", "migrate"), ("doctor",)):
        r = troth("--home", str(ctx.home), *args, env=env)
        assert r.returncode == 1, (args, r.stdout, r.stderr)
        out = (r.stdout + r.stderr).strip()
        assert "database_url has an unencoded @" in out, (args, out)
        assert SECRET not in out and "Traceback" not in out
        if args != ("doctor",):
            assert len(out.splitlines()) == 1, out


def test_init_checks_the_database_in_the_environment_too(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = init_home(tmp_path / "a", example="mindlink", database_url=pg_url)
    first.engine.dispose()
    before = _tables(pg_url)
    monkeypatch.setenv("TROTH_DATABASE_URL", pg_url)
    with pytest.raises(ConfigError, match="TROTH_DATABASE_URL already holds a troth database"):
        init_home(tmp_path / "b", example="mindlink")
    assert not (tmp_path / "b").exists()
    assert _tables(pg_url) == before
    monkeypatch.setenv("TROTH_DATABASE_URL", MALFORMED["port not a number"])
    with pytest.raises(ConfigError, match=r"^TROTH_DATABASE_URL is not a database URL") as err:
        init_home(tmp_path / "c", example="mindlink")
    assert SECRET not in err.value.message and not (tmp_path / "c").exists()
