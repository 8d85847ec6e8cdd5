"""Requests after they close: expired download files removed, and after the CCPA request-log
retention (24 months, 11 CCR 7101(a)) only the log is kept: date, nature, manner, response
date, response and reason for denial. Time moves by ManualClock, never by sleeping."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from requests_helpers import buy, verified
from troth.audit.entries import list_entries
from troth.clock import ManualClock
from troth.engine import Troth
from troth.errors import NotFound, ValidationError
from troth.gate import SYSTEM
from troth.requests.deadlines import CCPA_OPT_OUT, request_log_keep_until
from troth.requests.states import RequestState
from troth.requests.tables import request_events, request_exports, requests
from troth.worker import TASKS, Worker

PERSON = "ann@example.com"
PURGES = tuple(t for t in TASKS if t.name in ("purge_exports", "purge_request_logs"))


def row(t: Troth, rid: str) -> Any:
    with t.ctx.engine.connect() as conn:
        return conn.execute(sa.select(requests).where(requests.c.id == rid)).mappings().one()


def count(t: Troth, table: sa.Table, rid: str) -> int:
    with t.ctx.engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).select_from(table).where(table.c.request_id == rid)
            ).scalar_one()
        )


def closed_requests(t: Troth) -> dict[str, str]:
    """An access (with a download), a refused and a deletion request, all closed today,
    and one left open; returns kind -> id."""
    buy(t, PERSON)
    access = verified(t, "access", PERSON)
    done = t.requests.execute(access)
    assert done.download_token
    refused = t.requests.open("correct", email=PERSON, details={"changes": {"name": "X"}})
    t.requests.refuse(refused.id, reason="manifestly unfounded: third request this week")
    erase = verified(t, "delete", PERSON, channel="email")
    t.requests.execute(erase)
    still_open = t.requests.open("access", email="bo@example.com")
    return {"access": access, "refused": refused.id, "delete": erase, "open": still_open.id}


def test_purge_exports_removes_expired_files(home: Any, db_url: str, clock: ManualClock):
    t = home("mindlink", db_url)
    rid = verified(t, "access", buy(t, PERSON) and PERSON)
    token = t.requests.execute(rid).download_token
    assert token
    (path,) = [Path(p) for p in _export_paths(t, rid)]
    assert path.exists() and t.requests.purge_exports() == 0
    clock.advance(hours=t.ctx.settings.export_link_hours, seconds=1)
    assert t.requests.purge_exports() == 1
    assert not path.exists()
    with pytest.raises(NotFound):
        t.requests.download(token, actor=SYSTEM)
    assert t.requests.purge_exports() == 0  # already purged: nothing more to do


def _export_paths(t: Troth, rid: str) -> list[str]:
    with t.ctx.engine.connect() as conn:
        q = sa.select(request_exports.c.path).where(request_exports.c.request_id == rid)
        return list(conn.execute(q).scalars())


def test_request_logs_keep_only_the_ccpa_log_after_24_months(
    home: Any, db_url: str, clock: ManualClock
) -> None:
    t = home("mindlink", db_url)
    ids = closed_requests(t)
    before = {k: row(t, rid) for k, rid in ids.items()}
    closed_on = before["delete"]["closed_at"].date()
    keep_until = request_log_keep_until(closed_on)
    assert CCPA_OPT_OUT.log_retention_months == 24
    assert keep_until.year == closed_on.year + 2

    # On the last day of the 24 months everything is still there.
    clock.advance(timedelta(days=(keep_until - clock.now().date()).days))
    assert t.requests.purge_request_logs() == 0
    assert row(t, ids["delete"])["contact"] is not None
    # The day after, the three closed requests keep only the log.
    clock.advance(days=1)
    assert t.requests.purge_request_logs() == 3
    for kind in ("access", "refused", "delete"):
        was, now = before[kind], row(t, ids[kind])
        # The log: date, nature, manner, response date, response (and the regime it was under).
        for col in ("received_at", "kind", "channel", "closed_at", "state", "regime", "due_at"):
            assert now[col] == was[col], col
        # Nothing that tells who it was about.
        for col in ("subject_id", "email_bidx", "contact", "on_behalf_of", "source_ref"):
            assert now[col] is None, col
        assert now["details"] == {} and now["error"] is None
        assert count(t, request_events, ids[kind]) == 0
        assert t.requests.get(ids[kind]).email is None
    assert row(t, ids["refused"])["result"] == {
        "response": "refused",
        "denial_reason": "manifestly unfounded: third request this week",
    }
    assert row(t, ids["delete"])["result"] == {"response": "completed"}
    assert count(t, request_exports, ids["access"]) == 0
    # The open request is untouched, and a second run finds nothing to do.
    assert row(t, ids["open"]) == before["open"]
    assert t.requests.purge_request_logs() == 0
    # Still listed as closed requests, in the log.
    listed = {r.id for r in t.requests.list(include_closed=True)}
    assert {ids["access"], ids["refused"], ids["delete"]} <= listed
    (entry,) = [e for e in list_entries(t.ctx) if e.entry.action == "request.log_purged"]
    assert entry.entry.details["requests"] == 3 and "7101" in entry.entry.details["rule"]


def test_request_log_purge_in_batches(home: Any, clock: ManualClock) -> None:
    t = home("mindlink")
    ids = [t.requests.open("access", email=f"p{i}@example.com").id for i in range(5)]
    for rid in ids:
        t.requests.refuse(rid, reason="no such customer")
    clock.advance(days=800)
    assert t.requests.purge_request_logs(batch=2) == 5
    assert all(row(t, rid)["contact"] is None for rid in ids)
    with pytest.raises(ValidationError):
        t.requests.purge_request_logs(batch=0)


def test_worker_runs_both_purges(home: Any, db_url: str, clock: ManualClock) -> None:
    t = home("mindlink", db_url)
    ids = closed_requests(t)
    (path,) = [Path(p) for p in _export_paths(t, ids["access"])]
    w = Worker(t.ctx, PURGES)
    first = w.run_once()
    assert set(first.ran) == {"purge_exports", "purge_request_logs"} and not first.failed
    assert first.ran["purge_exports"].startswith("0 ") and path.exists()
    clock.advance(hours=t.ctx.settings.export_link_hours, seconds=1)
    assert w.run_once().ran["purge_exports"] == "1 expired download(s) removed"
    assert not path.exists()
    clock.advance(days=2 * 366)
    ran = w.run_once().ran
    assert ran["purge_request_logs"].startswith("3 ")
    assert row(t, ids["delete"])["subject_id"] is None
    assert row(t, ids["open"])["state"] == RequestState.identity_unverified.value
