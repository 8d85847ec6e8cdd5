"""Files troth creates are its user's only (issue 20 item 10), a long organisation name is
refused at once with a clear error instead of costing quadratic time, and concurrent
requests with one Idempotency-Key run the work once (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select

from _http import api_key, client_for
from troth.cli import main
from troth.examples import example_path
from troth.home import init_home
from troth.store.tables import records

SUPPORT = {"name": "Ada Lovelace", "email": "ada@example.com", "message": "Hello"}


def test_sqlite_database_is_created_0600_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        ctx = init_home(tmp_path / "home", example="mindlink")
    finally:
        os.umask(old)
    db = tmp_path / "home" / "troth.db"
    assert db.stat().st_mode & 0o777 == 0o600
    for side in ("troth.db-wal", "troth.db-shm"):
        path = tmp_path / "home" / side
        if path.exists():
            assert path.stat().st_mode & 0o077 == 0, side
    assert (tmp_path / "home" / "keys.json").stat().st_mode & 0o777 == 0o600
    ctx.engine.dispose()


def test_an_existing_database_file_keeps_its_mode(tmp_path: Path) -> None:
    """troth creates 0600; it does not change a file an operator made (their choice)."""
    from troth.db import create_private_database

    made = tmp_path / "mine.db"
    made.write_bytes(b"")
    made.chmod(0o640)
    create_private_database(f"sqlite:///{made}")
    assert made.stat().st_mode & 0o777 == 0o640
    create_private_database(f"sqlite:///{tmp_path}/new.db")
    assert (tmp_path / "new.db").stat().st_mode & 0o777 == 0o600
    create_private_database("sqlite://")  # in memory: nothing to create
    create_private_database(f"sqlite:///{tmp_path}/no/such/dir.db")  # left to SQLite's error
    assert not (tmp_path / "no").exists()
    # A server's database is no file: nothing is created beside the process (this once made
    # an empty ./test for every PostgreSQL URL ending in /test).
    import os

    here = Path.cwd()
    try:
        os.chdir(tmp_path)
        for url in ("postgresql+psycopg://u@127.0.0.1/shop", "mysql+pymysql://root@h/shop"):
            create_private_database(url)
        assert not (tmp_path / "shop").exists()
    finally:
        os.chdir(here)


def _init(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    try:
        main(["init", *args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out + err


@pytest.mark.parametrize("length", [201, 50_000, 100_000])
def test_long_organisation_name_is_refused_fast_and_clearly(
    tmp_path: Path, length: int, capsys: pytest.CaptureFixture[str]
) -> None:
    data = yaml.safe_load(example_path("mindlink").read_text())
    data["organisation"]["name"] = "A" * length
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump(data, sort_keys=False))
    began = time.monotonic()
    code, output = _init(capsys, str(tmp_path / "home"), "--policy", str(policy))
    took = time.monotonic() - began
    assert code == 1
    assert "organisation.name" in output and "at most 200 characters" in output
    assert took < 5, f"{took:.1f}s"
    assert not (tmp_path / "home").exists()  # nothing half-created


def test_longest_allowed_name_works(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = yaml.safe_load(example_path("mindlink").read_text())
    data["organisation"]["name"] = "B" * 200
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump(data, sort_keys=False))
    code, output = _init(capsys, str(tmp_path / "home"), "--policy", str(policy))
    assert code == 0, output
    assert "B" * 200 in output.replace("\n", "")


def test_concurrent_requests_with_one_key_run_the_work_once(mindlink: Any) -> None:
    with client_for(mindlink) as c:
        h = api_key(c, ["collect"]) | {"Idempotency-Key": "order-99"}
        answers: list[Any] = []
        barrier = threading.Barrier(4)

        def post() -> None:
            barrier.wait()
            answers.append(
                c.post("/api/v1/collect/support_request", json={"data": SUPPORT}, headers=h)
            )

        threads = [threading.Thread(target=post) for _ in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    assert [a.status_code for a in answers] == [201] * 4, [a.text for a in answers]
    assert len({a.json()["subject_id"] for a in answers}) == 1
    assert sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers) == 3
    with mindlink.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(records)).scalar_one() == 3
