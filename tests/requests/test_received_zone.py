"""A receipt time typed without an offset (``--received``, ``received_at``) is read in the
zone the request is dated in: the organisation's ``time_zones`` entry for the request's
regime, else its ``time_zone`` (trial #15 D2: the help and README said "the
organisation's time zone", while a GDPR person's request was read in Lisbon time, as
``time_zones`` says). The help says so."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from cli_runner import run
from troth.clock import ManualClock

AT = "2026-07-31T23:30"


def _zones(policy: dict[str, Any]) -> None:
    org = policy["organisation"]  # jurisdictions [uk_gdpr, gdpr], default uk_gdpr
    org["time_zone"] = "America/Los_Angeles"
    org["time_zones"] = {"gdpr": "Europe/Lisbon"}


def test_a_time_without_offset_is_read_in_the_regimes_zone(home: Any, db_url: str) -> None:
    own = None if db_url.startswith("sqlite") else db_url
    t = home("mindlink", own, edit=_zones, clock=ManualClock(datetime(2026, 8, 10, tzinfo=UTC)))
    form = {"name": "Elena", "email": "elena@example.pt", "message": "hi"}
    t.collect("support_request", form, jurisdiction="gdpr")
    elena = t.requests.open("access", email="elena@example.pt", received_at=AT)
    assert elena.regime == "gdpr"
    assert elena.received_at == datetime(2026, 7, 31, 22, 30, tzinfo=UTC)  # Lisbon, UTC+1
    assert elena.received_on == date(2026, 7, 31)
    # A regime time_zones does not name: the organisation's time_zone.
    t.collect("support_request", {**form, "email": "carl@example.com"}, jurisdiction="uk_gdpr")
    carl = t.requests.open("access", email="carl@example.com", received_at=AT)
    assert carl.regime == "uk_gdpr"
    assert carl.received_at == datetime(2026, 8, 1, 6, 30, tzinfo=UTC)  # Los Angeles, UTC-7
    assert carl.received_on == date(2026, 7, 31)
    # The regime given for someone troth does not know decides it too.
    stranger = t.requests.open("access", email="x@example.pt", regime="gdpr", received_at=AT)
    assert stranger.received_at == elena.received_at


def test_the_help_names_the_regimes_zone(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # the help's text on one line
    code, out, _ = run(capsys, "requests", "open", "--help")
    assert code == 0
    said = " ".join(out.replace("│", " ").split())
    assert "in the organisation's time zone for the person's regime" in said
    assert "time_zones" in said
