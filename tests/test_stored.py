"""troth.stored: the column types that read times, dates, JSON documents and states back
fail closed on a value troth never writes (an empty or garbled time, a number in a date,
an impossible date, text that is not JSON, a document of another shape, a state no troth
knows): TamperedValue naming the table and column, or, inside ``tolerating()``, an
Unreadable in its place; what troth writes reads back exactly as before. And the
database's own test for such values (``Dialect.suspect_*``, what `troth audit verify`
scans with) finds every one the types refuse."""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum

import pytest
import sqlalchemy as sa

from troth.audit.unreadable import find_in
from troth.db import driver_rows, make_engine
from troth.driver import Prepared
from troth.errors import TamperedValue
from troth.stored import (
    Choice,
    Day,
    Document,
    Unreadable,
    UtcDateTime,
    is_unreadable,
    member,
    tolerating,
    unreadable_in,
)


class Colour(StrEnum):
    red = "red"
    blue = "blue"


md = sa.MetaData()
things = sa.Table(
    "stored_things",
    md,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("at", UtcDateTime),
    sa.Column("day", Day),
    sa.Column("doc", Document()),
    sa.Column("tags", Document("list")),
    sa.Column("head", Document("dict")),
    sa.Column("colour", Choice(Colour, 10)),
)
GOOD = {
    "id": 1,
    "at": datetime(2026, 5, 1, 12, 30, 15, 123456, tzinfo=UTC),
    "day": date(2026, 5, 1),
    "doc": {"a": [1, 2]},
    "tags": ["a", "b"],
    "head": {"k": "v"},
    "colour": "red",
}


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path):  # type: ignore[no-untyped-def]
    url = (
        f"sqlite:///{tmp_path}/s.db"
        if request.param == "sqlite"
        else str(request.getfixturevalue("pg_url"))
    )
    eng = make_engine(url)
    md.drop_all(eng)
    md.create_all(eng)
    with eng.begin() as conn:
        conn.execute(
            sa.insert(things),
            [
                GOOD,
                {**GOOD, "id": 2, "at": datetime(2026, 5, 2).replace(tzinfo=UTC), "colour": "blue"},
            ],
        )
    yield eng
    md.drop_all(eng)
    eng.dispose()


def _garble(engine: sa.Engine, column: str, value: str) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE stored_things SET {column} = {value} WHERE id = 2"))


def test_what_troth_writes_reads_back_as_before(engine):
    with engine.connect() as conn:
        row = conn.execute(sa.select(things).where(things.c.id == 1)).one()
        prepared = Prepared(sa.select(things).where(things.c.id == sa.bindparam("w")))
        (raw,) = prepared.all(conn, {"w": 1})
        assert find_in(conn, things.c.at) == [] and find_in(conn, things.c.colour) == []
    assert row._asdict() == GOOD and tuple(raw) == tuple(GOOD.values())
    assert row.at.tzinfo is UTC and row.colour.__class__ is str


SQLITE_ONLY = [
    ("at", "''"),
    ("at", "'garbage'"),
    ("at", "12345"),
    ("at", "'2026-02-31 09:00:00.000000'"),
    ("at", "'2026-05-02 24:00:00.000000'"),
    ("at", "'0000-01-01 00:00:00.000000'"),
    ("at", "'2026-05-02 09:00:00.0     '"),
    ("day", "''"),
    ("day", "'2026-13-01'"),
    ("day", "20260501"),
    ("doc", "'not json'"),
    ("doc", "'{\"a\": '"),
    ("tags", "''"),
]
ANYWHERE = [
    ("tags", "'\"a\"'"),
    ("tags", "'{}'"),
    ("head", "'[]'"),
    ("colour", "'green'"),
    ("colour", "''"),
]


@pytest.mark.parametrize(("column", "value"), SQLITE_ONLY + ANYWHERE)
def test_a_value_troth_never_writes_is_refused_or_unreadable_and_found(engine, column, value):
    if (column, value) in SQLITE_ONLY and engine.dialect.name != "sqlite":
        # PostgreSQL's column types (timestamptz, date, json) refuse it on the way in, or
        # read it as a real time (24:00 is the next midnight, trailing blanks are dropped):
        # no database writer can leave there a value troth cannot read.
        try:
            _garble(engine, column, value)
        except sa.exc.DBAPIError:
            return
        with engine.connect() as conn:
            got = conn.execute(sa.select(things.c[column]).order_by(things.c.id)).scalars().all()
        assert all(isinstance(v, datetime) and v.tzinfo is UTC for v in got)
        return
    _garble(engine, column, value)
    where = f"stored_things.{column}"
    with engine.connect() as conn:
        with pytest.raises(TamperedValue) as refused:
            conn.execute(sa.select(things)).all()
        assert refused.value.details == {"table": "stored_things", "column": column}
        assert value.strip("'") not in refused.value.message or not value.strip("'")
        with tolerating():
            rows = conn.execute(sa.select(things).order_by(things.c.id)).all()
        assert unreadable_in(rows[0]) == []
        assert unreadable_in(rows[1]) == [Unreadable(where)]
        assert is_unreadable(rows[1]._mapping[column])
        # The database finds it for verify: exactly that row.
        assert [(f.row, f.column) for f in find_in(conn, things.c[column])] == [("2", column)]
        # A read that never selects it is not refused.
        assert conn.execute(sa.select(things.c.id).order_by(things.c.id)).scalars().all() == [1, 2]
    # Strict again outside tolerating(): the flag is the caller's, for its own block only.
    with engine.connect() as conn, pytest.raises(TamperedValue):
        conn.execute(sa.select(things.c[column])).all()


def test_driver_rows_give_an_unreadable_never_an_exception(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/d.db")
    md.create_all(engine)
    with engine.begin() as conn:
        conn.execute(sa.insert(things), [GOOD, {**GOOD, "id": 2}])
    _garble(engine, "at", "'garbage'")
    with engine.connect() as conn:
        rows = driver_rows(conn, sa.select(things.c.id, things.c.at).order_by(things.c.id))
    assert rows[0] == (1, GOOD["at"].replace(tzinfo=None))  # the driver's naive UTC
    assert rows[1] == (2, Unreadable("stored_things.at"))
    engine.dispose()


def test_unreadables_compare_by_column_and_a_state_is_read_as_the_enum_or_refused():
    assert Unreadable("t.a") == Unreadable("t.a") != Unreadable("t.b")
    assert len({Unreadable("t.a"), Unreadable("t.a")}) == 1
    assert Unreadable("t.a") != "t.a" and repr(Unreadable("t.a")) == "<unreadable t.a>"
    assert member(Colour, "red", "t.c") is Colour.red
    for bad in ("green", Unreadable("t.c")):
        with pytest.raises(TamperedValue) as refused:
            member(Colour, bad, "t.c")
        assert refused.value.details == {"table": "t", "column": "c"}
