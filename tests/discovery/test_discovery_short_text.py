"""Discovery on short notes and network-address columns: a card number, an IBAN or a
national id pasted into a note of a few words is found whatever the note's length and
declared type; columns typed as network addresses are technical data; postcodes of the
policy's European locations count where the column name agrees. Decoys (order numbers,
short codes, card-shaped ids one in ten of which pass Luhn by chance) stay silent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from troth.discovery import DiscoveryService
from troth.discovery.classify import Classifier
from troth.discovery.detectors import Detectors, Kind, luhn_ok
from troth.discovery.drift import Severity
from troth.gate import Actor, ActorKind

OFFICER = Actor(ActorKind.staff, "olga", role="privacy_office")
D = Classifier(Detectors(frozenset({"GB", "DE"})))


def _card(i: int, valid: bool) -> str:
    """A 16-digit Visa-range number that passes Luhn or not."""
    body = f"4{i:014d}"
    good = next(d for d in "0123456789" if luhn_ok(body + d))
    bad = str((int(good) + 1) % 10)
    return body + (good if valid else bad)


def _orders_note(i: int) -> str:
    # A random-looking order number in a Visa range: 3 of 30 pass Luhn, as chance has it.
    return f"Bestellung {_card(7_000_000 + i, i % 10 == 0)}"


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/notes.db"
    return str(request.getfixturevalue("pg_url" if request.param == "postgresql" else "mysql_url"))


def _build(url: str) -> None:
    engine = sa.create_engine(url)
    net = {"postgresql": "INET", "mysql": "INET4"}.get(engine.dialect.name, "TEXT")
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE kunden (id INTEGER PRIMARY KEY, email VARCHAR(80), notiz TEXT,"
                " kommentar VARCHAR(40), konto VARCHAR(60), bestellung VARCHAR(40),"
                " code VARCHAR(12), ref VARCHAR(20), plz VARCHAR(5))"
            )
        )
        conn.execute(
            sa.text(f"CREATE TABLE orders (id INTEGER PRIMARY KEY, kunde_id INTEGER, ip {net})")
        )
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("ALTER TABLE orders ADD COLUMN mac MACADDR, ADD COLUMN net CIDR"))
        for i in range(30):
            conn.execute(
                sa.text("INSERT INTO kunden VALUES (:i, :e, :n, :k, :b, :o, :c, :r, :p)"),
                {
                    "i": i,
                    "e": f"k{i}@kunde.example",
                    "n": "Karte 4111 1111 1111 1111 bitte",
                    "k": f"Karte {_card(i, True)} bitte",
                    "b": "IBAN DE89 3704 0044 0532 0130 00 bitte" if i % 3 == 0 else "bar",
                    "o": _orders_note(i),
                    "c": f"AB-{1000 + i}",
                    # Bare card-shaped ids, 3 of 30 valid by chance: a value that *is* a
                    # number counts by share (60%), never as pasted.
                    "r": _card(9_000_000 + i, i % 10 == 0),
                    "p": f"{10115 + i}",
                },
            )
            params = {"i": i, "ip": f"192.0.2.{i + 1}"}
            if engine.dialect.name == "postgresql":
                conn.execute(
                    sa.text("INSERT INTO orders VALUES (:i, :i, :ip, :mac, :net)"),
                    {**params, "mac": f"08:00:2b:01:02:{i:02x}", "net": f"10.{i}.0.0/16"},
                )
            else:
                conn.execute(sa.text("INSERT INTO orders VALUES (:i, :i, :ip)"), params)
    engine.dispose()


def test_cards_and_ibans_pasted_into_short_notes_and_inet_columns_are_found(
    url: str, home: Any, monkeypatch: Any
) -> None:
    _build(url)
    monkeypatch.setenv("NOTES_URL", url)

    def edit(data: dict[str, Any]) -> None:
        data["locations"]["allowed"] = ["GB", "EU", "DE"]

    t = home("mindlink", edit=edit)
    folder = t.ctx.settings.resolved_datasets_dir
    folder.mkdir(exist_ok=True)
    decl = {
        "name": "notes",
        "url_env": "NOTES_URL",
        "tables": {
            "kunden": {
                "primary_key": "id",
                "erase": "delete_row",
                "identity": {"email": "email"},
                "columns": {"email": {"category": "contact", "erase": "hash"}},
            },
            "orders": {"primary_key": "id", "erase": "delete_row", "columns": {"kunde_id": None}},
        },
        "links": ["orders.kunde_id -> kunden.id"],
    }
    (folder / "notes.yaml").write_text(yaml.safe_dump({"datasets": [decl]}))
    report = DiscoveryService(t.ctx).scan(["notes"], rows=100, actor=OFFICER)
    assert not report.errors, report.errors
    pasted = {
        (f.column, f.category)
        for f in report.findings
        if f.code == "pasted_in_free_text" and f.severity is Severity.critical
    }
    assert pasted == {
        ("notiz", "payment_card"),
        ("kommentar", "payment_card"),
        ("konto", "financial"),
    }
    by_col = {f.column: f for f in report.findings if f.code == "undeclared_column"}
    for col in ("notiz", "kommentar", "konto"):
        assert by_col[col].category == "communications"
    assert by_col["notiz"].evidence["values_with"] == {"card": 30}
    assert by_col["konto"].evidence["values_with"] == {"iban": 10}
    assert by_col["plz"].category == "contact"
    assert by_col["ip"].category == "technical"
    if url.startswith("postgresql"):
        assert by_col["mac"].category == "technical" and by_col["mac"].evidence["by"] == "type"
        assert by_col["net"].category == "technical"
    # Decoys: order numbers in notes, short codes, bare card-shaped ids.
    for decoy in ("bestellung", "code", "ref"):
        assert decoy not in {f.column for f in report.findings}, decoy
    # Only masked shapes leave the classifier.
    text = str(report.to_dict())
    assert "4111" not in text and "DE89" not in text and "Karte" not in text


def test_a_short_note_column_of_any_type_is_searched_but_chance_luhn_hits_are_not() -> None:
    # One card in a column of notes without numbers: found.
    notes = ["ruft zurück", "ok", "Karte 5555-5555-5555-4444 bitte", "danke", "später"]
    col = D.column("note", "VARCHAR(40)", notes)
    assert col.pasted == {"card": 1} and col.by == "pasted" and not col.free_text
    assert col.example == "9999-9999-9999-9999 inside a 31-character text"
    # Order numbers: as many pass Luhn as chance says (3 of 30): not cards.
    orders = D.column("ref", "TEXT", [_orders_note(i) for i in range(30)])
    assert orders.pasted == {} and orders.kind is None
    # A note that is only the number is a value, counted by share: 2 of 5 is too few.
    bare = D.column("misc", "TEXT", ["4111111111111111", "5555555555554444", "a", "b", "c"])
    assert bare.pasted == {} and bare.kind is None
    # A US SSN in a short note only where the policy's countries have SSNs.
    assert D.column("n", "TEXT", ["SSN 123-45-6789 ok"]).pasted == {}
    us = Classifier(Detectors(frozenset({"US"})))
    assert us.column("n", "TEXT", ["SSN 123-45-6789 ok"]).pasted == {"us_ssn": 1}
    # Short codes, versions, times: nothing.
    for values in (["AB-1234", "X9", "v1.2.3"], ["12:30", "2026-01-02", "Nr. 12345"]):
        got = D.column("code", "VARCHAR(12)", values)
        assert got.pasted == {} and got.kind is None, values


def test_network_types_and_european_postcodes() -> None:
    import ipaddress

    got = D.column("addr", "INET", [ipaddress.ip_address("192.0.2.1")] * 5)
    assert got.kind is Kind.ip and got.by == "values"
    assert D.column("hw", "MACADDR", ["08:00:2b:01:02:03"]).kind is Kind.ip
    assert D.column("hw", "MACADDR", []).category == "technical"  # empty: its type says
    assert D.column("x", "TEXT", ["08:00:2b:01:02:03"]).kind is None
    # Five digits are a German postcode only where the name says so...
    assert D.column("plz", "TEXT", ["10115", "80331", "01067"]).kind is Kind.postal_code
    assert D.column("menge", "TEXT", ["10115", "80331", "01067"]).kind is None
    # ...and only for a policy with a five-digit country.
    gb_only = Classifier(Detectors(frozenset({"GB"})))
    assert gb_only.column("plz", "TEXT", ["10115", "80331"]).kind is None
    nl = Classifier(Detectors(frozenset({"NL"})))
    assert nl.column("x", "TEXT", ["1012 AB", "3511 CE", "2511 BT"]).kind is Kind.postal_code
