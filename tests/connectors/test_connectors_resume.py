"""Erasure survives crashes: a worker killed in the middle of a deletion (in a real
subprocess, os._exit) or after the dataset committed, and a database connection killed
mid-request, all resume to the same end state and report as an uninterrupted run."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import connected_schema as cs
from repo_paths import TESTS
from troth.clock import ManualClock
from troth.connectors import Connector, JobState, JobStore, StepState, parse_datasets
from troth.db import make_engine
from troth.errors import ConnectorError
from troth.keys import Keyring

PERSON = {"email": cs.email_of(4), "phone": cs.phone_of(4), "customer_id": "4"}

WORKER = textwrap.dedent(
    """
    import os, sys
    sys.path.insert(0, {tests!r})
    import connected_schema as cs
    from troth.clock import ManualClock
    from troth.connectors import Connector, JobStore, parse_datasets
    from troth.db import make_engine
    from troth.keys import Keyring

    crash_on, after = sys.argv[1], int(sys.argv[2])
    seen = []

    def hook(event):
        if event == crash_on:
            seen.append(event)
            if len(seen) >= after:
                os._exit(17)  # the worker dies: no cleanup, no rollback call, no commit

    clock = ManualClock()
    connector = Connector(
        parse_datasets(cs.declaration()),
        store=JobStore(make_engine({troth_url!r}), clock),
        keys=Keyring.load(__import__("pathlib").Path({keys!r})),
        clock=clock,
        environ={{"SHOP_DATABASE_URL": {shop!r}}},
        hook=hook,
    )
    connector.erase({person!r}, job_id="crash")
    os._exit(0)
    """
)


def _fresh(shop: str) -> sa.Engine:
    engine = make_engine(shop)
    cs.md.drop_all(engine)
    cs.create_schema(engine)
    cs.populate(engine, range(1, 9))
    return engine


def _connector(tmp_path: Path, shop: str, keys: Keyring, name: str, **kw: Any) -> Connector:
    clock = ManualClock()
    store = JobStore(make_engine(f"sqlite:///{tmp_path}/{name}.db"), clock)
    store.create_tables()
    return Connector(
        parse_datasets(cs.declaration()),
        store=store,
        keys=keys,
        clock=clock,
        environ={"SHOP_DATABASE_URL": shop},
        **kw,
    )


@pytest.mark.parametrize(("event", "after"), [("statement", 1), ("committed", 1)])
def test_killed_worker_resumes_to_the_same_result(shop_url, tmp_path, event, after):
    keys = Keyring.create(tmp_path / "keys.json")
    # The uninterrupted run, for reference.
    engine = _fresh(shop_url)
    ref = _connector(tmp_path, shop_url, keys, "ref")
    [expected_report] = ref.erase(PERSON, job_id="ref")
    expected = cs.snapshot(engine)
    ref.close()
    # The same data again, and a worker that dies part-way.
    engine = _fresh(shop_url)
    before = cs.snapshot(engine)
    troth_url = f"sqlite:///{tmp_path}/troth.db"
    JobStore(make_engine(troth_url), ManualClock()).create_tables()
    script = WORKER.format(
        tests=str(TESTS),
        troth_url=troth_url,
        keys=str(tmp_path / "keys.json"),
        shop=shop_url,
        person=PERSON,
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, event, str(after)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ},
    )
    assert proc.returncode == 17, proc.stderr
    store = JobStore(make_engine(troth_url), ManualClock())
    job = store.get("crash")
    assert job.state is JobState.in_progress
    if event == "statement":
        # Killed inside the dataset's transaction: nothing is half-deleted.
        assert cs.snapshot(engine) == before
        assert job.steps[0].state is StepState.pending
    else:
        # Killed after the dataset committed but before the step was marked done.
        assert cs.snapshot(engine) == expected
        assert job.steps[0].state is StepState.applying
    resumed = Connector(
        parse_datasets(cs.declaration()),
        store=store,
        keys=keys,
        clock=ManualClock(),
        environ={"SHOP_DATABASE_URL": shop_url},
    )
    [report] = resumed.resume("crash")
    assert cs.snapshot(engine) == expected
    assert report == expected_report  # no loss of the report, no double effect
    assert store.get("crash").state is JobState.complete
    assert resumed.resume("crash") == [report]
    resumed.close()


@pytest.fixture(params=["postgresql", "mariadb"])
def server_url(request: pytest.FixtureRequest) -> str:
    if request.param == "mariadb":
        return str(request.getfixturevalue("mysql_url"))
    # Tests run in parallel against one PostgreSQL database: name this test's sessions so
    # that the kill below reaches only them.
    return f"{request.getfixturevalue('pg_url')}&application_name={VICTIM}"


VICTIM = f"troth_victim_{os.getpid()}"


def test_database_dropping_the_connection_mid_request_leaves_a_resumable_job(server_url, tmp_path):
    engine = _fresh(server_url)
    before = cs.snapshot(engine)
    keys = Keyring.create(tmp_path / "keys.json")
    killed: list[str] = []
    victim = make_engine(server_url)

    def kill_connection(event: str) -> None:
        if event != "statement" or killed:
            return
        killed.append(event)
        with victim.connect() as conn:  # our own session: find the erasing one and kill it
            if conn.dialect.name == "postgresql":
                conn.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> "
                        "pg_backend_pid() AND application_name = :name"
                        " AND state LIKE 'idle in%'"
                    ),
                    {"name": VICTIM},
                )
            else:
                ids = (
                    conn.execute(
                        sa.text(
                            "SELECT id FROM information_schema.processlist WHERE db = DATABASE() "
                            "AND id <> CONNECTION_ID()"
                        )
                    )
                    .scalars()
                    .all()
                )
                for pid in ids:
                    conn.execute(sa.text(f"KILL {int(pid)}"))

    connector = _connector(tmp_path, server_url, keys, "troth", hook=kill_connection)
    with pytest.raises(ConnectorError, match="shop: the database"):
        connector.erase(PERSON, job_id="down")
    job = connector.job("down")
    assert job.state is JobState.interrupted and job.error
    victim.dispose()
    assert cs.snapshot(engine) == before  # rolled back: nothing half-deleted
    [report] = connector.resume("down")
    assert report.tables["customers"].found == 1 and report.changed() > 0
    assert connector.job("down").state is JobState.complete
    connector.close()
