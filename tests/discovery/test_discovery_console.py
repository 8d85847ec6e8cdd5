"""Discovery in the console and the worker: the office scans from /console/discovery and
reads the drift report (masked evidence, the YAML to add); a support agent is refused,
audited; the worker's daily task scans and reports. mindlink on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from _http import PASSWORD, client_for, console_login, csrf_from
from troth.audit.tables import audit_entries
from troth.engine import Troth
from troth.worker import Worker

CARD = "4111 1111 1111 1111"
PASTED = {"name": "Ann", "email": "ann@example.com", "message": f"Refund card {CARD} please"}


def login(c: Any, email: str) -> None:
    console_login(c, email, follow=False)


def test_the_office_scans_from_the_console_and_an_agent_is_refused(mindlink: Any) -> None:
    t = Troth(mindlink)
    t.access.accounts.add_user(
        "officer@example.com", kind="staff", role="privacy_office", password=PASSWORD
    )
    t.access.accounts.add_user("agent@example.com", kind="staff", role="support", password=PASSWORD)
    t.collect("support_request", PASTED)
    with client_for(mindlink) as c:
        login(c, "officer@example.com")
        page = c.get("/console/discovery")
        assert page.status_code == 200 and "No scan yet" in page.text
        assert 'href="/console/discovery"' in c.get("/console").text
        token = csrf_from(page.text)
        # Bad input: a clear error, nothing stored.
        r = c.post("/console/discovery", data={"csrf_token": token, "budget": "9999"})
        assert r.status_code == 422 and "budget" in r.text and "No scan yet" in r.text
        r = c.post("/console/discovery", data={"csrf_token": token, "rows": "ten"})
        assert r.status_code == 422 and "rows" in r.text
        # A forged form (no CSRF token) changes nothing.
        r = c.post("/console/discovery", data={"budget": "10"})
        assert r.status_code == 403
        assert "No scan yet" in c.get("/console/discovery").text
        r = c.post(
            "/console/discovery",
            data={"csrf_token": token, "budget": "30", "rows": "100"},
            follow_redirects=False,
        )
        assert r.status_code == 303 and r.headers["location"] == "/console/discovery"
        page = c.get("/console/discovery").text
        assert (
            "pasted_in_free_text" in page
            and "<code>support_request</code>.<wbr><code>message</code>" in page
        )
        assert "9999 9999 9999 9999" in page  # the masked shape
        assert CARD not in page and "Refund" not in page

        login(c, "agent@example.com")
        assert c.get("/console/discovery", headers={"Accept": "text/html"}).status_code == 403
        token = csrf_from(c.get("/console").text)
        assert 'href="/console/discovery"' not in c.get("/console").text
        r = c.post("/console/discovery", data={"csrf_token": token, "budget": "10"})
        assert r.status_code == 403
    a = audit_entries.c
    with mindlink.engine.connect() as conn:
        denied = conn.execute(
            select(a.reason).where(a.outcome == "deny", a.action == "office.run_discovery")
        ).all()
        scans = conn.execute(
            select(a.actor, a.details).where(a.action == "discovery.scan")
        ).all()  # fmt: skip
    assert len(denied) == 2 and {r.reason for r in denied} == {"power_not_granted"}
    assert len(scans) == 2 and all(s.actor == scans[0].actor for s in scans)
    assert "officer@example.com" in scans[0].actor or "staff:" in scans[0].actor


def test_the_worker_runs_discovery(mindlink: Any) -> None:
    t = Troth(mindlink)
    t.collect("support_request", PASTED)
    report = Worker(mindlink).run_once()
    assert "discovery" in report.ran, report.failed
    assert "complete" in report.ran["discovery"] and "1 critical" in report.ran["discovery"]
    assert CARD not in report.ran["discovery"]
