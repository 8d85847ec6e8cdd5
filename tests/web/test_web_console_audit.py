"""The console's audit list as the office works it: filters by action, who, outcome and
UTC dates, "showing 1-50 of N" with next/previous (no silent cut), names instead of
``staff:<hex>`` ids (the id kept as a title), and the filtered list as a CSV whose cells a
spreadsheet cannot run as formulas. Staff without read_audit are refused (and audited);
a bad date or outcome says what to fix."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from _http import PASSWORD, client_for, console_login
from troth.audit.tables import audit_entries
from troth.csvsafe import safe_cell
from troth.engine import Troth

OFFICER = "officer@example.com"


def login(c: Any, email: str = OFFICER) -> str:
    return console_login(c, email)


def entries(ctx: Any, **where: Any) -> int:
    a = audit_entries.c
    stmt = select(func.count()).select_from(audit_entries)
    for k, v in where.items():
        stmt = stmt.where(getattr(a, k) == v)
    with ctx.engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def shown(html: str) -> str:
    return html.split('id="showing"')[1].split("</p>")[0]


def test_cells_that_a_spreadsheet_would_run_get_a_quote() -> None:
    for bad in ("=1+2", "+1", "-1+2", "@SUM(A1)", "\tx", "\r=x"):
        assert safe_cell(bad) == "'" + bad
    assert safe_cell("Ada") == "Ada" and safe_cell(-3) == "-3" and safe_cell(None) == ""


def test_audit_filters_pages_names_and_csv(mindlink: Any) -> None:
    t = Troth(mindlink)
    officer = t.access.accounts.add_user(
        OFFICER,
        kind="staff",
        role="privacy_office",
        password=PASSWORD,
        display_name="=HYPERLINK(1) Olive",
    )
    t.access.accounts.add_user("agent@example.com", kind="staff", role="support", password=PASSWORD)
    for i in range(60):
        t.collect(
            "support_request", {"name": f"P{i}", "email": f"p{i}@example.com", "message": "m"}
        )
    total = entries(mindlink)
    assert total > 60
    with client_for(mindlink) as c:
        login(c)
        r = c.get("/console/audit")
        assert r.status_code == 200
        # Counted, not cut: the total includes what was written while signing in.
        m = re.search(r"Showing 1-50 of ([\d,]+)", shown(r.text))
        assert m and int(m.group(1).replace(",", "")) >= total, shown(r.text)
        assert 'id="next"' in r.text and 'id="prev"' not in r.text
        assert r.text.count("<tr>") == 51  # header + 50
        # Page 2 starts at 51, links back.
        r2 = c.get("/console/audit?page=2")
        assert "Showing 51-" in shown(r2.text) and 'id="prev"' in r2.text
        # A page past the end shows the last one.
        assert "of" in shown(c.get("/console/audit?page=999999").text)

        # The officer's own sign-in shows as their name, the id only as a title.
        login(c)
        r = c.get("/console/audit", params={"by": f"staff:{officer.id}"})
        assert f'title="staff:{officer.id}"' in r.text
        assert "=HYPERLINK(1) Olive" in r.text.split('id="audit"')[1]
        assert f">staff:{officer.id}<" not in r.text

        # The agent is refused the audit (audited, a deny entry with office.read_audit).
        login(c, "agent@example.com")
        assert c.get("/console/audit", headers={"Accept": "text/html"}).status_code == 403
        assert c.get("/console/audit.csv", headers={"Accept": "text/html"}).status_code == 403
        assert entries(mindlink, action="office.read_audit", outcome="deny") == 2

        login(c)
        # Outcome and action filters: only the agent's refusals.
        r = c.get("/console/audit", params={"outcome": "deny", "action": "office."})
        assert "Showing 1-2 of 2" in shown(r.text)
        body = r.text.split('id="audit"')[1]
        assert body.count("office.read_audit") == 2 and "collect" not in body
        # A date range with nothing in it says so.
        past = (mindlink.clock.now() - timedelta(days=400)).date().isoformat()
        r = c.get("/console/audit", params={"since": past, "until": past})
        assert "Nothing matches" in shown(r.text) and 'id="next"' not in r.text
        # Today (UTC, "until" inclusive) holds everything.
        today = mindlink.clock.now().date().isoformat()
        r = c.get("/console/audit", params={"since": today, "until": today, "action": "collect"})
        assert "Showing 1-50 of 60" in shown(r.text)
        # Bad input says what to fix.
        r = c.get("/console/audit", params={"since": "yesterday"}, headers={"Accept": "text/html"})
        assert r.status_code == 422 and "YYYY-MM-DD" in r.text
        r = c.get("/console/audit", params={"outcome": "maybe"}, headers={"Accept": "text/html"})
        assert r.status_code == 422 and "allow" in r.text

        # The CSV is the filtered list, every row (not 50), formula-safe.
        r = c.get("/console/audit.csv", params={"action": "collect"})
        assert r.headers["content-type"].startswith("text/csv")
        assert "attachment" in r.headers["content-disposition"]
        rows = list(csv.reader(io.StringIO(r.text)))
        assert rows[0][:3] == ["seq", "when (UTC)", "who"] and len(rows) == 61
        assert {row[4] for row in rows[1:]} == {"collect"}
        r = c.get("/console/audit.csv", params={"by": f"staff:{officer.id}"})
        rows = list(csv.reader(io.StringIO(r.text)))
        assert len(rows) > 1
        assert {row[2] for row in rows[1:]} == {"'=HYPERLINK(1) Olive"}
        assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)


def test_audit_entries_read_as_sentences_with_the_action_kept(lite: Any) -> None:
    """The audit list says what happened in words (the person page's wording, from one
    helper), the raw action beside it as a copyable detail and still the filter's value;
    the CSV carries both."""
    from troth.web.console_words import action_words

    t = Troth(lite)
    t.access.accounts.add_user(
        OFFICER, kind="staff", role="privacy_office", password=PASSWORD, display_name="Olive"
    )
    t.collect("support_request", {"name": "Ada", "email": "ada@example.com", "message": "m"})
    sid = t.find(email="ada@example.com")
    t.requests.open("access", email="ada@example.com")
    assert action_words("use", "account_management") == "read their data for account management"
    assert action_words("mail.queued", about="the person") == "queued an e-mail to the person"
    assert action_words("office.read_audit", about="people") == "read the audit log"
    assert action_words("tenant.offboard.who_knows") == "tenant offboard who knows"
    with client_for(lite) as c:
        login(c)
        r = c.get("/console/audit", params={"subject_id": sid})
        table = r.text.split('id="audit"')[1].split("</table>")[0]
        assert "collected data from the person" in table
        assert "opened a request from the person" in table
        assert '<code class="id"' in table and ">collect</code>" in table
        assert ">request.open</code>" in table
        # The raw action still filters.
        r = c.get("/console/audit", params={"action": "request.open"})
        assert "Showing 1-1 of 1" in shown(r.text)
        assert "opened a request from the person" in r.text
        rows = list(csv.reader(io.StringIO(c.get("/console/audit.csv?subject_id=" + sid).text)))
        assert rows[0][4:6] == ["action", "what"]
        said = {row[4]: row[5] for row in rows[1:]}
        assert said["collect"] == "collected data from the person"
        assert said["request.open"] == "opened a request from the person"
        # The person page's trail uses the same words (about "them").
        trail = c.get(f"/console/people/{sid}").text.split('id="trail"')[1].split("</ul>")[0]
        assert "collected data from them" in trail and "opened a request from them" in trail


def test_audit_list_and_people_survive_hostile_values(lite: Any) -> None:
    """An actor and a customer named with markup are escaped on the page; a CSV cell that
    starts with = or @ is quoted; a date range that ends before it starts says so; a page
    past the end shows the last page."""
    t = Troth(lite)
    t.access.accounts.add_user(OFFICER, kind="staff", role="privacy_office", password=PASSWORD)
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    bad = t.access.accounts.add_user(
        "mallory@example.com",
        kind="staff",
        role="privacy_office",
        password=PASSWORD,
        display_name="@SUM(1) " + evil,
    )
    tid = t.access.tenants.create_tenant("=cmd|' " + evil, primary_email="dpo@evil.example")
    t.collect(
        "support_request",
        {"name": "Eve", "email": "eve@example.com", "message": "m"},
        tenant_id=tid,
    )
    with client_for(lite) as c:
        login(c, "mallory@example.com")  # an entry by the hostile name
        token = login(c)
        # A search for markup finds nobody and shows what was typed, escaped.
        for q in ('"><script>alert(1)</script>', "=1+2@x.example", "+44 (0) <b>"):
            r = c.post("/console/people", data={"q": q, "csrf_token": token})
            assert r.status_code == 404 and "<script>alert(1)" not in r.text
            assert "<b>" not in r.text.split("<main")[1]
        for url, params in (
            ("/console/audit", {"by": f"staff:{bad.id}"}),
            ("/console/audit", {"action": "collect"}),
            ("/console/people", {"tenant": tid}),
        ):
            r = c.get(url, params=params)
            assert r.status_code == 200
            assert "<script>alert" not in r.text and "<img src=x" not in r.text, url
            assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in r.text, url
        # The tenant's name is in the collect entry's row, escaped.
        r = c.get("/console/audit", params={"action": "collect"})
        assert "=cmd|&#39; &lt;script&gt;" in r.text.split('id="audit"')[1]
        # CSV: the cells that start with = or @ are quoted; nothing runs as a formula.
        for url, params in (
            ("/console/audit.csv", {"by": f"staff:{bad.id}"}),
            ("/console/audit.csv", {"action": "collect"}),
            ("/console/people.csv", {"tenant": tid}),
        ):
            rows = list(csv.reader(io.StringIO(c.get(url, params=params).text)))
            assert len(rows) > 1, url
            cells = [cell for row in rows for cell in row]
            assert all(not cell.startswith(("=", "+", "-", "@")) for cell in cells), url
            assert any(cell.startswith(("'@SUM(1) ", "'=cmd|")) for cell in cells), url
        # A range that ends before it starts: a clear message, nothing listed.
        for path in ("/console/audit", "/console/audit.csv"):
            r = c.get(
                path,
                params={"since": "2026-03-05", "until": "2026-03-04"},
                headers={"Accept": "text/html"},
            )
            assert r.status_code == 422, path
            assert "ends (2026-03-04) before it starts (2026-03-05)" in r.text, path
            assert 'id="audit"' not in r.text
        # One day (since == until) is a range, not an error.
        day = lite.clock.now().date().isoformat()
        r = c.get("/console/audit", params={"since": day, "until": day})
        assert r.status_code == 200 and "Showing 1-" in shown(r.text)
        # A page far past the end shows the last page, saying where it stands.
        r = c.get("/console/audit", params={"page": 999_999})
        assert r.status_code == 200 and 'id="next"' not in r.text
        m = re.search(r"page (\d+) of (\d+)", r.text)
        assert m and m.group(1) == m.group(2)
        r = c.get("/console/people", params={"page": 999_999, "tenant": tid})
        assert r.status_code == 200 and "Showing 1-1 of 1" in r.text
        # Out of range or not a number: a clear 422, not a stack trace.
        for params in ({"page": "0"}, {"page": "x"}, {"page": "10000001"}):
            r = c.get("/console/audit", params=params, headers={"Accept": "text/html"})
            assert r.status_code == 422, params
            assert "Traceback" not in r.text
