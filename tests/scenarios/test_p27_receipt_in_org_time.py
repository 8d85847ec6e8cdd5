"""P27/P23: a request is dated on the day it arrived where the organisation is, from the
time it really arrived (an e-mail's Date header, --received, the API's received_at), and its
deadline and acknowledgement count from that day. A receipt time in the future, or one
that does not parse, is refused with nothing stored or sent."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from _http import api_key, client_for, is_problem
from requests_helpers import mails_for
from troth.cli import main
from troth.clock import ManualClock
from troth.errors import ValidationError
from troth.notices.outbox import outbox
from troth.requests.deadlines import due_date
from troth.requests.tables import requests as requests_table


def _counts(t: Any) -> tuple[int, int]:
    with t.ctx.engine.connect() as conn:
        reqs = conn.execute(select(func.count()).select_from(requests_table)).scalar_one()
        mails = conn.execute(select(func.count()).select_from(outbox)).scalar_one()
    return int(reqs), int(mails)


def _eml(
    folder: Path, name: str, sender: str, date_header: str | None, received: str | None = None
) -> Path:
    msg = EmailMessage()
    if received is not None:
        msg["Received"] = f"from mail.example by mx.ilign.example; {received}"
    msg["From"] = sender
    msg["To"] = "privacy@ilign.example"
    msg["Subject"] = "Copy of my data"
    msg["Message-ID"] = f"<{name}@mail.example>"
    if date_header is not None:
        msg["Date"] = date_header
    msg.set_content("Please send me a copy of my data.")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.eml").write_bytes(bytes(msg))
    return folder / f"{name}.eml"


def test_p27_auckland_morning_is_dated_the_local_day(
    home: Any, db_url: str, clock: ManualClock
) -> None:
    # 10:00 Monday 20 Dec 2027 in Auckland (NZDT, UTC+13) is 21:00 Sunday 19 Dec UTC.
    clock.set(datetime(2027, 12, 19, 21, 0, tzinfo=UTC))
    t = home("ilign", db_url)
    req = t.requests.open("access", email="kiri@example.com")
    assert req.received_at == datetime(2027, 12, 19, 21, 0, tzinfo=UTC)
    assert req.received_on == date(2027, 12, 20)
    # 20 working days after the day of receipt, skipping 25 Dec - 15 Jan (NZ s.3).
    assert req.due_at == due_date("nz", date(2027, 12, 20)) == date(2028, 2, 8)
    ack = mails_for(t, req.id)[0]["body_text"]
    assert "on 2027-12-20" in ack and "by 2028-02-08" in ack and "2027-12-19" not in ack
    # The same instant for a UTC organisation would be the Sunday: the zone decides.
    # (A home of its own: two homes never share one database, each seals it with its key.)
    utc = home("ilign", None, edit=lambda d: d["organisation"].pop("time_zone"), name="utc")
    assert utc.requests.open("access", email="kiri@example.com").received_on == date(2027, 12, 19)


def test_p27_received_given_counts_from_then_and_future_refused(
    home: Any, db_url: str, clock: ManualClock
) -> None:
    clock.set(datetime(2027, 1, 4, 9, 0, tzinfo=UTC))  # Monday, London (GMT)
    t = home("mindlink", db_url)
    # A letter that arrived on Friday afternoon, recorded on Monday: wall-clock London time.
    friday = t.requests.open("access", email="ann@example.com", received_at="2027-01-01T16:30")
    assert friday.received_on == date(2027, 1, 1)
    assert friday.received_at == datetime(2027, 1, 1, 16, 30, tzinfo=UTC)
    assert friday.due_at == due_date("uk_gdpr", date(2027, 1, 1))
    # With an offset it is taken as given; a bare date is that day where the org is.
    offset = t.requests.open("access", email="b@example.com", received_at="2026-12-31T23:30-05:00")
    assert offset.received_on == date(2027, 1, 1)
    leap = t.requests.open("access", email="c@example.com", received_at=date(2027, 1, 3))
    assert leap.received_on == date(2027, 1, 3)
    before = _counts(t)
    for bad, code in (
        ("2027-01-04T09:01Z", "received_in_future"),
        ("2027-01-05", "received_in_future"),
        ("next friday", "invalid_received"),
        ("2027-02-30T10:00", "invalid_received"),
        ("0001-01-01T00:00+14:00", "invalid_received"),
        ("2017-01-01T16:30", "received_too_old"),
    ):
        with pytest.raises(ValidationError) as err:
            t.requests.open("access", email="d@example.com", received_at=bad)
        assert err.value.code == code, bad
        assert "received" in str(err.value)
    assert _counts(t) == before  # nothing stored, nothing mailed


def test_p27_ingest_dates_from_the_date_header(
    home: Any, db_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    clock.set(datetime(2027, 3, 8, 8, 0, tzinfo=UTC))  # ingested Monday morning
    t = home("ilign", db_url)
    box = tmp_path / "inbox"
    # Sent Friday 17:45 Auckland time (NZDT).
    _eml(box, "fri", "ann@example.com", "Fri, 05 Mar 2027 17:45:00 +1300")
    # A sender whose clock runs a day fast: cannot have arrived after we read it.
    _eml(box, "fast", "bob@example.com", "Wed, 10 Mar 2027 09:00:00 +1300")
    _eml(box, "none", "cat@example.com", None)
    _eml(box, "junk", "dan@example.com", "the day before yesterday")
    # The organisation's server stamped it Saturday morning, whatever the sender's clock says.
    _eml(
        box,
        "stamped",
        "eve@example.com",
        "Mon, 01 Mar 2027 09:00:00 +1300",
        received="Sat, 06 Mar 2027 08:15:00 +1300",
    )
    # Two years in a mailbox: not guessed, left for a person to open with --received.
    _eml(box, "ancient", "old@example.com", "Tue, 05 Mar 2025 10:00:00 +1300")
    report = t.requests.ingest(box)
    (stale,) = report.unrecognised
    assert stale.sender == "old@example.com" and "more than a year ago" in (stale.problem or "")
    opened = {r.email: r for r in report.opened}
    assert opened["ann@example.com"].received_on == date(2027, 3, 5)
    assert opened["ann@example.com"].due_at == due_date("nz", date(2027, 3, 5))
    assert opened["eve@example.com"].received_on == date(2027, 3, 6)
    now = clock.now()
    for ref in ("bob@example.com", "cat@example.com", "dan@example.com"):
        assert opened[ref].received_at == now, ref
        assert opened[ref].received_on == date(2027, 3, 8), ref


def test_p27_cli_received_option(home: Any, capsys: pytest.CaptureFixture[str]) -> None:
    t = home("mindlink")  # the CLI runs on the real clock
    today = datetime.now(UTC).astimezone(t.ctx.policy.policy.organisation.zone()).date()
    past, future = str(today - timedelta(days=3)), str(today + timedelta(days=2))
    home_dir = str(t.ctx.home)

    def run(*args: str) -> tuple[int, str, str]:
        try:
            main(["--home", home_dir, *args])
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    code, out, err = run(
        "requests", "open", "access", "--email", "a@example.com", "--received", past
    )
    assert code == 0 and f"received {past}" in out, (out, err)
    before = _counts(t)
    code, _, err = run(
        "requests", "open", "access", "--email", "a@example.com", "--received", future
    )
    assert code == 1 and "in the future" in err
    code, _, err = run(
        "requests", "open", "access", "--email", "a@example.com", "--received", "yesterday"
    )
    assert code == 1 and "not a date and time" in err
    assert _counts(t) == before


def test_p27_api_received_at(home: Any, db_url: str) -> None:

    ctx = home("mindlink", db_url, clock=ManualClock(), context=True)
    now = ctx.clock.now()
    with client_for(ctx) as c:
        admin = api_key(c, ["requests:admin"])
        earlier = (now - timedelta(days=3)).isoformat()
        r = c.post(
            "/api/v1/requests",
            json={"kind": "access", "email": "a@example.com", "received_at": earlier},
            headers=admin,
        )
        assert r.status_code == 201, r.text
        body = r.json()
        london = (now - timedelta(days=3)).astimezone(ctx.policy.policy.organisation.zone())
        assert body["received_on"] == london.date().isoformat()
        later = (now + timedelta(hours=1)).isoformat()
        bad = c.post(
            "/api/v1/requests",
            json={"kind": "access", "email": "b@example.com", "received_at": later},
            headers=admin,
        )
        is_problem(bad, 422, "received_in_future")
        is_problem(
            c.post(
                "/api/v1/requests",
                json={"kind": "access", "email": "b@example.com", "received_at": "soon"},
                headers=admin,
            ),
            422,
        )
    with ctx.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(requests_table)).scalar_one() == 1


def test_p27_api_received_at_is_iso_text_never_a_unix_time(home: Any, db_url: str) -> None:
    """A number (or digits as text) for ``received_at`` is a 422 telling the user to write
    ISO 8601, never a Unix time read as some other day; a date or a time without its
    offset is still read in the organisation's zone."""
    ctx = home("mindlink", db_url, clock=ManualClock(), context=True)
    now = ctx.clock.now()
    earlier = now - timedelta(days=3)
    unix = int(earlier.timestamp())
    lax = (unix, float(unix) + 0.5, unix * 1000, str(unix), f"{unix}.5", f"{earlier:%Y%m%d}")
    with client_for(ctx) as c:
        admin = api_key(c, ["requests:admin"])
        for value in lax:
            r = c.post(
                "/api/v1/requests",
                json={"kind": "access", "email": "a@example.com", "received_at": value},
                headers=admin,
            )
            body = is_problem(r, 422, "invalid_input")
            assert body["detail"].startswith("received_at: write an ISO 8601 date-time"), body
        for value in (f"{earlier:%Y-%m-%d}", f"{earlier:%Y-%m-%dT%H:%M}"):
            r = c.post(
                "/api/v1/requests",
                json={"kind": "access", "email": "a@example.com", "received_at": value},
                headers=admin,
            )
            assert r.status_code == 201, r.text
            assert r.json()["received_on"] == earlier.date().isoformat()
    with ctx.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(requests_table)).scalar_one() == 2
