"""The console's request list: filters (open/closed/all, kind, state, due, customer, the
day received), "showing 1-50 of 60" with next/previous instead of a silent cut at 200, and
the filtered list as CSV. Bad filters say what to fix; staff without manage_requests are
refused the list and its CSV."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

from _http import PASSWORD, client_for, console_login
from troth.engine import Troth

OFFICER = "officer@example.com"


def login(c: Any, email: str = OFFICER) -> None:
    console_login(c, email)


def shown(html: str) -> str:
    return html.split('id="showing"')[1].split("</p>")[0]


def test_request_list_filters_pages_and_csv(lite: Any) -> None:
    t = Troth(lite)
    t.access.accounts.add_user(OFFICER, kind="staff", role="privacy_office", password=PASSWORD)
    t.access.accounts.add_user("agent@example.com", kind="staff", role="support", password=PASSWORD)
    ids = []
    for i in range(60):
        kind = "delete" if i % 3 == 0 else "access"
        ids.append(t.requests.open(kind, email=f"p{i}@example.com").id)
    t.requests.refuse(ids[1], reason="manifestly unfounded")
    with client_for(lite) as c:
        login(c)
        r = c.get("/console/requests")
        assert "Showing 1-50 of 59" in shown(r.text) and 'id="next"' in r.text
        r = c.get("/console/requests", params={"page": 2})
        assert "Showing 51-59 of 59" in shown(r.text) and 'id="prev"' in r.text
        r = c.get("/console/requests", params={"kind": "delete"})
        assert "of 20" in shown(r.text)
        r = c.get("/console/requests", params={"show": "closed"})
        assert "Showing 1-1 of 1" in shown(r.text) and ids[1][-8:] in r.text
        r = c.get("/console/requests", params={"show": "all", "state": "refused"})
        assert "of 1" in shown(r.text)
        # Nothing is overdue yet; a month later everything open is.
        assert "Nothing matches" in shown(c.get("/console/requests?due=overdue").text)
        assert "of 59" in shown(c.get("/console/requests?due=60").text)
        past = (lite.clock.now() - timedelta(days=3)).date().isoformat()
        r = c.get("/console/requests", params={"show": "all", "until": past})
        assert "Nothing matches" in shown(r.text)
        for bad, why in (
            ({"kind": "everything"}, "kind: one of"),
            ({"state": "done"}, "state: one of"),
            ({"due": "soon"}, "due"),
            ({"since": "01/02/2026"}, "YYYY-MM-DD"),
            ({"show": "some"}, "show: one of"),
        ):
            r = c.get("/console/requests", params=bad, headers={"Accept": "text/html"})
            assert r.status_code == 422 and why in r.text, (bad, r.text[:500])
        r = c.get("/console/requests.csv", params={"kind": "delete"})
        rows = list(csv.reader(io.StringIO(r.text)))
        assert rows[0][:3] == ["request", "kind", "state"] and len(rows) == 21
        assert {row[1] for row in rows[1:]} == {"delete"}
        r = c.get("/console/requests.csv", params={"show": "all"})
        assert len(list(csv.reader(io.StringIO(r.text)))) == 61

        login(c, "agent@example.com")
        for url in ("/console/requests", "/console/requests.csv"):
            assert c.get(url, headers={"Accept": "text/html"}).status_code == 403


def test_request_csv_with_a_bad_filter_says_what_to_fix(lite: Any) -> None:
    """The list's filters are read before the download starts, as the other registers'
    CSVs read theirs: a bad kind or state is the page's 422 that says what to fix, not a
    download cut off after its headers."""
    t = Troth(lite)
    t.access.accounts.add_user(OFFICER, kind="staff", role="privacy_office", password=PASSWORD)
    t.requests.open("access", email="p@example.com")
    with client_for(lite) as c:
        login(c)
        for bad, why in (({"kind": "everything"}, "kind: one of"), ({"state": "done"}, "state")):
            r = c.get("/console/requests.csv", params=bad, headers={"Accept": "text/html"})
            assert r.status_code == 422 and why in r.text, (bad, r.text[:500])
