"""The office's disclosure and consent lists in the console: filtered, counted and paged,
people linked to their page, downloadable as CSV; each refused (and audited) to staff
without the power its register needs; bad filters say what to fix."""

from __future__ import annotations

import csv
import io
from typing import Any

from _http import PASSWORD, client_for, console_login
from troth.engine import Troth
from troth.gate import SYSTEM


def login(c: Any, email: str) -> None:
    console_login(c, email)


def shown(html: str) -> str:
    return html.split('id="showing"')[1].split("</p>")[0]


def test_consent_and_disclosure_lists(lite: Any) -> None:
    t = Troth(lite)
    t.access.accounts.add_user(
        "officer@example.com", kind="staff", role="privacy_office", password=PASSWORD
    )
    t.access.accounts.add_user("agent@example.com", kind="staff", role="support", password=PASSWORD)
    sids = []
    for i in range(55):
        t.collect(
            "support_request", {"name": f"P{i}", "email": f"p{i}@example.com", "message": "m"}
        )
        sid = t.find(email=f"p{i}@example.com")
        sids.append(sid)
        t.consent.grant(sid, "newsletter")
    t.consent.withdraw(sids[0], "newsletter")
    order = t.disclosures.record_demand(
        authority="Crown Court",
        instrument="production_order",
        reference="PO-1",
        scope="account records",
        categories=[
            "identity",
            "contact",
            "billing",
            "purchases",
            "account_history",
            "communications",
        ],
        recipient="law_enforcement",
    )
    t.disclosures.disclose(
        sids[3], "law_enforcement", "legal_compliance", SYSTEM, legal_demand_id=order.id
    )
    with client_for(lite) as c:
        login(c, "officer@example.com")
        r = c.get("/console/consents")
        assert "Showing 1-50 of 56" in shown(r.text) and 'id="next"' in r.text
        assert f'href="/console/people/{sids[0]}"' in r.text
        r = c.get("/console/consents", params={"given": "withdrawn"})
        assert "Showing 1-1 of 1" in shown(r.text) and "withdrawn" in r.text
        r = c.get("/console/consents", params={"given": "maybe"}, headers={"Accept": "text/html"})
        assert r.status_code == 422 and "given or withdrawn" in r.text
        rows = list(csv.reader(io.StringIO(c.get("/console/consents.csv").text)))
        assert len(rows) == 57 and rows[0][0] == "when (UTC)"
        assert sum(1 for row in rows[1:] if row[2] == "withdrawn") == 1

        r = c.get("/console/disclosures")
        assert "Showing 1-1 of 1" in shown(r.text)
        table = r.text.split('id="disclosures"')[1].split("</table>")[0]
        assert "Government and law enforcement" in table and "legal_compliance" in table
        assert f'href="/console/people/{sids[3]}"' in table
        r = c.get("/console/disclosures", params={"since": "2030-01-01"})
        assert "Nothing matches" in shown(r.text)
        rows = list(csv.reader(io.StringIO(c.get("/console/disclosures.csv").text)))
        assert len(rows) == 2 and rows[1][4] == sids[3]

        login(c, "agent@example.com")
        for url in (
            "/console/consents",
            "/console/consents.csv",
            "/console/disclosures",
            "/console/disclosures.csv",
        ):
            assert c.get(url, headers={"Accept": "text/html"}).status_code == 403, url
