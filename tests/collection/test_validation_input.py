"""Malformed input, wherever it arrives, is refused with a 4xx (or a ValidationError from
Python) that says what to fix: never a 500, never a traceback, nothing half-stored, and a
collect attempt is audited as refused. On SQLite and PostgreSQL (issue 20, item 7)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from _http import api_key, client_for, is_problem
from troth.audit.entries import list_entries
from troth.clock import ManualClock
from troth.collection.validation import (
    MAX_DEPTH,
    check_payload,
    decode_json,
    parse_date,
    parse_number,
    shape_problem,
)
from troth.engine import Troth
from troth.errors import MalformedInput, ValidationError
from troth.store.tables import records, subjects

ORDER = {
    "name": "Ada Lovelace",
    "email": "ada@example.com",
    "address": "1 Analytical Way",
    "card_number": "4111111111111111",
    "card_expiry": "12/30",
    "order_items": "one engine",
}


def deep(n: int) -> Any:
    value: Any = "x"
    for _ in range(n):
        value = [value]
    return value


# -- the pure layer ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ('{"a": NaN}', "NaN is not JSON"),
        ('{"a": Infinity}', "Infinity is not JSON"),
        ('{"a": -Infinity}', "-Infinity is not JSON"),
        ('{"a": 1e400}', "too large for a double"),
        ('{"a": -1e400}', "too large for a double"),
        ('{"a": ' + "9" * 5000 + "}", "more than 30 digits"),
        ('{"a": -' + "9" * 31 + "}", "more than 30 digits"),
        ('{"a": "\\ud800"}', "lone surrogate"),
        ('{"\\udfff": 1}', "lone surrogate"),
        ('{"a": ' + "[" * 3000 + "]" * 3000 + "}", "nested more than 32"),
        ('{"a": ' + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + "}", "nested more than 32"),
        ('{"a": 1', "not valid JSON"),
        ("", "not valid JSON"),
        ('{"a": 1, "a": 2}', "the key 'a' appears twice"),
        ('{"data": {"email": "x@example.com", "email": "y@example.com"}}', "'email' appears twice"),
        ('[{"ok": 1}, {"b": {"c": 1, "c": 1}}]', "'c' appears twice"),
    ],
)
def test_decode_json_refuses_what_is_not_strict_json(raw: str, words: str) -> None:
    with pytest.raises(MalformedInput) as exc:
        decode_json(raw.encode())
    assert words in exc.value.message
    assert exc.value.status == 400
    # The message never repeats the value (it goes to callers and the audit log).
    assert "9999999999" not in exc.value.message


def test_decode_json_accepts_the_edges_of_what_is_allowed() -> None:
    ok = {
        "a": "9" * 30,
        "b": int("9" * 30),
        "c": 1.7976931348623157e308,
        "d": "\U0001f600 é",
        "e": deep(MAX_DEPTH - 1),
        "f": -(10**29),
    }
    assert decode_json(json.dumps(ok)) == ok
    assert decode_json(b'{"pair": "\\ud83d\\ude00"}') == {"pair": "\U0001f600"}
    # One key in two objects is no duplicate.
    assert decode_json('[{"a": 1}, {"a": 2, "b": {"a": 3}}]') == [{"a": 1}, {"a": 2, "b": {"a": 3}}]
    with pytest.raises(MalformedInput, match="not UTF-8"):
        decode_json(b'{"a": "\xff"}')


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ([1], "not list"),
        ("x", "not str"),
        (7, "not int"),
        (None, "not null"),
        (True, "not bool"),
        ({1.5: "x"}, "a key is float"),
        ({"a": float("nan")}, "NaN or infinite"),
        ({"a": float("-inf")}, "NaN or infinite"),
        ({"a": 10**30}, "more than 30 digits"),
        ({"a": "\ud800"}, "lone surrogate"),
        ({"a": deep(3000)}, "nested more than"),
    ],
)
def test_check_payload_refuses_every_unstorable_shape(data: Any, words: str) -> None:
    problem = check_payload(data)
    assert problem is not None and words in problem, problem


def test_shape_problem_accepts_plain_data() -> None:
    assert shape_problem({"a": [1, 2.5, None, True, "x", {"b": 10**29}]}) is None


@pytest.mark.parametrize(
    "value",
    [
        19800101,
        1980.5,
        "19800101",
        "1980-1-1",
        "1980-02-30",
        "2026-03-02T10:00:00",
        "",
        None,
        datetime(1980, 1, 1),
        True,
        ["1980-01-01"],
        " 1980-01-01",
    ],
)
def test_parse_date_takes_only_a_date(value: Any) -> None:
    with pytest.raises(ValueError, match="not a date"):
        parse_date(value)


def test_parse_date_reads_dates_and_leap_days() -> None:
    assert parse_date("2024-02-29") == date(2024, 2, 29)
    assert parse_date(date(1980, 1, 1)) == date(1980, 1, 1)
    assert parse_date("9999-12-31") == date(9999, 12, 31)


@pytest.mark.parametrize(
    "text", ["nan", "NaN", "inf", "-inf", "1e400", "-1", "8785", "x", "", "4" * 50, "0x10"]
)
def test_parse_number_refuses_non_finite_and_out_of_range(text: str) -> None:
    with pytest.raises(ValidationError, match="hours must be a number from 0 to 8784"):
        parse_number(text, "hours", 0, 8784)


def test_parse_number_reads_numbers() -> None:
    assert parse_number(" 4.5 ", "hours", 0, 8784) == 4.5
    assert parse_number("8784", "hours", 0, 8784) == 8784


# -- collect over HTTP and from Python, on SQLite and PostgreSQL -------------------------
@pytest.fixture
def shop(home: Any, db_url: str) -> Any:
    db = db_url if not db_url.startswith("sqlite") else None
    return home("itechno", db, clock=ManualClock(), context=True)


@pytest.fixture
def shop_lite(home: Any) -> Any:
    """The same on SQLite only: for checks made before any SQL runs."""
    return home("itechno", clock=ManualClock(), context=True)


def stored(ctx: Any) -> tuple[int, int]:
    with ctx.engine.connect() as conn:
        n_records = conn.execute(select(func.count()).select_from(records)).scalar_one()
        n_subjects = conn.execute(select(func.count()).select_from(subjects)).scalar_one()
    return int(n_records), int(n_subjects)


def last_entry(ctx: Any) -> Any:
    return list_entries(ctx, newest_first=True, limit=1)[0].entry


MALFORMED_BODIES = {
    "surrogate in a text field": json.dumps({"data": {**ORDER, "name": "\ud800"}}),
    "surrogate in a key": '{"data": {"\\ud800": "x"}}',
    "date_of_birth NaN": json.dumps({"data": {**ORDER, "date_of_birth": float("nan")}}),
    "date_of_birth Infinity": json.dumps({"data": {**ORDER, "date_of_birth": float("inf")}}),
    "date_of_birth 1e400": json.dumps({"data": ORDER})[:-2] + ', "date_of_birth": 1e400}}',
    "nested 3,000 deep": '{"data": {"name": ' + "[" * 3000 + "]" * 3000 + "}}",
    "5,000-digit integer": '{"data": {"name": ' + "7" * 5000 + "}}",
    "not JSON": "{'data': 1}",
    # Which of two values was meant is unknown (parsers differ: first or last wins).
    "a field given twice": '{"data": {"name": "Ada", "name": "Eve"}}',
    "data given twice": '{"data": {"name": "Ada"}, "data": {"name": "Eve"}}',
}


def test_http_collect_refuses_malformed_bodies_with_400(shop_lite: Any) -> None:
    with client_for(shop_lite) as client:
        headers = {**api_key(client, ["admin"]), "Content-Type": "application/json"}
        for case, raw in MALFORMED_BODIES.items():
            r = client.post("/api/v1/collect/order_form", content=raw, headers=headers)
            body = is_problem(r, 400, "malformed_json")
            assert "send" in body["detail"] or "refused" in body["detail"], case
        assert stored(shop_lite) == (0, 0)


def test_http_collect_refuses_data_that_is_not_an_object(shop_lite: Any) -> None:
    with client_for(shop_lite) as client:
        headers = api_key(client, ["admin"])
        for data in ([ORDER], "Ada", 42, None, True):
            r = client.post("/api/v1/collect/order_form", json={"data": data}, headers=headers)
            body = is_problem(r, 422, "invalid_input")
            assert "data must be an object of field -> value" in body["detail"]
            entry = last_entry(shop_lite)
            assert (entry.action, entry.outcome.value) == ("collect", "deny")
        assert stored(shop_lite) == (0, 0)


NOT_BIRTH_DATES = [
    (19800101, "not a date"),
    (1980, "not a date"),
    ("19800101", "not a date"),
    ("1980-02-30", "no such day"),
    ("9999-12-31", "not a date of birth"),
    ("2026-01-06", "not a date of birth"),  # tomorrow, in the home clock
    ("1800-01-01", "not a date of birth"),
    (True, "not a date"),
]


def test_a_date_of_birth_that_is_no_date_is_refused_as_such_and_audited(shop: Any) -> None:
    with client_for(shop) as client:
        headers = api_key(client, ["admin"])
        for dob, words in NOT_BIRTH_DATES:
            r = client.post(
                "/api/v1/collect/order_form",
                json={"data": {**ORDER, "date_of_birth": dob}},
                headers=headers,
            )
            body = is_problem(r, 422, "invalid_input")
            assert words in body["detail"], body
            assert "under 18" not in body["detail"]
            assert stored(shop) == (0, 0)
            entry = last_entry(shop)
            assert (entry.action, entry.outcome.value, entry.reason) == (
                "collect",
                "deny",
                "invalid_input",
            )
            assert str(dob) not in json.dumps(entry.details)  # the value is never logged


def test_a_minor_is_still_refused_and_an_adult_collected(shop: Any) -> None:
    t = Troth(shop)
    with pytest.raises(Exception, match="under 18"):
        t.collect("order_form", {**ORDER, "date_of_birth": "2010-01-01"})
    assert last_entry(shop).reason == "minor"
    # The day before the 18th birthday is a minor; the birthday itself is not.
    with pytest.raises(Exception, match="under 18"):
        t.collect("order_form", {**ORDER, "date_of_birth": "2008-01-06"})
    r = t.collect("order_form", {**ORDER, "date_of_birth": "2008-01-05"})
    assert r.stored >= 6


UNSTORABLE = [
    [ORDER],
    "Ada",
    42,
    None,
    {**ORDER, "name": "\udc00"},
    {**ORDER, "zip_code": float("nan")},
    {**ORDER, "order_items": deep(3000)},
    {**ORDER, 7: "x"},
    {**ORDER, "date_of_birth": float("inf")},
    {**ORDER, "date_of_birth": 10**40},
]


def test_python_collect_refuses_unstorable_payloads_and_audits(shop: Any) -> None:
    t = Troth(shop)
    for data in UNSTORABLE:
        with pytest.raises(ValidationError):
            t.collect("order_form", data)
        assert stored(shop) == (0, 0)
        entry = last_entry(shop)
        assert (entry.action, entry.outcome.value, entry.reason) == (
            "collect",
            "deny",
            "invalid_input",
        ), data


def test_python_collect_many_names_the_bad_row(shop_lite: Any) -> None:
    t = Troth(shop_lite)
    with pytest.raises(ValidationError, match=r"row 1"):
        t.collect_many("order_form", [ORDER, [1]])  # type: ignore[list-item]
    assert stored(shop_lite) == (0, 0)


def test_an_unknown_jurisdiction_is_refused_not_a_crash(shop_lite: Any) -> None:
    t = Troth(shop_lite)
    with pytest.raises(ValidationError, match="unknown jurisdiction 'xx'"):
        t.collect("order_form", {**ORDER, "date_of_birth": "1980-01-01"}, jurisdiction="xx")
    assert stored(shop_lite) == (0, 0)
    assert last_entry(shop_lite).reason == "invalid_input"
    with client_for(shop_lite) as client:
        r = client.post(
            "/api/v1/collect/order_form",
            json={"data": ORDER, "jurisdiction": "xx"},
            headers=api_key(client, ["admin"]),
        )
        is_problem(r, 422, "invalid_input")


def test_requests_with_an_unknown_regime_is_422(shop_lite: Any) -> None:
    with client_for(shop_lite) as client:
        headers = api_key(client, ["admin"])
        r = client.post(
            "/api/v1/requests",
            json={"kind": "access", "email": "ada@example.com", "regime": "xx"},
            headers=headers,
        )
        body = is_problem(r, 422, "invalid_input")
        assert "gdpr" in body["detail"]
    t = Troth(shop_lite)
    with pytest.raises(ValidationError, match="unknown regime"):
        t.requests.open("access", email="ada@example.com", regime="Mars")


def test_a_json_body_without_content_type_is_checked_too(shop_lite: Any) -> None:
    with client_for(shop_lite) as client:
        headers = api_key(client, ["admin"])
        r = client.post(
            "/api/v1/collect/order_form",
            content=b'{"data": {"name": NaN}}',
            headers={**headers, "Content-Type": ""},
        )
        is_problem(r, 400, "malformed_json")


def test_cli_collect_gives_one_line_errors_and_audits_attempts(shop_lite: Any) -> None:
    troth = Path(sys.executable).parent / "troth"
    home = str(shop_lite.settings.home)
    cases = [
        ('{"name": NaN}', "error (malformed_json): --data is refused: NaN is not JSON"),
        ("[1]", "error (invalid_input): data must be an object of field -> value, not list"),
        (json.dumps({**ORDER, "date_of_birth": "9999-12-31"}), "not a date of birth"),
    ]
    for data, words in cases:
        run = subprocess.run(
            [str(troth), "--home", home, "collect", "order_form", "--data", data],
            capture_output=True,
            text=True,
        )
        assert run.returncode == 1, run.stderr
        assert words in run.stderr, run.stderr
        assert len(run.stderr.strip().splitlines()) == 1 and "Traceback" not in run.stderr
    assert stored(shop_lite) == (0, 0)
    assert last_entry(shop_lite).reason == "invalid_input"
