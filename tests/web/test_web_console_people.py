"""A person in the console: searched by e-mail, phone or id in a POSTed form (never the
address bar), then one page with their data grouped by where it was collected (read for
a purpose, masked as the role requires), consents with receipts, requests and the audit
trail in words, each linking on. Support staff without the office's powers do not get
the office's sections at all; a malformed or unknown id is a
clean 404/422, never a stack trace."""

from __future__ import annotations

import csv
import io
from typing import Any

from sqlalchemy import func, select

from _http import PASSWORD, client_for, console_login
from troth.audit.tables import audit_entries
from troth.engine import Troth

OFFICER = "officer@example.com"
ADA = {"name": "Ada Lovelace", "email": "ada@example.com", "message": "Where is my order?"}


def login(c: Any, email: str = OFFICER) -> str:
    return console_login(c, email)


def denied(ctx: Any, action: str) -> int:
    a = audit_entries.c
    with ctx.engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).where(a.outcome == "deny", a.action == action)
            ).scalar_one()
        )


def test_find_a_person_and_see_everything_about_them(mindlink: Any) -> None:
    t = Troth(mindlink)
    officer = t.access.accounts.add_user(
        OFFICER, kind="staff", role="privacy_office", password=PASSWORD, display_name="Olive"
    )
    t.access.accounts.add_user("agent@example.com", kind="staff", role="support", password=PASSWORD)
    t.collect("support_request", ADA)
    sid = t.find(email="ada@example.com")
    t.consent.grant(sid, "newsletter")
    rid = t.requests.open("access", email="ada@example.com").id
    with client_for(mindlink) as c:
        token = login(c)
        form = c.get("/console/people")
        assert 'method="post" action="/console/people"' in form.text
        # The search is a POST: the address never reaches a URL.
        r = c.post("/console/people", data={"q": "ada@example.com", "csrf_token": token})
        assert r.status_code == 200 and r.url.path == f"/console/people/{sid}"
        assert "ada@example.com" not in str(r.url)
        by_id = c.post("/console/people", data={"q": sid, "csrf_token": token})
        assert by_id.url.path == f"/console/people/{sid}"
        page = r.text
        assert f'id="person-id">{sid}<' in page
        # Consents with the receipt, requests linking to the desk.
        consents = page.split('id="consents"')[1].split("</table>")[0]
        assert "newsletter" in consents and "given" in consents and "<code" in consents
        assert f'href="/console/requests/{rid}"' in page
        # Nothing of their data was read yet: the officer chooses why they look.
        assert "Where is my order?" not in page
        r = c.get(f"/console/people/{sid}", params={"purpose": "support"})
        assert "Where is my order?" in r.text and "Ada Lovelace" in r.text
        assert 'id="person-name">Ada Lovelace<' in r.text
        assert "Support request" in r.text  # grouped by where it was collected
        # The trail says who did what, in words, with the officer's name (not staff:<id>).
        trail = r.text.split('id="trail"')[1].split("</ul>")[0]
        assert "Olive" in trail and "read their data for support" in trail
        assert f">staff:{officer.id}<" not in trail
        assert f'href="/console/audit?subject_id={sid}"' in r.text
        # A purpose the role does not have is refused, in words.
        r = c.get(f"/console/people/{sid}", params={"purpose": "recruitment"})
        assert 'id="data-error"' in r.text and "Ada Lovelace" not in r.text

        # Bad input: no query, an unknown person, a malformed id.
        r = c.post("/console/people", data={"q": "", "csrf_token": token})
        assert r.status_code == 422
        r = c.post("/console/people", data={"q": "nobody@example.com", "csrf_token": token})
        assert r.status_code == 404 and "search by e-mail or phone" in r.text
        r = c.post("/console/people", data={"q": "0" * 32, "csrf_token": token})
        assert r.status_code == 404
        assert (
            c.get("/console/people/" + "0" * 32, headers={"Accept": "text/html"}).status_code == 404
        )
        r = c.get("/console/people/%3Cscript%3E", headers={"Accept": "text/html"})
        assert r.status_code in (404, 422) and "<script>" not in r.text
        # A forged CSRF token finds nobody.
        r = c.post("/console/people", data={"q": "ada@example.com", "csrf_token": "x"})
        assert r.status_code == 403 and sid not in r.text

        # Support staff: the consents, requests, disclosures and the audit trail are the
        # office's registers, and support holds none of their powers: those sections are
        # left out (not read, so nothing is refused), never shown as refusals.
        before = denied(mindlink, "office.read_audit")
        login(c, "agent@example.com")
        r = c.get(f"/console/people/{sid}")
        assert r.status_code == 200 and 'id="trail-h"' not in r.text
        assert 'id="trail"' not in r.text and "-refused" not in r.text
        for key in ("consents", "requests", "disclosures"):
            assert f'id="{key}-h"' not in r.text
        assert f'href="/console/requests/{rid}"' not in r.text
        assert denied(mindlink, "office.read_audit") == before


def test_a_customer_s_person_needs_the_customer_s_grant(lite: Any) -> None:
    """The vendor's support staff do not see a customer's person without the customer's
    grant: the page is refused (audited), and so is the search for them."""
    t = Troth(lite)
    t.access.accounts.add_user("agent@example.com", kind="staff", role="support", password=PASSWORD)
    tid = t.access.tenants.create_tenant("Acme Ltd", primary_email="dpo@acme.example")
    t.collect("support_request", ADA, tenant_id=tid)
    sid = t.find(email="ada@example.com", tenant_id=tid)
    with client_for(lite) as c:
        token = login(c, "agent@example.com")
        r = c.get(f"/console/people/{sid}", headers={"Accept": "text/html"})
        assert r.status_code in (403, 404) and "Ada" not in r.text
        r = c.post("/console/people", data={"q": "ada@example.com", "csrf_token": token})
        assert r.status_code == 404 and sid not in r.text
    a = audit_entries.c
    with lite.engine.connect() as conn:
        refused = conn.execute(
            select(func.count()).where(a.outcome == "deny", a.subject_id == sid)
        ).scalar_one()
    assert refused >= 1


def test_the_office_s_list_of_people_pages_and_downloads(lite: Any) -> None:
    t = Troth(lite)
    t.access.accounts.add_user(OFFICER, kind="staff", role="privacy_office", password=PASSWORD)
    t.access.accounts.add_user("agent@example.com", kind="staff", role="support", password=PASSWORD)
    tid = t.access.tenants.create_tenant("=Acme Ltd", primary_email="dpo@acme.example")
    for i in range(52):
        t.collect(
            "support_request",
            {"name": f"P{i}", "email": f"p{i}@example.com", "message": "m"},
            tenant_id=tid if i < 2 else None,
        )
    with client_for(lite) as c:
        login(c)
        r = c.get("/console/people")
        assert "Showing 1-50 of 52" in r.text and 'id="next"' in r.text
        assert "p1@example.com" not in r.text  # ids and statuses, never a value
        r = c.get("/console/people", params={"tenant": tid})
        assert "Showing 1-2 of 2" in r.text and "=Acme Ltd" in r.text
        r = c.get("/console/people", params={"status": "gone"}, headers={"Accept": "text/html"})
        assert r.status_code == 422 and "status: one of" in r.text
        rows = list(csv.reader(io.StringIO(c.get("/console/people.csv").text)))
        assert len(rows) == 53 and rows[0][0] == "person"
        # A customer named like a formula is quoted in the CSV.
        assert {row[1] for row in rows[1:]} == {"", "'=Acme Ltd"}
        # Support staff get the search form but not the list, nor its CSV.
        login(c, "agent@example.com")
        r = c.get("/console/people")
        assert r.status_code == 200 and 'id="q"' in r.text and 'id="people"' not in r.text
        assert c.get("/console/people.csv", headers={"Accept": "text/html"}).status_code == 403


def test_a_person_after_erasure(lite: Any) -> None:
    """After a deletion request runs, the person's page still opens (their requests and the
    trail remain), says they were erased, and shows none of their values."""
    t = Troth(lite)
    t.access.accounts.add_user(OFFICER, kind="staff", role="privacy_office", password=PASSWORD)
    t.collect("support_request", ADA)
    sid = t.find(email="ada@example.com")
    rid = t.requests.open("delete", email="ada@example.com").id
    t.requests.verify_by_staff(rid, staff=OFFICER, reason="called back on the known number")
    t.requests.execute(rid)
    with client_for(lite) as c:
        login(c)
        r = c.get(f"/console/people/{sid}", params={"purpose": "support"})
        assert r.status_code == 200
        status = r.text.split('id="person-status"')[1].split("</dd>")[0]
        assert "erased" in status
        assert "Where is my order?" not in r.text and "Ada Lovelace" not in r.text
        assert f'href="/console/requests/{rid}"' in r.text


def test_the_person_page_names_them_where_the_role_may_read_names(lite: Any) -> None:
    """Without a chosen purpose the heading is the person's name when the officer's role
    may read the name's category for a purpose the name was collected for (read through
    the gate for that category alone, audited as a use); otherwise the short id, and the
    refused try is audited too. Nothing else of theirs is read."""
    from troth.store.ids import short_id
    from troth.web.console_people import name_purposes

    t = Troth(lite)
    t.access.accounts.add_user(OFFICER, kind="staff", role="privacy_office", password=PASSWORD)
    t.access.accounts.add_user("hr@example.com", kind="staff", role="hr", password=PASSWORD)
    t.collect("support_request", ADA)
    sid = t.find(email="ada@example.com")
    index = lite.policy
    assert name_purposes(index, index.roles["privacy_office"])[0] == "account_management"
    assert name_purposes(index, index.roles["hr"]) == ["recruitment"]
    assert name_purposes(index, None) == []
    a = audit_entries.c

    def uses(outcome: str) -> list[Any]:
        with lite.engine.connect() as conn:
            return list(
                conn.execute(
                    select(a.purpose, a.categories).where(
                        a.action == "use", a.subject_id == sid, a.outcome == outcome
                    )
                )
            )

    with client_for(lite) as c:
        login(c)
        r = c.get(f"/console/people/{sid}")
        assert 'id="person-name">Ada Lovelace<' in r.text
        assert "Where is my order?" not in r.text and "ada@example.com" not in r.text
        allowed = uses("allow")
        assert len(allowed) == 1 and allowed[0].purpose == "account_management"
        assert "identity" in str(allowed[0].categories)
        assert "support" not in str(allowed[0].categories)
        # HR reads names only for recruitment, which Ada's data was not collected for:
        # the short id, and the refused try audited.
        login(c, "hr@example.com")
        r = c.get(f"/console/people/{sid}")
        assert r.status_code == 200
        assert f'id="person-name">Person {short_id(sid)}<' in r.text
        assert "Ada Lovelace" not in r.text
        assert [u.purpose for u in uses("deny")] == ["recruitment"]


def test_one_address_at_two_customers_lists_each_record_the_searcher_may_see(lite: Any) -> None:
    """Pat is a person of two customers under one address. Support staff with Acme's grant
    find Pat's Acme record (Bolt's is refused, audited, and left out, as if unknown); the
    office, who may see both, gets both listed with each customer's name, never a request
    to name the tenant, which the console's form has no field for."""
    from datetime import timedelta

    from troth.access import actor_for

    t = Troth(lite)
    agent = t.access.accounts.add_user(
        "agent@example.com", kind="staff", role="support", password=PASSWORD
    )
    t.access.accounts.add_user(OFFICER, kind="staff", role="privacy_office", password=PASSWORD)
    acme = t.access.tenants.create_tenant("Acme Ltd", primary_email="dpo@acme.example")
    bolt = t.access.tenants.create_tenant("Bolt Ltd", primary_email="dpo@bolt.example")
    pat = {"name": "Pat", "email": "pat@mail.example", "message": "m"}
    at_acme = t.collect("support_request", pat, tenant_id=acme).subject_id
    at_bolt = t.collect("support_request", pat, tenant_id=bolt).subject_id
    tok, _ = t.access.tenants.invite(acme, "admin@acme.example", role="admin")
    admin = actor_for(t.access.tenants.accept_invitation(tok, PASSWORD))
    g = t.access.grants.request_grant(
        acme, by=actor_for(agent), reason="ticket", duration=timedelta(days=2)
    )
    t.access.grants.approve_grant(g.id, by=admin)
    refused_before = denied(lite, "read_lookup")
    with client_for(lite) as c:
        token = login(c, "agent@example.com")
        r = c.post(
            "/console/people",
            data={"q": "pat@mail.example", "csrf_token": token},
            follow_redirects=False,
        )
        assert r.status_code == 303 and r.headers["location"] == f"/console/people/{at_acme}"
        assert denied(lite, "read_lookup") == refused_before + 1  # Bolt's, audited
        token = login(c)
        r = c.post("/console/people", data={"q": "pat@mail.example", "csrf_token": token})
        assert r.status_code == 200, r.text
        listed = r.text.split('id="matches"')[1].split("</table>")[0]
        assert f'href="/console/people/{at_acme}"' in listed and "Acme Ltd" in listed
        assert f'href="/console/people/{at_bolt}"' in listed and "Bolt Ltd" in listed
        assert "--tenant" not in r.text and "tenant_id" not in r.text
        # The older search form says where to look instead of asking for a tenant.
        r = c.post("/console/subjects", data={"email": "pat@mail.example", "csrf_token": token})
        assert r.status_code == 200 and "--tenant" not in r.text and "under People" in r.text


def test_console_error_pages_are_drawn_in_the_console(lite: Any) -> None:
    """A problem on a console page is drawn in the console's layout, with its menu for
    signed-in staff and the console's sign-in (not the privacy centre's) for others."""
    t = Troth(lite)
    t.access.accounts.add_user("agent@example.com", kind="staff", role="support", password=PASSWORD)
    html = {"Accept": "text/html"}
    with client_for(lite) as c:
        out = c.get("/console/people/0123456789abcdef0123456789abcdef", headers=html)
        assert out.status_code == 401
        assert 'href="/console/login"' in out.text and 'href="/privacy/cookies"' not in out.text
        login(c, "agent@example.com")
        for path, status in (
            ("/console/audit", 403),
            ("/console/subjects?email=pat@mail.example", 422),
        ):
            r = c.get(path, headers=html)
            assert r.status_code == status, (path, r.text)
            assert 'href="/console/people">People</a>' in r.text, path
            assert "agent@example.com" in r.text and 'action="/console/logout"' in r.text
            assert 'href="/privacy/cookies"' not in r.text and 'role="alert"' in r.text
