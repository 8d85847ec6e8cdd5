"""A data location given to collect is read as the policy writes it: surrounding spaces
dropped and upper-cased (``nz`` is ``NZ``); any other form is refused naming ``location``
and the form expected, audited, nothing stored. Python, CLI and HTTP; SQLite and
PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from _http import api_key, client_for, is_problem
from troth.audit.entries import list_entries
from troth.collection.validation import parse_location
from troth.engine import Troth
from troth.errors import Refused, ValidationError
from troth.store.tables import records

TICKET = {"email": "ann@example.nz", "message": "help"}


@pytest.fixture
def ilign(home: Any, db_url: str) -> Any:
    """i-lign (allowed: NZ) as a Context, on SQLite and PostgreSQL."""
    return home("ilign", None if db_url.startswith("sqlite") else db_url, context=True)


def locations(ctx: Any) -> list[str]:
    with ctx.engine.connect() as conn:
        return sorted(set(conn.execute(select(records.c.location)).scalars()))


def n_records(ctx: Any) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(records)).scalar_one())


@pytest.mark.parametrize(
    ("given", "code"),
    [("NZ", "NZ"), ("nz", "NZ"), (" Nz\t", "NZ"), ("eu", "EU"), (None, None), ("  ", None)],
)
def test_parse_location_normalises(given: str | None, code: str | None) -> None:
    assert parse_location(given) == code


@pytest.mark.parametrize("given", ["NZL", "N", "US-CA", "us-ca", "1Z", "N Z", "ÑZ", 64, ["NZ"]])
def test_parse_location_refuses_other_forms_naming_the_field(given: Any) -> None:
    with pytest.raises(ValidationError) as exc:
        parse_location(given)
    assert exc.value.message.startswith("location ")
    assert "2-letter" in exc.value.message and "NZ, CA, EU" in exc.value.message
    assert exc.value.details["field"] == "location"


def test_python_collect_takes_a_lower_case_location(ilign: Any) -> None:
    t = Troth(ilign)
    t.collect("support_ticket", TICKET, location="nz")
    t.collect_many("support_ticket", [TICKET, TICKET], location=" nz ")
    assert locations(ilign) == ["NZ"]
    # Normalised, a location that is not allowed is still refused as such.
    with pytest.raises(Refused) as exc:
        t.collect("support_ticket", TICKET, location="us")
    assert exc.value.reason == "location_not_allowed"


def test_python_collect_refuses_a_malformed_location_and_audits(ilign: Any) -> None:
    t = Troth(ilign)
    for bad in ("NZL", "US-CA", "n"):
        with pytest.raises(ValidationError, match=r"^location is not a location code"):
            t.collect_many("support_ticket", [TICKET, TICKET], location=bad)
        entry = list_entries(ilign, newest_first=True, limit=1)[0].entry
        assert (entry.action, entry.outcome.value, entry.reason) == (
            "collect",
            "deny",
            "invalid_input",
        )
    assert n_records(ilign) == 0


def test_http_collect_takes_a_lower_case_location(ilign: Any) -> None:
    with client_for(ilign) as client:
        headers = api_key(client, ["admin"])
        r = client.post(
            "/api/v1/collect/support_ticket",
            json={"data": TICKET, "location": "nz"},
            headers=headers,
        )
        assert r.status_code == 201, r.text
        r = client.post(
            "/api/v1/collect/support_ticket",
            json={"data": TICKET, "location": "nzl"},
            headers=headers,
        )
        body = is_problem(r, 422, "invalid_input")
        assert "location is not a location code" in body["detail"]
    assert locations(ilign) == ["NZ"]
    assert n_records(ilign) == 2  # email and message of the first only


def test_cli_collect_takes_a_lower_case_location(home: Any) -> None:
    ctx = home("ilign", context=True)
    troth = Path(sys.executable).parent / "troth"
    base = [str(troth), "--home", str(ctx.settings.home), "collect", "support_ticket"]
    data = ["--data", json.dumps(TICKET)]
    ok = subprocess.run([*base, *data, "--location", "nz"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run([*base, *data, "--location", "US-CA"], capture_output=True, text=True)
    assert bad.returncode == 1
    assert "error (invalid_input): location is not a location code" in bad.stderr, bad.stderr
    assert locations(ctx) == ["NZ"]
