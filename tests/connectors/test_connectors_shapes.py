"""The one-person paths (issue 19): erasure statements are built once per shape and then
only executed, a batch of people erases like the same people one by one, and an erasure
without a job id stores its plan with its first record (a failure still leaves the job,
interrupted)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import connected_schema as cs
from troth.clock import ManualClock
from troth.connectors import Connector, JobState, JobStore, parse_datasets
from troth.connectors.jobs import connector_jobs, connector_steps
from troth.db import make_engine
from troth.errors import ConnectorError
from troth.keys import Keyring


def _connector(tmp_path: Path, url: str, name: str, keys: Keyring) -> Connector:
    store = JobStore(make_engine(f"sqlite:///{tmp_path}/{name}.db"), ManualClock())
    store.create_tables()
    return Connector(
        parse_datasets(cs.declaration()),
        store=store,
        keys=keys,
        clock=store.clock,
        environ={"SHOP_DATABASE_URL": url},
    )


def _person(i: int) -> dict[str, Any]:
    return {"email": cs.email_of(i), "phone": cs.phone_of(i), "customer_id": str(i)}


def _hashless(engine: sa.Engine) -> dict[str, list[tuple[str, ...]]]:
    return {
        t: [tuple("h:" if v.startswith("h:") else v for v in r) for r in rows]
        for t, rows in cs.snapshot(engine).items()
    }


def test_statements_are_built_once_per_shape(shop_url: str, tmp_path: Path) -> None:
    engine = make_engine(shop_url)
    cs.md.drop_all(engine)
    cs.create_schema(engine)
    cs.populate(engine, range(1, 25))
    c = _connector(tmp_path, shop_url, "troth", Keyring.create(tmp_path / "k.json"))
    c.erase(_person(4))  # person 4 and 10: the same shape of data (i % 6 == 4)
    runner = c.runner("shop")
    built = dict(runner._writer._stmts)
    selects = dict(runner.plan.selects)
    [report] = c.erase(_person(10))
    assert report.changed() > 0
    assert runner._writer._stmts.keys() == built.keys()  # nothing new built for the same shape
    assert all(runner._writer._stmts[k] is built[k] for k in built)
    assert runner.plan.selects.keys() == selects.keys()
    assert cs.email_of(10) not in str(cs.snapshot(engine)["customers"])
    c.close()
    engine.dispose()


def test_a_batch_erases_like_one_by_one(shop_url: str, tmp_path: Path) -> None:
    keys = Keyring.create(tmp_path / "k.json")
    people = [1, 2, 3, 4, 5, 6, 7]
    engine = make_engine(shop_url)
    cs.md.drop_all(engine)
    cs.create_schema(engine)
    cs.populate(engine, range(1, 13))
    one = _connector(tmp_path, shop_url, "one", keys)
    for i in people:
        one.erase(_person(i), job_id=f"p{i}")
    expected = cs.snapshot(engine)
    one.close()
    cs.md.drop_all(engine)
    cs.create_schema(engine)
    cs.populate(engine, range(1, 13))
    many = _connector(tmp_path, shop_url, "many", keys)
    union = {k: [_person(i)[k] for i in people] for k in ("email", "phone", "customer_id")}
    [report] = many.erase(union, job_id="batch")
    assert cs.snapshot(engine) == expected  # the same keys: the same hashes too
    assert report.tables["customers"].found == len(people)
    assert all(cs.email_of(i) in str(expected["customers"]) for i in range(8, 13))
    many.close()
    engine.dispose()


def test_job_without_id_is_stored_with_its_first_record(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/shop.db"
    engine = make_engine(url)
    cs.create_schema(engine)
    cs.populate(engine, range(1, 5))
    c = _connector(tmp_path, url, "troth", Keyring.create(tmp_path / "k.json"))
    c.erase(_person(2))
    with c.store.engine.connect() as conn:
        jobs = conn.execute(sa.select(connector_jobs.c.state, connector_jobs.c.identities)).all()
        steps = conn.execute(sa.select(connector_steps.c.state, connector_steps.c.report)).all()
    assert [(s, i) for s, i in jobs] == [(JobState.complete.value, None)]
    assert [s for s, _ in steps] == ["done"] and steps[0][1]["tables"]["customers"]["found"] == 1
    c.close()
    down = Connector(
        parse_datasets(cs.declaration()),
        store=c.store,
        keys=c.keys,
        clock=c.clock,
        environ={"SHOP_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"},
    )
    with pytest.raises(ConnectorError, match="cannot be reached"):
        down.erase({"email": "a@example.com"})
    with c.store.engine.connect() as conn:
        states = sorted(conn.execute(sa.select(connector_jobs.c.state)).scalars())
    assert states == [JobState.complete.value, JobState.interrupted.value]
    engine.dispose()
