"""The breach workflow in the console, over the register's own services: record a breach
and scope it (categories, systems, customers, a list of people), review the affected list,
mark the authority told (late: with the reasons), preview the notice and send it only once
confirmed, bound to the text previewed; the clocks on every page. Bad input keeps the
form and says what to fix; a forged token, staff without manage_breaches, a malformed or
unknown id change nothing."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from _http import PASSWORD, client_for, console_login, csrf_from
from troth.breaches.tables import breaches
from troth.engine import Troth
from troth.notices.outbox import outbox

OFFICER = "officer@example.com"


def login(c: Any, email: str = OFFICER) -> str:
    return console_login(c, email)


def count(ctx: Any, table: Any) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_record_scope_tell_the_authority_and_notify(mindlink: Any) -> None:
    t = Troth(mindlink)
    t.access.accounts.add_user(OFFICER, kind="staff", role="privacy_office", password=PASSWORD)
    t.access.accounts.add_user("agent@example.com", kind="staff", role="support", password=PASSWORD)
    for who in ("ada", "bob", "cy"):
        t.collect("support_request", {"name": who, "email": f"{who}@example.com", "message": "m"})
    ada, bob = t.find(email="ada@example.com"), t.find(email="bob@example.com")
    mindlink.clock.advance(timedelta(days=11))  # the data was there eleven days ago
    now = mindlink.clock.now()
    began = (now - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")
    ended = (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    found = (now - timedelta(days=10)).strftime("%Y-%m-%dT%H:%M")
    with client_for(mindlink) as c:
        token = login(c)
        page = c.get("/console/breaches").text
        assert 'action="/console/breaches"' in page and 'value="support"' in page
        form = {
            "csrf_token": token,
            "title": "Support inbox exposed",
            "description": "A misconfigured share exposed the support inbox.",
            "occurred_from": began,
            "occurred_until": ended,
            "discovered_at": found,
            "subject_ids": f"{ada}\n{bob}",
        }
        # Bad input: no category; an impossible window; a date that is not one.
        r = c.post("/console/breaches", data=form)
        assert r.status_code == 422 and "categories" in r.text
        assert "Support inbox exposed" in r.text  # the form keeps what was typed
        r = c.post(
            "/console/breaches",
            data={**form, "categories": "support", "occurred_until": "2000-01-01T00:00"},
        )
        assert r.status_code == 422 and "impossible time window" in r.text
        r = c.post("/console/breaches", data={**form, "categories": "support", "aware_at": "soon"})
        assert r.status_code == 422 and "YYYY-MM-DD HH:MM" in r.text
        # A forged CSRF token and a person that does not exist: nothing stored.
        r = c.post("/console/breaches", data={**form, "categories": "support", "csrf_token": "x"})
        assert r.status_code == 403
        r = c.post(
            "/console/breaches",
            data={**form, "categories": "support", "subject_ids": "0" * 32},
        )
        assert r.status_code in (404, 422)
        # A customer that does not exist (a forged select value).
        r = c.post("/console/breaches", data={**form, "categories": "support", "tenants": "f" * 32})
        assert r.status_code in (404, 422) and "Support inbox exposed" in r.text
        assert count(mindlink, breaches) == 0

        r = c.post(
            "/console/breaches",
            data={**form, "categories": ["support", "contact"], "high_risk": "on"},
        )
        assert r.status_code == 200, r.text[:3000]
        bid = r.url.path.rsplit("/", 1)[1]
        # The clocks are on the breach's page; two people (the list), not three.
        assert 'id="breach-clocks"' in r.text
        assert re.search(r'id="affected-count">2\b', r.text)
        affected = r.text.split('id="affected"')[1].split("</table>")[0]
        assert f'href="/console/people/{ada}"' in affected
        assert "Showing 1-2 of 2" in r.text.split('id="affected-showing"')[1].split("</p>")[0]
        assert "2 people are still to be told" in r.text

        # The authority: ten days after becoming aware is late, and needs the reasons.
        late = now.strftime("%Y-%m-%dT%H:%M")
        r = c.post(f"/console/breaches/{bid}/regulator", data={"csrf_token": token, "at": late})
        assert r.status_code == 422 and 'id="regulator-error"' in r.text
        r = c.post(
            f"/console/breaches/{bid}/regulator",
            data={"csrf_token": token, "at": late, "late_reason": "forensics took a week"},
        )
        assert r.status_code == 200 and "forensics took a week" in r.text
        assert 'id="regulator-told"' in r.text

        # Notify: preview first, nothing sent; then the confirmation, bound to the text.
        before = count(mindlink, outbox)
        template = "Dear customer, {{ organisation }} had an incident: {{ breach.title }}."
        r = c.post(
            f"/console/breaches/{bid}/notify/preview",
            data={"csrf_token": token, "template": "{{ nope }}"},
        )
        assert r.status_code == 422 and "does not render" in r.text
        r = c.post(
            f"/console/breaches/{bid}/notify/preview",
            data={"csrf_token": token, "template": template, "subject": "About your data"},
        )
        body = r.text.split('id="notice-body"')[1].split("</pre>")[0]
        assert "had an incident: Support inbox exposed." in body
        assert "Send this notice to 2 people" in r.text
        assert count(mindlink, outbox) == before
        digest = re.search(r'name="preview" value="([0-9a-f]{64})"', r.text).group(1)
        sent = {"csrf_token": token, "template": template, "subject": "About your data"}
        r = c.post(f"/console/breaches/{bid}/notify", data={**sent, "preview": digest})
        assert r.status_code == 422 and "tick the confirmation" in r.text
        r = c.post(
            f"/console/breaches/{bid}/notify",
            data={**sent, "template": template + " Sorry!", "preview": digest, "confirm": "yes"},
        )
        assert r.status_code == 409 and "changed since its preview" in r.text
        r = c.post(f"/console/breaches/{bid}/notify", data={**sent, "confirm": "yes"})
        assert r.status_code == 409
        assert count(mindlink, outbox) == before
        r = c.post(
            f"/console/breaches/{bid}/notify", data={**sent, "preview": digest, "confirm": "yes"}
        )
        assert r.status_code == 200 and "2 notice e-mails queued" in r.text
        assert count(mindlink, outbox) == before + 2
        assert "0 people are still to be told" in r.text

        # The register as CSV: a title a spreadsheet would run gets a quote.
        r = c.post(
            "/console/breaches",
            data={**form, "title": "=HYPERLINK(1)", "categories": "support"},
        )
        assert r.status_code == 200
        rows = list(csv.reader(io.StringIO(c.get("/console/breaches.csv").text)))
        titles = {row[rows[0].index("title")] for row in rows[1:]}
        assert titles == {"Support inbox exposed", "'=HYPERLINK(1)"}

        # Malformed and unknown ids; staff without the power.
        assert (
            c.get("/console/breaches/" + "0" * 32, headers={"Accept": "text/html"}).status_code
            == 404
        )
        r = c.post("/console/breaches/%2E%2E/regulator", data={"csrf_token": token})
        assert r.status_code in (404, 422)
        login(c, "agent@example.com")
        agent = csrf_from(c.get("/console").text)
        for url in (
            "/console/breaches",
            f"/console/breaches/{bid}/regulator",
            f"/console/breaches/{bid}/notify/preview",
            f"/console/breaches/{bid}/notify",
        ):
            r = c.post(url, data={**form, **sent, "csrf_token": agent, "categories": "support"})
            assert r.status_code == 403, url
    assert count(mindlink, breaches) == 2
    assert count(mindlink, outbox) == before + 2


def test_record_a_breach_by_a_rogue_account(mindlink: Any) -> None:
    """The console's form takes the actor (trial 13, F5): only the people that account
    read count, named with or without its role; an actor that never acted keeps the form
    and says so, nothing stored."""
    from troth.gate import Actor, ActorKind

    t = Troth(mindlink)
    t.access.accounts.add_user(OFFICER, kind="staff", role="privacy_office", password=PASSWORD)
    agent = t.access.accounts.add_user(
        "agent@example.com", kind="staff", role="support", password=PASSWORD
    )
    for who in ("ada", "bob", "cy"):
        t.collect("support_request", {"name": who, "email": f"{who}@example.com", "message": "m"})
    ada = t.find(email="ada@example.com")
    mindlink.clock.advance(days=1)
    began = mindlink.clock.now().strftime("%Y-%m-%dT%H:%M")
    rogue = Actor(ActorKind.staff, agent.id, role="support")
    t.use(ada, purpose="support", actor=rogue)
    mindlink.clock.advance(hours=1)
    ended = mindlink.clock.now().strftime("%Y-%m-%dT%H:%M")
    with client_for(mindlink) as c:
        token = login(c)
        assert 'id="actors"' in c.get("/console/breaches").text
        form = {
            "csrf_token": token,
            "title": "Agent read tickets",
            "description": "x",
            "occurred_from": began,
            "occurred_until": ended,
            "categories": "support",
        }
        r = c.post("/console/breaches", data={**form, "actors": "staff:agnet@example.com"})
        assert r.status_code == 422 and "no staff account" in r.text
        r = c.post("/console/breaches", data={**form, "actors": "staff:nobody"})
        assert r.status_code == 422 and "never acted" in r.text
        assert count(mindlink, breaches) == 0
        r = c.post("/console/breaches", data={**form, "actors": "staff:agent@example.com@support"})
        assert r.status_code == 200, r.text[:3000]
        assert re.search(r'id="affected-count">1\b', r.text)
        affected = r.text.split('id="affected"')[1].split("</table>")[0]
        assert f'href="/console/people/{ada}"' in affected
        assert "only what these read" in r.text
    (b,) = t.breaches.list_breaches()
    assert b.to_dict()["by"] == [f"staff:{agent.id}"]
