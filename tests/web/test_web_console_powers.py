"""The console's office pages are opened by the powers the policy gives a role (decided by
troth.office, like the API): the office has them all; a support agent gets a 403 page on
each, the refusal audited, and neither its menu nor its dashboard shows the office's
registers (everyone's refusals, every tenant's requests, breach clocks). mindlink on
SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from _http import PASSWORD, client_for, console_login, csrf_from
from troth.audit.tables import audit_entries
from troth.engine import Troth

SUPPORT = {"name": "Ada Lovelace", "email": "ada@example.com", "message": "Hello"}
OFFICE_PAGES = {
    "/console/audit": "read_audit",
    "/console/breaches": "manage_breaches",
    "/console/demands": "legal_demands",
    "/console/requests": "manage_requests",
    "/console/policy/publish": "publish_policy",
    "/console/ropa.csv": "publish_policy",
    "/console/ropa.html": "publish_policy",
}
LINKS = ('href="/console/audit"', 'href="/console/breaches"', 'href="/console/requests"')


def login(c: Any, email: str) -> None:
    console_login(c, email, follow=False)


def test_office_pages_follow_the_role_s_powers(mindlink: Any) -> None:
    t = Troth(mindlink)
    t.access.accounts.add_user(
        "officer@example.com", kind="staff", role="privacy_office", password=PASSWORD
    )
    t.access.accounts.add_user("agent@example.com", kind="staff", role="support", password=PASSWORD)
    t.collect("support_request", SUPPORT)
    rid = t.requests.open("delete", email="ada@example.com").id
    with client_for(mindlink) as c:
        login(c, "officer@example.com")
        for url in OFFICE_PAGES:
            assert c.get(url).status_code == 200, url
        dashboard = c.get("/console").text
        assert all(link in dashboard for link in LINKS)
        assert rid[:8] in dashboard  # the office's dashboard lists the open request

        login(c, "agent@example.com")
        for url, power in OFFICE_PAGES.items():
            r = c.get(url, headers={"Accept": "text/html"})
            assert r.status_code == 403, url
            assert power in r.text or "support" in r.text, url
        # Forms too: the agent cannot publish, record a demand or act on a request.
        token = csrf_from(c.get("/console").text)
        for url in (
            "/console/demands",
            f"/console/requests/{rid}/refuse",
            "/console/audit/verify",
        ):
            r = c.post(url, data={"csrf_token": token, "reason": "x", "authority": "Court"})
            assert r.status_code == 403, url
        dashboard = c.get("/console").text
        assert not any(link in dashboard for link in LINKS)
        assert rid[:8] not in dashboard
        assert 'id="refusals"' not in dashboard  # everyone's refusals are the audit's
        # The office's dashboard lists those refusals, read through the audited office read.
        login(c, "officer@example.com")
        dashboard = c.get("/console").text
        table = dashboard.split('id="refusals"')[1].split("</table>")[0]
        assert "power_not_granted" in table and "office.read_audit" in table
    assert t.requests.get(rid).state != "refused"
    a = audit_entries.c
    with mindlink.engine.connect() as conn:
        denied = conn.execute(
            select(a.action, a.reason).where(a.outcome == "deny", a.action.like("office.%"))
        ).all()
    assert len(denied) == len(OFFICE_PAGES) + 3
    assert {r.reason for r in denied} == {"power_not_granted"}
