"""troth.driver.Prepared runs a statement on the driver with the same bind and result
processing as SQLAlchemy: every type troth stores comes back as Core returns it, on SQLite
and PostgreSQL; statements that cannot be compiled once are refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from troth.db import JsonType, UtcDateTime, make_engine
from troth.driver import Prepared

md = sa.MetaData()
things = sa.Table(
    "prepared_things",
    md,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("at", UtcDateTime),
    sa.Column("tags", JsonType),
    sa.Column("blob", sa.LargeBinary),
    sa.Column("flag", sa.Boolean),
    sa.Column("note", sa.String(50)),
)
ROW = {
    "id": 1,
    "at": datetime(2026, 5, 1, 12, 30, 15, 123456, tzinfo=UTC),
    "tags": ["a", "b"],
    "blob": b"\x00\x01\xff",
    "flag": True,
    "note": "x'; DROP TABLE prepared_things; --",
}
INSERT = Prepared(sa.insert(things))
BY_ID = Prepared(sa.select(things).where(things.c.id == sa.bindparam("wanted")))
FLAG_OFF = Prepared(
    sa.update(things).where(things.c.id == sa.bindparam("wanted")).values(flag=False)
)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path):  # type: ignore[no-untyped-def]
    url = (
        f"sqlite:///{tmp_path}/p.db"
        if request.param == "sqlite"
        else str(request.getfixturevalue("pg_url"))
    )
    eng = make_engine(url)
    md.drop_all(eng)
    md.create_all(eng)
    yield eng
    md.drop_all(eng)
    eng.dispose()


def test_values_round_trip_as_through_core(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        assert INSERT.execute(conn, ROW) == 1
    with engine.connect() as conn:
        core = conn.execute(sa.select(things)).one()
        (prepared,) = BY_ID.all(conn, {"wanted": 1})
    assert tuple(core) == prepared
    assert dict(zip(things.c.keys(), prepared, strict=True)) == ROW
    with engine.begin() as conn:
        assert FLAG_OFF.execute(conn, {"wanted": 1}) == 1
        assert FLAG_OFF.execute(conn, {"wanted": 2}) == 0
    with engine.connect() as conn:
        assert BY_ID.all(conn, {"wanted": 1})[0][4] is False
        assert BY_ID.all(conn, {"wanted": 2}) == []


def test_runs_inside_the_callers_transaction(engine: sa.Engine) -> None:
    with pytest.raises(RuntimeError), engine.begin() as conn:
        INSERT.execute(conn, ROW)
        raise RuntimeError("roll back")
    with engine.connect() as conn:
        assert BY_ID.all(conn, {"wanted": 1}) == []


def test_a_missing_parameter_and_an_in_list_are_refused(engine: sa.Engine) -> None:
    with engine.connect() as conn, pytest.raises(KeyError):
        BY_ID.all(conn, {})
    expanding = Prepared(
        sa.select(things).where(things.c.id.in_(sa.bindparam("ids", expanding=True)))
    )
    with engine.connect() as conn, pytest.raises(ValueError, match="expanding"):
        expanding.all(conn, {"ids": [1]})
