"""The console's request desk and registers, and the privacy centre's requests, through
the ASGI client: a person's deletion verified by their sign-in and executed by the
officer, staff verification/extension/refusal with reasons, CSRF on every form, the
access export as a ZIP, breach clocks, the record of processing, publishing a policy
version, and legal demands."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from _http import PASSWORD, challenge_from, client_for, csrf_from
from outbox_helpers import latest_body
from troth.disclosures.tables import legal_demands
from troth.engine import Troth
from troth.notices.outbox import outbox

SUPPORT = {"name": "Ada Lovelace", "email": "ada@example.com", "message": "Hello"}
OFFICER = "officer@example.com"


def with_officer(ctx) -> Troth:
    t = Troth(ctx)
    t.access.accounts.add_user(OFFICER, kind="staff", role="privacy_office", password=PASSWORD)
    t.access.accounts.add_user("agent@example.com", kind="staff", role="support", password=PASSWORD)
    return t


def console_login(c, email: str = OFFICER) -> str:
    c.cookies.clear()
    login = c.get("/console/login").text
    r = c.post(
        "/console/login",
        data={"email": email, "password": PASSWORD, "csrf_token": csrf_from(login)},
    )
    assert r.status_code == 200, r.text
    return csrf_from(r.text)


def privacy_login(c, ctx, email: str = "ada@example.com") -> str:
    c.cookies.clear()
    page = c.get("/privacy/signin").text
    r = c.post("/privacy/signin", data={"email": email, "csrf_token": csrf_from(page)})
    code_page = r.text  # the challenge is in the form, never in the address
    body = latest_body(ctx, to=email)
    r = c.post(
        "/privacy/code",
        data={
            "challenge": challenge_from(code_page),
            "code": re.search(r"\b(\d{6})\b", body).group(1),
            "csrf_token": csrf_from(code_page),
        },
    )
    assert r.url.path == "/privacy/me", r.text
    return csrf_from(r.text)


def test_person_asks_deletion_officer_executes_person_sees_completed(mindlink) -> None:
    t = with_officer(mindlink)
    sid = t.collect("support_request", SUPPORT).subject_id
    with client_for(mindlink) as c:
        token = privacy_login(c, mindlink)
        r = c.post("/privacy/me/requests", data={"kind": "delete", "csrf_token": token})
        assert r.status_code == 200
        [req] = t.requests.list()
        # signed in = identity proven: verified without a second code
        assert req.state == "verified" and req.verification == "signin"
        verified = [e for e in t.requests.history(req.id) if e["event"] == "verified"]
        assert verified[0]["details"]["method"] == "privacy_centre_signin"
        row = r.text.split(f'id="my-request-{req.id}"')[1].split("</tr>")[0]
        assert "verified" in row and str(req.due_at) in row

        ctoken = console_login(c)
        listing = c.get("/console/requests").text
        assert f'href="/console/requests/{req.id}"' in listing
        page = c.get(f"/console/requests/{req.id}").text
        assert 'id="execute"' in page and "privacy_centre_signin" in page
        r = c.post(f"/console/requests/{req.id}/execute", data={"csrf_token": ctoken})
        assert r.status_code == 200 and r.url.path == f"/console/requests/{req.id}"
        report = r.text.split('id="report"')[1].split("</table>")[0]
        assert "troth" in report and "deleted" in report
        assert t.requests.get(req.id).state == "completed"
        # The person's data is gone: the centre now knows no one at that address.
        c.cookies.clear()
        assert c.get("/privacy/me", headers={"Accept": "text/html"}).status_code == 401
        assert t.requests.get(req.id).subject_id == sid


def test_person_follows_request_state_after_execution(lite) -> None:
    t = with_officer(lite)
    t.collect("support_request", SUPPORT)
    with client_for(lite) as c:
        token = privacy_login(c, lite)
        c.post("/privacy/me/requests", data={"kind": "restrict", "csrf_token": token})
        [req] = t.requests.list()
        t.requests.extend(req.id, "we check three systems")
        me = c.get("/privacy/me").text
        row = me.split(f'id="my-request-{req.id}"')[1].split("</tr>")[0]
        assert "extended" in row and "we check three systems" in row
        assert str(t.requests.get(req.id).extended_due_at) in row


def test_the_same_request_twice_from_the_centre_is_one_request(lite) -> None:
    """A second click (or a reload) asking the same again opens nothing and mails
    nothing: the page says the request is already open. Other words, or another kind,
    are another request."""
    t = with_officer(lite)
    t.collect("support_request", SUPPORT)
    with client_for(lite) as c:
        token = privacy_login(c, lite)
        ask = {"kind": "restrict", "details": "stop the newsletter", "csrf_token": token}
        c.post("/privacy/me/requests", data=ask)
        with lite.engine.connect() as conn:
            mails = conn.execute(select(outbox.c.id)).all()
        r = c.post("/privacy/me/requests", data=ask)
        assert r.status_code == 200 and "already asked for this" in r.text
        assert len(t.requests.list()) == 1
        with lite.engine.connect() as conn:
            assert conn.execute(select(outbox.c.id)).all() == mails
        c.post("/privacy/me/requests", data={**ask, "details": "and the surveys"})
        c.post("/privacy/me/requests", data={**ask, "kind": "access"})
        assert len(t.requests.list()) == 3


def test_staff_actions_with_reasons_and_csrf(mindlink) -> None:
    t = with_officer(mindlink)
    t.collect("support_request", SUPPORT)
    req = t.requests.open("access", email="ada@example.com")
    url = f"/console/requests/{req.id}"
    with client_for(mindlink) as c:
        token = console_login(c)
        # no CSRF token: refused, nothing changed
        r = c.post(f"{url}/verify", data={"reason": "passport"}, headers={"Accept": "text/html"})
        assert r.status_code == 403 and t.requests.get(req.id).verified_at is None
        # no reason: the page says what to fix, nothing changed
        r = c.post(f"{url}/verify", data={"reason": " ", "csrf_token": token})
        assert r.status_code == 422 and 'id="error"' in r.text
        assert t.requests.get(req.id).verified_at is None
        r = c.post(f"{url}/verify", data={"reason": "passport seen", "csrf_token": token})
        assert r.status_code == 200 and t.requests.get(req.id).verification == "staff"
        r = c.post(f"{url}/extend", data={"reason": "archive on tape", "csrf_token": token})
        ext = t.requests.get(req.id)
        assert ext.state == "extended" and "archive on tape" in r.text
        assert f"extended from {ext.due_at}" in r.text
        r = c.post(f"{url}/extend", data={"reason": "again", "csrf_token": token})
        assert r.status_code == 409 and "already extended" in r.text
        r = c.post(f"{url}/refuse", data={"reason": "duplicate request", "csrf_token": token})
        assert t.requests.get(req.id).state == "refused" and 'id="execute"' not in r.text
        history = r.text.split('id="history"')[1]
        assert "passport seen" in history and "duplicate request" in history
        r = c.post(f"{url}/execute", data={"csrf_token": token})
        assert r.status_code == 409 and "already refused" in r.text
        r = c.get("/console/requests/nope", headers={"Accept": "text/html"})
        assert r.status_code == 404 and "Traceback" not in r.text
        r = c.post(f"{url}/launch", data={"csrf_token": token}, headers={"Accept": "text/html"})
        assert r.status_code in (404, 422)


def test_requests_page_overdue_and_office_only(lite) -> None:
    t = with_officer(lite)
    t.collect("support_request", SUPPORT)
    late = t.requests.open("delete", email="ada@example.com")
    lite.clock.advance(timedelta(days=40))
    fresh = t.requests.open("access", email="bob@example.com")
    with client_for(lite) as c:
        console_login(c, "agent@example.com")
        r = c.get("/console/requests", headers={"Accept": "text/html"})
        assert r.status_code == 403
        console_login(c)
        table = c.get("/console/requests").text.split('id="requests"')[1]
        assert table.index(late.id) < table.index(fresh.id)
        late_row = table.split(late.id)[0].rsplit("<tr", 1)[1]
        assert 'class="overdue"' in late_row and "(overdue)" in late_row
        dash = c.get("/console").text.split('id="requests"')[1]
        assert "(overdue)" in dash


def test_download_my_data_is_an_access_request_zip(mindlink) -> None:
    t = with_officer(mindlink)
    t.collect("support_request", SUPPORT)
    with client_for(mindlink) as c:
        token = privacy_login(c, mindlink)
        r = c.post(
            "/privacy/me/export", data={"csrf_token": "wrong"}, headers={"Accept": "text/html"}
        )
        assert r.status_code == 403 and t.requests.list(include_closed=True) == []
        r = c.post("/privacy/me/export", data={"csrf_token": token})
        assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
        z = zipfile.ZipFile(io.BytesIO(r.content))
        assert any("Ada Lovelace" in z.read(n).decode("utf-8", "replace") for n in z.namelist())
        [req] = t.requests.list(state="completed")
        assert req.kind == "access" and req.verification == "signin"
        me = c.get("/privacy/me").text
        assert "completed" in me.split(f'id="my-request-{req.id}"')[1].split("</tr>")[0]
        # A code in the address is refused with a clear message (old links, guesses).
        r = c.get("/privacy/download/not-a-token", headers={"Accept": "text/html"})
        assert r.status_code == 422 and "no longer accepted in the address" in r.text
        assert "Traceback" not in r.text


def test_breach_clocks_on_dashboard_and_breaches_page(lite) -> None:
    t = with_officer(lite)
    t.collect("support_request", SUPPORT)
    now = lite.clock.now()
    b = t.breaches.record_breach(
        title="Support export leaked",
        description="A support export was readable without login.",
        discovered_at=now,
        occurred_from=now - timedelta(days=2),
        occurred_until=now - timedelta(days=1),
        categories=["contact"],
    )
    clocks = t.breaches.clocks(b.id)
    assert clocks
    with client_for(lite) as c:
        console_login(c)
        dash = c.get("/console").text.split('id="br-h"')[1].split("</section>")[0]
        assert "Support export leaked" in dash and clocks[0]["status"].replace("_", " ") in dash
        assert clocks[0]["regime"] in dash
        lite.clock.advance(timedelta(days=10))
        console_login(c)  # the session ran out meanwhile
        dash = c.get("/console").text.split('id="br-h"')[1].split("</section>")[0]
        assert "overdue" in dash
        page = c.get("/console/breaches").text
        assert "Support export leaked" in page and "readable without login" in page
        console_login(c, "agent@example.com")
        assert c.get("/console/breaches", headers={"Accept": "text/html"}).status_code == 403


def test_record_of_processing_downloads(lite) -> None:
    with_officer(lite)
    with client_for(lite) as c:
        console_login(c)
        assert 'id="ropa-csv"' in c.get("/console/policy").text
        html = c.get("/console/ropa.html")
        assert html.status_code == 200 and "Record of processing" in html.text
        assert "attachment" in html.headers["content-disposition"]
        csv = c.get("/console/ropa.csv")
        assert csv.headers["content-type"].startswith("text/csv")
        assert csv.text.splitlines()[0].startswith("controller,")
        console_login(c, "agent@example.com")
        assert c.get("/console/ropa.csv", headers={"Accept": "text/html"}).status_code == 403


def test_policy_diff_then_publish(mindlink) -> None:
    with_officer(mindlink)
    text = mindlink.settings.resolved_policy_file.read_text()
    # A material change (retention): in force once the 30 days' notice from publishing
    # (5 Jan 2026) has run, so not on 2024-06-01 (refused below) but on 2026-02-05.
    early = text.replace('version: "1.0"', 'version: "1.1"', 1).replace(
        "effective: 2024-01-01", "effective: 2024-06-01", 1
    )
    early = re.sub(r"(\n\s+keep_for: )\S+", r"\g<1>P20Y", early, count=1)
    new = early.replace("effective: 2024-06-01", "effective: 2026-02-05", 1)
    assert new != text
    with client_for(mindlink) as c:
        token = console_login(c)
        form = c.get("/console/policy/publish").text
        assert 'id="show-diff"' in form
        bad = text.replace("legal_basis: consent", "legal_basis: whim", 1)
        r = c.post("/console/policy/diff", data={"yaml": bad, "csrf_token": token})
        assert r.status_code == 422
        assert re.search(r"policy\.yaml:\d+: ", r.text), r.text[:2000]
        assert "whim" in r.text and mindlink.policy.version == "1.0"
        r = c.post("/console/policy/diff", data={"yaml": new, "csrf_token": "x"})
        assert r.status_code == 403
        # uploaded as a file
        r = c.post(
            "/console/policy/diff",
            data={"csrf_token": token},
            files={"file": ("mindlink-1.1.yaml", new.encode(), "application/yaml")},
        )
        assert r.status_code == 200 and 'id="diff"' in r.text, r.text[:3000]
        diff = r.text.split('id="diff"')[1].split("</section>")[0]
        assert "From 1.0 to 1.1" in diff and "<li" in diff
        assert mindlink.policy.version == "1.0"  # nothing published yet
        r = c.post("/console/policy/diff", data={"yaml": early, "csrf_token": token})
        problem = r.text.split('id="problem"')[1].split("</p>")[0]
        assert "2026-02-05" in problem and 'id="publish"' not in r.text
        assert mindlink.policy.version == "1.0"
        r = c.post("/console/policy/diff", data={"yaml": new, "csrf_token": token})
        digest = re.search(r'name="preview" value="([0-9a-f]{64})"', r.text).group(1)
        r = c.post(
            "/console/policy/publish",
            data={
                "yaml": new,
                "filename": "mindlink-1.1.yaml",
                "csrf_token": token,
                "preview": digest,
                "confirm": "yes",
            },
        )
        assert r.status_code == 200 and 'id="published"' in r.text
        assert "1.1" in r.text.split('id="versions"')[1]
        # Published, and in effect from its date (midnight in London), not before.
        assert mindlink.newest_policy.version == "1.1" and mindlink.policy.version == "1.0"
        mindlink.clock.set(datetime(2026, 2, 5, tzinfo=UTC))
        assert mindlink.policy.version == "1.1"


def test_legal_demands_recorded_with_gag(lite) -> None:
    with_officer(lite)
    with client_for(lite) as c:
        token = console_login(c)
        base = {
            "authority": "Metropolitan Police",
            "reference": "PO-2026-17",
            "scope": "support tickets of ada@example.com",
            "categories": "communications",
            "csrf_token": token,
        }
        r = c.post("/console/demands", data={**base, "instrument": ""})
        assert r.status_code == 422 and "legal instrument" in r.text
        r = c.post(
            "/console/demands", data={**base, "instrument": "production_order", "gag_until": "soon"}
        )
        assert r.status_code == 422 and "YYYY-MM-DD" in r.text
        with lite.engine.connect() as conn:
            assert conn.execute(select(legal_demands)).first() is None
        until = (lite.clock.now() + timedelta(days=90)).date().isoformat()
        r = c.post(
            "/console/demands",
            data={**base, "instrument": "production_order", "gag_until": until},
        )
        assert r.status_code == 200
        table = r.text.split('id="demands"')[1]
        assert "PO-2026-17" in table and "(gagged)" in table and until in table
        r = c.post("/console/demands", data={**base, "instrument": "warrant"}, headers={})
        assert r.status_code == 200
        r = c.post(
            "/console/demands",
            data={k: v for k, v in base.items() if k != "csrf_token"} | {"instrument": "warrant"},
            headers={"Accept": "text/html"},
        )
        assert r.status_code == 403
