"""``Connector.export_many`` (issue 19): for every person the same export as ``export`` of
their identities alone (rows, order, shape), rows two people reach in both; over the shop
on SQLite, PostgreSQL and MariaDB (whose text comparison ignores case), and over random
small linked datasets with cycles and shared rows; and one set of SELECTs for the batch,
however many people are in it."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import connected_schema as cs
from troth.clock import ManualClock
from troth.connectors import Connector, Identities, JobStore, parse_datasets
from troth.db import make_engine
from troth.keys import Keyring

PEOPLE = range(1, 10)


def _connector(tmp_path: Path, text: str, engines: dict[str, sa.Engine]) -> Connector:
    clock = ManualClock()
    store = JobStore(make_engine(f"sqlite:///{tmp_path}/troth.db"), clock)
    store.create_tables()
    keys = Keyring.create(tmp_path / "keys.json")
    return Connector(parse_datasets(text), store=store, keys=keys, clock=clock, engines=engines)


@pytest.fixture
def shop(shop_url: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    engine = make_engine(shop_url)
    cs.create_schema(engine)
    cs.populate(engine, PEOPLE)
    at = datetime(2026, 1, 1, 9, 0)
    with engine.begin() as conn:
        # A ticket written from person 1's address about person 2's account: both reach it
        # (and its messages); a call from person 3's phone on person 4's account.
        conn.execute(
            cs.support_tickets.insert(),
            [
                {"id": 9001, "customer_id": 2, "email": cs.email_of(1), "subject": "joint",
                 "opened_at": at},
            ],
        )  # fmt: skip
        conn.execute(
            cs.ticket_messages.insert(),
            [{"id": 9002, "ticket_id": 9001, "sent_at": at, "body": "for both of us"}],
        )
        conn.execute(
            cs.calls.insert(),
            [
                {"id": 9003, "customer_id": 4, "caller": cs.phone_of(3), "destination": "x",
                 "started_at": at, "duration_s": 5},
            ],
        )  # fmt: skip
        # The same address in capitals: MariaDB's default collation matches it, the others
        # do not; export and export_many must agree either way.
        conn.execute(
            cs.newsletter_signups.insert(),
            [{"id": 9004, "email": cs.email_of(5).upper(), "signed_up_at": at, "ip": None}],
        )
    connector = _connector(tmp_path, cs.declaration(), {"shop": engine})
    yield {"engine": engine, "connector": connector}
    connector.close()
    engine.dispose()


def _people() -> dict[str, Identities]:
    people = {
        f"p{i}": Identities.of({"email": cs.email_of(i), "phone": cs.phone_of(i)}) for i in PEOPLE
    }
    people["p1-again"] = Identities.of({"email": cs.email_of(1)})  # a second request
    people["nobody"] = Identities.of({"email": "nobody@example.com"})
    people["by-id"] = Identities.of({"customer_id": "7"})
    people["upper"] = Identities.of({"email": cs.email_of(8).upper()})
    return people


def test_export_many_is_export_per_person(shop: dict[str, Any]) -> None:
    connector: Connector = shop["connector"]
    people = _people()
    many = connector.export_many(people)
    assert set(many) == set(people)
    for key, ids in people.items():
        alone = connector.export(ids)
        assert [d.to_dict() for d in many[key]] == [d.to_dict() for d in alone], key
    # Not two equally empty answers: the shared rows are in both, nobody has nothing.
    tickets = {
        k: {r["id"] for r in many[k][0].tables["support_tickets"].rows} for k in ("p1", "p2")
    }
    assert 9001 in tickets["p1"] and 9001 in tickets["p2"]
    msgs = {r["id"] for r in many["p2"][0].tables["ticket_messages"].rows}
    assert 9002 in msgs
    calls = {k: {r["id"] for r in many[k][0].tables["calls"].rows} for k in ("p3", "p4")}
    assert 9003 in calls["p3"] and 9003 in calls["p4"]
    assert many["nobody"][0].tables == {}
    assert many["by-id"][0].tables["customers"].rows[0]["email"] == cs.email_of(7)


def test_a_batch_reads_with_the_same_statements_however_many_people(
    shop: dict[str, Any],
) -> None:
    engine: sa.Engine = shop["engine"]
    connector: Connector = shop["connector"]
    connector.export({"email": cs.email_of(1)})  # reflect the schema first
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        counts = {}
        for n in (1, 3, 9):
            seen.clear()
            connector.export_many(
                {
                    f"p{i}": {"email": cs.email_of(i), "phone": cs.phone_of(i)}
                    for i in range(1, n + 1)
                }
            )
            counts[n] = len(seen)
        seen.clear()
        for i in range(1, 10):
            connector.export({"email": cs.email_of(i), "phone": cs.phone_of(i)})
        one_by_one = len(seen)
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert counts[1] == counts[3] == counts[9], counts
    # One by one, nine people cost about nine times as many (fewer for those who never ordered).
    assert one_by_one > 5 * counts[9], (one_by_one, counts)


# -- random small datasets ---------------------------------------------------------------

_RANDOM = """\
datasets:
  - name: web
    url_env: WEB_URL
    location: GB
    tables:
      accounts:
        primary_key: id
        erase: delete_row
        identity: {email: email, phone: phone}
        columns:
          email: contact
          phone: contact
          team: account_history
      posts:
        primary_key: id
        erase: delete_row
        identity: {email: author}
        columns:
          account_id:
          author: contact
          topic: communications
      topics:
        primary_key: [code, lang]
        erase: delete_row
        columns:
          code:
          lang:
          owner_id:
          title: communications
    links:
      - posts.account_id -> accounts.id
      - topics.code -> posts.topic
      - accounts.team -> topics.owner_id
"""

_EMAILS = [f"u{i}@example.com" for i in range(6)]
_PHONES = [f"+4470000000{i:02d}" for i in range(6)]


def _random_rows(rng: random.Random) -> dict[str, list[dict[str, Any]]]:
    """Few distinct values, so people share rows and links form cycles
    (accounts -> posts -> topics -> accounts)."""
    small = lambda n: rng.randint(0, n)  # noqa: E731
    accounts = [
        {
            "id": i,
            "email": rng.choice([*_EMAILS, None]),
            "phone": rng.choice([*_PHONES, None]),
            "team": rng.choice([None, small(5)]),
        }
        for i in range(rng.randint(0, 8))
    ]
    posts = [
        {
            "id": i,
            "account_id": rng.choice([None, small(8)]),
            "author": rng.choice([*_EMAILS, None]),
            "topic": rng.choice([None, f"t{small(4)}"]),
        }
        for i in range(rng.randint(0, 10))
    ]
    topics = {
        (f"t{small(4)}", rng.choice(["en", "fr"])): small(5) for _ in range(rng.randint(0, 8))
    }
    return {
        "accounts": accounts,
        "posts": posts,
        "topics": [
            {"code": c, "lang": lang, "owner_id": o, "title": f"{c}-{lang}"}
            for (c, lang), o in topics.items()
        ],
    }


def _web(tmp_path: Path, email_collation: str | None = None) -> tuple[sa.Engine, sa.MetaData]:
    """The tables of the _RANDOM declaration in a SQLite file (accounts.email with
    ``email_collation``)."""
    engine = make_engine(f"sqlite:///{tmp_path}/web.db")
    md = sa.MetaData()
    sa.Table("accounts", md, sa.Column("id", sa.Integer, primary_key=True),
             sa.Column("email", sa.String(80, collation=email_collation)),
             sa.Column("phone", sa.String(20)), sa.Column("team", sa.Integer))  # fmt: skip
    sa.Table("posts", md, sa.Column("id", sa.Integer, primary_key=True),
             sa.Column("account_id", sa.Integer), sa.Column("author", sa.String(80)),
             sa.Column("topic", sa.String(10)))  # fmt: skip
    sa.Table("topics", md, sa.Column("code", sa.String(10), primary_key=True),
             sa.Column("lang", sa.String(2), primary_key=True), sa.Column("owner_id", sa.Integer),
             sa.Column("title", sa.String(20)))  # fmt: skip
    md.create_all(engine)
    return engine, md


@pytest.mark.parametrize("seed", range(25))
def test_export_many_equals_export_over_random_datasets(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    engine, md = _web(tmp_path)
    with engine.begin() as conn:
        for name, rows in _random_rows(rng).items():
            if rows:
                conn.execute(md.tables[name].insert(), rows)
    connector = _connector(tmp_path, _RANDOM, {"web": engine})
    try:
        people = {
            f"q{i}": Identities.of(
                {
                    "email": rng.sample(_EMAILS, rng.randint(0, 2)),
                    "phone": rng.sample(_PHONES, rng.randint(0, 1)),
                }
            )
            for i in range(rng.randint(1, 6))
        }
        many = connector.export_many(people)
        for key, ids in people.items():
            alone = connector.export(ids)
            assert [d.to_dict() for d in many[key]] == [d.to_dict() for d in alone], (seed, key)
    finally:
        connector.close()
        engine.dispose()


def test_a_column_with_its_own_collation_still_gives_each_person_their_rows(
    tmp_path: Path,
) -> None:
    """SQLite's COLLATE NOCASE matches ``U1@Example.COM`` to ``u1@example.com``: a row the
    comparison here would give nobody makes the batch walk each person alone."""
    engine, md = _web(tmp_path, email_collation="NOCASE")
    with engine.begin() as conn:
        conn.execute(md.tables["accounts"].insert(), [
            {"id": 1, "email": "U1@Example.COM", "phone": None, "team": None},
            {"id": 2, "email": "u2@example.com", "phone": None, "team": None},
        ])  # fmt: skip
        conn.execute(md.tables["posts"].insert(), [
            {"id": 7, "account_id": 1, "author": None, "topic": None},
        ])  # fmt: skip
    connector = _connector(tmp_path, _RANDOM, {"web": engine})
    try:
        people = {
            "one": Identities.of({"email": ["u1@example.com"]}),
            "two": Identities.of({"email": ["u2@example.com"]}),
        }
        many = connector.export_many(people)
        for key, ids in people.items():
            alone = connector.export(ids)
            assert [d.to_dict() for d in many[key]] == [d.to_dict() for d in alone], key
        [one] = many["one"]
        assert [r["id"] for r in one.tables["accounts"].rows] == [1]  # found, as alone
        assert [r["id"] for r in one.tables["posts"].rows] == [7]
    finally:
        connector.close()
        engine.dispose()
