"""Data-subject requests over HTTP: open with Idempotency-Key, verify (code or staff),
extend, execute, refuse, the list by deadline with its pages, an access export download,
and every bad input as a problem document with nothing changed."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import timedelta

from sqlalchemy import func, select

from _http import PASSWORD, api_key, client_for, csrf_from, is_problem
from outbox_helpers import latest_body
from troth.audit.entries import list_entries
from troth.engine import Troth
from troth.requests.tables import requests as requests_table

SUPPORT = {"name": "Ada Lovelace", "email": "ada@example.com", "message": "Hello"}


def code_for(ctx, email: str) -> str:
    body = latest_body(ctx, to=email)
    return re.search(r"\b(\d{6})\b", body).group(1)


def count(ctx) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(requests_table)).scalar_one())


def test_open_verify_execute_delete(mindlink) -> None:
    sid = Troth(mindlink).collect("support_request", SUPPORT).subject_id
    with client_for(mindlink) as c:
        admin = api_key(c, ["requests:admin"])
        body = {"kind": "delete", "email": "ada@example.com"}
        r = c.post("/api/v1/requests", json=body, headers={**admin, "Idempotency-Key": "k1"})
        assert r.status_code == 201, r.text
        req = r.json()
        assert req["state"] == "identity_unverified" and req["subject_id"] == sid
        assert "email" not in req and req["overdue"] is False
        again = c.post("/api/v1/requests", json=body, headers={**admin, "Idempotency-Key": "k1"})
        assert again.json()["id"] == req["id"] and again.headers["Idempotent-Replayed"] == "true"
        assert count(mindlink) == 1
        other = c.post(
            "/api/v1/requests",
            json={**body, "kind": "access"},
            headers={**admin, "Idempotency-Key": "k1"},
        )
        is_problem(other, 409, "idempotency_key_reused")
        rid = req["id"]
        is_problem(c.post(f"/api/v1/requests/{rid}/execute", headers=admin), 409)
        wrong = c.post(f"/api/v1/requests/{rid}/verify", json={"code": "000000"}, headers=admin)
        if code_for(mindlink, "ada@example.com") != "000000":
            assert is_problem(wrong, 401, "wrong_code")["attempts_left"] == 4
        ok = c.post(
            f"/api/v1/requests/{rid}/verify",
            json={"code": code_for(mindlink, "ada@example.com")},
            headers=admin,
        )
        assert ok.status_code == 200 and ok.json()["state"] == "verified"
        done = c.post(f"/api/v1/requests/{rid}/execute", headers=admin)
        assert done.status_code == 200, done.text
        out = done.json()
        assert out["state"] == "completed" and out["download_code"] is None
        troth = out["result"]["systems"][0]
        assert troth["system"] == "troth" and troth["found"] >= 1
        one = c.get(f"/api/v1/requests/{rid}", headers=admin).json()
        events = [e["event"] for e in one["history"]]
        assert events[0] == "received" and "verified" in events and events[-1] == "completed"
        is_problem(c.post(f"/api/v1/requests/{rid}/execute", headers=admin), 409, "request_closed")
        assert c.get("/api/v1/requests", headers=admin).json()["items"] == []
        closed = c.get("/api/v1/requests?state=completed", headers=admin).json()["items"]
        assert [x["id"] for x in closed] == [rid]


def test_staff_operations_and_illegal_transitions(mindlink) -> None:
    Troth(mindlink).collect("support_request", SUPPORT)
    with client_for(mindlink) as c:
        admin = api_key(c, ["requests:admin"])
        rid = c.post(
            "/api/v1/requests", json={"kind": "restrict", "email": "ada@example.com"}, headers=admin
        ).json()["id"]
        url = f"/api/v1/requests/{rid}"
        is_problem(c.post(f"{url}/verify-by-staff", json={"reason": ""}, headers=admin), 422)
        r = c.post(f"{url}/verify-by-staff", json={"reason": "passport seen"}, headers=admin)
        assert r.status_code == 200 and r.json()["verification"] == "staff"
        is_problem(
            c.post(f"{url}/verify-by-staff", json={"reason": "again"}, headers=admin),
            409,
            "already_verified",
        )
        r = c.post(f"{url}/extend", json={"reason": "many systems"}, headers=admin)
        ext = r.json()
        assert r.status_code == 200 and ext["state"] == "extended"
        assert ext["extended_due_at"] > ext["due_at"] and ext["deadline"] == ext["extended_due_at"]
        is_problem(
            c.post(f"{url}/extend", json={"reason": "more"}, headers=admin), 409, "already_extended"
        )
        r = c.post(f"{url}/refuse", json={"reason": "manifestly unfounded"}, headers=admin)
        assert r.json()["state"] == "refused"
        is_problem(c.post(f"{url}/refuse", json={"reason": "x"}, headers=admin), 409)
        history = [e["event"] for e in c.get(url, headers=admin).json()["history"]]
        assert history[-3:] == ["verified", "extended", "refused"]


def test_bad_input_and_credentials(lite) -> None:
    Troth(lite).collect("support_request", SUPPORT)
    with client_for(lite) as c:
        admin = api_key(c, ["requests:admin"])
        reader = api_key(c, ["use"])
        opener = api_key(c, ["requests"])
        before = count(lite)
        is_problem(c.post("/api/v1/requests", json={"kind": "delete"}), 401)
        is_problem(
            c.post("/api/v1/requests", json={"kind": "delete", "email": "a@b.c"}, headers=reader),
            403,
            "scope_missing",
        )
        is_problem(c.post("/api/v1/requests", json={"kind": "nope"}, headers=admin), 422)
        is_problem(c.post("/api/v1/requests", json={"kind": "delete"}, headers=admin), 422)
        is_problem(
            c.post(
                "/api/v1/requests",
                content=b"{not json",
                headers={**admin, "Content-Type": "application/json"},
            ),
            400,
            "malformed_json",
        )
        is_problem(
            c.post("/api/v1/requests", json={"kind": "delete", "extra": 1}, headers=admin), 422
        )
        assert count(lite) == before
        is_problem(c.get("/api/v1/requests/nope", headers=admin), 404, "unknown_request")
        is_problem(c.post("/api/v1/requests/nope/execute", headers=admin), 404)
        is_problem(c.get("/api/v1/requests?state=bogus", headers=admin), 422)
        is_problem(c.get("/api/v1/requests?cursor=zz", headers=admin), 422, "invalid_cursor")
        is_problem(c.get("/api/v1/requests?due_within=-1", headers=admin), 422)
        # `requests` may open and relay the person's code, not run the desk.
        r = c.post(
            "/api/v1/requests", json={"kind": "delete", "email": "ada@example.com"}, headers=opener
        )
        assert r.status_code == 201
        rid = r.json()["id"]
        refused = is_problem(c.get("/api/v1/requests", headers=opener), 403, "refused")
        assert refused["reason"] == "scope_missing"  # the request desk, decided by the domain
        is_problem(c.post(f"/api/v1/requests/{rid}/execute", headers=opener), 403)
        is_problem(
            c.post(f"/api/v1/requests/{rid}/verify-by-staff", json={"reason": "x"}, headers=opener),
            403,
        )
        assert Troth(lite).requests.get(rid).state == "identity_unverified"
        is_problem(
            c.post("/api/v1/exports", json={"code": "not-a-token"}, headers=admin), 404, "no_export"
        )


def test_list_by_deadline_filters_and_pages(mindlink) -> None:
    t = Troth(mindlink)
    t.collect("support_request", SUPPORT)
    ids = [t.requests.open("access", email=f"p{i}@example.com").id for i in range(3)]
    mindlink.clock.advance(timedelta(days=10))
    later = [t.requests.open("delete", email=f"q{i}@example.com").id for i in range(2)]
    with client_for(mindlink) as c:
        admin = api_key(c, ["requests:admin"])
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            q = "/api/v1/requests?limit=2" + (f"&cursor={cursor}" if cursor else "")
            page = c.get(q, headers=admin).json()
            seen += [x["id"] for x in page["items"]]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert pages == 3 and sorted(seen[:3]) == sorted(ids) and sorted(seen[3:]) == sorted(later)
        mindlink.clock.advance(timedelta(days=25))  # the first three are past their month
        over = c.get("/api/v1/requests?overdue=true", headers=admin).json()["items"]
        assert sorted(x["id"] for x in over) == sorted(ids) and all(x["overdue"] for x in over)
        soon = c.get("/api/v1/requests?due_within=20", headers=admin).json()["items"]
        assert len(soon) == 5
        none = c.get("/api/v1/requests?state=verified", headers=admin).json()["items"]
        assert none == []


def test_access_export_download(mindlink) -> None:
    Troth(mindlink).collect("support_request", SUPPORT)
    with client_for(mindlink) as c:
        admin = api_key(c, ["requests:admin"])
        rid = c.post(
            "/api/v1/requests", json={"kind": "access", "email": "ada@example.com"}, headers=admin
        ).json()["id"]
        c.post(f"/api/v1/requests/{rid}/verify-by-staff", json={"reason": "ID"}, headers=admin)
        done = c.post(f"/api/v1/requests/{rid}/execute", headers=admin).json()
        code = done["download_code"]
        assert done["state"] == "completed" and code
        is_problem(c.post("/api/v1/exports", json={"code": code}), 401)
        # The code in a URL is refused, whoever asks, and the export is still there.
        is_problem(c.get(f"/api/v1/exports/{code}", headers=admin), 422, "secret_in_url")
        r = c.post("/api/v1/exports", json={"code": code}, headers=admin)
        assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
        names = zipfile.ZipFile(io.BytesIO(r.content)).namelist()
        assert names and b"Ada Lovelace" not in r.content[:4]
        # Once: a second download with the same code is refused.
        is_problem(
            c.post("/api/v1/exports", json={"code": code}, headers=admin), 404, "export_used"
        )
        # the code is only given once: reading the request again does not show it
        assert c.get(f"/api/v1/requests/{rid}", headers=admin).json()["download_code"] is None


def test_console_session_needs_privacy_office_and_csrf(lite) -> None:
    t = Troth(lite)
    t.collect("support_request", SUPPORT)
    t.access.accounts.add_user(
        "officer@example.com", kind="staff", role="privacy_office", password=PASSWORD
    )
    t.access.accounts.add_user("agent@example.com", kind="staff", role="support", password=PASSWORD)
    rid = t.requests.open("delete", email="ada@example.com").id
    with client_for(lite) as c:
        for who, status in (("agent@example.com", 403), ("officer@example.com", 200)):
            c.cookies.clear()
            login = c.get("/console/login").text
            c.post(
                "/console/login",
                data={"email": who, "password": PASSWORD, "csrf_token": csrf_from(login)},
            )
            r = c.get("/api/v1/requests")
            assert r.status_code == status, (who, r.text)
        assert [x["id"] for x in r.json()["items"]] == [rid]
        is_problem(
            c.post(f"/api/v1/requests/{rid}/verify-by-staff", json={"reason": "x"}),
            403,
            "csrf_failed",
        )
        token = csrf_from(c.get("/console").text)
        r = c.post(
            f"/api/v1/requests/{rid}/verify-by-staff",
            json={"reason": "called back"},
            headers={"X-CSRF-Token": token},
        )
        assert r.status_code == 200 and r.json()["state"] == "verified"


def test_api_key_last_use_written_at_most_once_a_minute(lite) -> None:
    t = Troth(lite)
    t.collect("support_request", SUPPORT)
    key, record = t.access.keys.create_api_key("desk", ["requests:admin"])
    auth = {"Authorization": f"Bearer {key}"}

    def last_used():
        return next(k for k in t.access.keys.list_api_keys() if k.id == record.id).last_used_at

    with client_for(lite) as c:
        assert last_used() is None
        start = lite.clock.now()
        assert c.get("/api/v1/requests", headers=auth).status_code == 200
        assert last_used() == start
        lite.clock.advance(timedelta(seconds=59))
        c.get("/api/v1/requests", headers=auth)
        assert last_used() == start  # within the minute: no write
        lite.clock.advance(timedelta(seconds=1))
        c.get("/api/v1/requests", headers=auth)
        assert last_used() == start + timedelta(seconds=60)  # true to the minute
        # Revoked while its last use is fresh: the event-loop look-up must not accept it,
        # and the refusal is audited.
        t.access.keys.revoke_api_key(record.id)
        is_problem(c.get("/api/v1/requests", headers=auth), 401, "revoked_key")
        last = list_entries(lite, newest_first=True, limit=1)[0].entry
        assert last.outcome == "deny" and last.reason == "revoked_key"


def test_a_key_cannot_have_troth_mail_an_address_without_end(mindlink) -> None:
    """Each request opened by e-mail mails the address (a receipt, a code): an API key
    opens at most 3 for one address in 24 hours, known address or not, the 4th refused
    429 and audited; the office is not limited; a day later the key may again."""
    Troth(mindlink).collect("support_request", SUPPORT)
    with client_for(mindlink) as c:
        key = api_key(c, ["requests"])
        for address in ("ada@example.com", "nobody@example.com"):
            for _ in range(3):
                body = {"kind": "access", "email": address}
                assert c.post("/api/v1/requests", json=body, headers=key).status_code == 201
            r = c.post("/api/v1/requests", json={"kind": "delete", "email": address}, headers=key)
            body = is_problem(r, 429, "rate_limited")
            assert address not in body["detail"] and "24 hours" in body["detail"]
        before = count(mindlink)
        # Another address is not held back by these.
        other = {"kind": "access", "email": "bo@example.com"}
        assert c.post("/api/v1/requests", json=other, headers=key).status_code == 201
        refused = [
            e.entry
            for e in list_entries(mindlink, limit=500)
            if e.entry.action == "request.open" and e.entry.outcome.value == "deny"
        ]
        assert [e.reason for e in refused] == ["too_many_requests"] * 2
        assert not any("ada@" in repr(e) or "nobody@" in repr(e) for e in refused)
        # The office (troth itself, staff at the desk) answers what arrives, unlimited.
        t = Troth(mindlink)
        t.requests.open("access", email="ada@example.com", channel="staff")
        assert count(mindlink) == before + 2
        mindlink.clock.advance(timedelta(hours=24, seconds=1))
        again = {"kind": "access", "email": "ada@example.com"}
        assert c.post("/api/v1/requests", json=again, headers=key).status_code == 201
