"""A customer's list of its own affected people over HTTP (a key bound to it), on its
console pages (its admins) and on the command line (``--actor tenant_admin:...``); the
console's dashboard counts only the clocks the vendor owes (trial 16, G1 and G2)."""

from __future__ import annotations

import json
import re
from typing import Any

from _http import PASSWORD, api_key, client_for, console_login, csrf_from, is_problem
from breach_helpers import account, record, world


def _tenant_login(c: Any, email: str) -> None:
    c.cookies.clear()
    page = c.get("/tenant/login").text
    r = c.post(
        "/tenant/login",
        data={"email": email, "password": PASSWORD, "csrf_token": csrf_from(page)},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text


def test_over_http_a_customer_key_lists_its_own_people(home, clock):
    w = world(home, clock)
    t = w.t
    acme_only = record(t, clock, tenants=[w.acme]).id
    with client_for(t.ctx) as c:
        acme = api_key(c, ["breaches", "use"], tenant_id=w.acme)
        url = f"/api/v1/breaches/{w.breach}/affected"
        r = is_problem(c.get(url, headers=acme), 409)
        assert r["code"] == "not_told_yet"
        office = api_key(c, ["admin"])
        c.post(
            f"/api/v1/breaches/{w.breach}/notify-controllers",
            json={"measures": "Closed."},
            headers=office,
        )
        c.post(
            f"/api/v1/breaches/{acme_only}/notify-controllers",
            json={"measures": "Closed."},
            headers=office,
        )
        r = c.get(url, headers=acme)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["your_people_affected"] == 2 and body["next_cursor"] is None
        emails = sorted(x["contact"][0]["value"] for x in body["items"])
        assert emails == ["a0@acme.example", "a1@acme.example"]
        assert "preview" not in body and "tenant_id" not in body["items"][0]
        one = c.get(f"{url}?limit=1", headers=acme).json()
        assert len(one["items"]) == 1 and one["next_cursor"]
        rest = c.get(f"{url}?limit=1&cursor={one['next_cursor']}", headers=acme).json()
        assert rest["next_cursor"] is None and rest["items"][0] != one["items"][0]
        # Bolt's key: its own person of the shared breach; Acme's breach is unknown to it.
        bolt = api_key(c, ["breaches"], tenant_id=w.bolt)
        mine = c.get(url, headers=bolt).json()
        assert [x["subject_id"] for x in mine["items"]] == w.bolt_people
        assert mine["your_people_affected"] == 1 and mine["items"][0]["contact"] == []
        is_problem(c.get(f"/api/v1/breaches/{acme_only}/affected", headers=bolt), 404)
        cedar = api_key(c, ["admin"], tenant_id=w.cedar)
        is_problem(c.get(url, headers=cedar), 404)
        weak = api_key(c, ["use"], tenant_id=w.acme)
        assert is_problem(c.get(url, headers=weak), 403)["reason"] == "scope_missing"
        # The vendor's office still reviews the whole list.
        everyone = c.get(url, headers=office).json()
        assert len(everyone["items"]) == 4 and "preview" in everyone


def test_the_customer_s_console_lists_its_people_to_its_admins(home, clock):
    w = world(home, clock)
    t = w.t
    account(t, "boss@acme.example", w.acme)
    account(t, "clerk@acme.example", w.acme, role="member")
    account(t, "boss@bolt.example", w.bolt)
    acme_only = record(t, clock, tenants=[w.acme]).id
    t.breaches.notify_controllers(w.breach, measures="Closed.")
    t.breaches.notify_controllers(acme_only, measures="Closed.")
    with client_for(t.ctx) as c:
        _tenant_login(c, "boss@acme.example")
        home_page = c.get("/tenant").text
        assert f'id="people-{w.breach}"' in home_page
        page = c.get(f"/tenant/breaches/{w.breach}")
        assert page.status_code == 200, page.text
        assert "a0@acme.example" in page.text and "a1@acme.example" in page.text
        assert "b@bolt.example" not in page.text and w.bolt_people[0] not in page.text
        assert "yours to tell" in page.text and 'id="your-clocks"' in page.text
        _tenant_login(c, "boss@bolt.example")
        assert c.get(f"/tenant/breaches/{acme_only}").status_code == 404
        bolt_page = c.get(f"/tenant/breaches/{w.breach}").text
        assert "b@bolt.example" in bolt_page and "acme.example" not in bolt_page
        _tenant_login(c, "clerk@acme.example")
        assert c.get(f"/tenant/breaches/{w.breach}").status_code == 403


def test_on_the_command_line_as_the_customer_s_admin(home, clock, capsys):
    from cli_runner import run

    w = world(home, clock)
    t = w.t
    account(t, "boss@acme.example", w.acme)
    account(t, "clerk@acme.example", w.acme, role="member")
    t.breaches.notify_controllers(w.breach, measures="Closed.")

    def cli(*args: str) -> tuple[int, str, str]:
        return run(capsys, "--home", str(t.ctx.home), "breaches", *args)

    code, out, err = cli(
        "affected", w.breach, "--actor", "tenant_admin:boss@acme.example@Acme GmbH", "--json"
    )
    assert code == 0, err
    got = json.loads(out)
    assert got["your_people_affected"] == 2
    assert sorted(p["subject_id"] for p in got["people"]) == sorted(w.acme_people)
    code, out, err = cli(
        "affected", w.breach, "--actor", "tenant_admin:boss@acme.example@Acme GmbH"
    )
    assert code == 0 and "2 of your people affected" in out
    code, out, err = cli(
        "affected", w.breach, "--actor", "tenant_member:clerk@acme.example@Acme GmbH"
    )
    assert code != 0 and "admin" in (out + err)
    # The office's review is unchanged.
    code, out, _ = cli("affected", w.breach, "--json")
    assert code == 0 and len(json.loads(out)["people"]) == 4


def test_the_dashboard_lists_only_the_clocks_the_vendor_owes(home, clock):
    w = world(home, clock)
    t = w.t
    t.access.accounts.add_user(
        "po@vendor.example", kind="staff", role="privacy_office", password=PASSWORD
    )
    clock.advance(hours=100)
    with client_for(t.ctx) as c:
        console_login(c, "po@vendor.example")
        board = c.get("/console").text
        rows = re.findall(
            r'<tr class="overdue">\s*(?:<td rowspan[^>]*>.*?</td>)?\s*<td>([^<]*)', board, re.S
        )
        # Only telling the customers is overdue; the customers' 72 hours are not the vendor's.
        assert rows and all("tell the customers" in r for r in rows), rows
        assert "the customers' duty" in board
        t.breaches.notify_controllers(w.breach, measures="Closed.")
        t.breaches.notify_individuals(w.breach, "{{ organisation }}: {{ breach.title }}")
        board = c.get("/console").text
        assert "No open breaches." in board
        register = c.get("/console/breaches").text
        assert "for controllers" in register and "met late" in register
