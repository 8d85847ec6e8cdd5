"""An offboarded customer is closed (trial 7): after `troth tenants offboard`, nothing new is
stored for it by any door a user has (collect by CLI, API and import; invitations and their
acceptance; member accounts; keys bound to it; support grants and their approval; requests
opened for it). Each is refused ``tenant_offboarded`` (409), saying the day, audited under
the tenant, with nothing stored; the person erased at offboarding stays erased. Another
customer is served as before."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from _http import api_key, client_for, is_problem
from cli_runner import run
from troth.access.accounts import actor_for
from troth.access.tables import api_keys, invitations, support_grants, users
from troth.audit.entries import list_entries
from troth.engine import Troth
from troth.errors import Conflict
from troth.gate import SYSTEM
from troth.requests.tables import requests
from troth.store.tables import records, subjects

PW = "correct horse battery staple"
PERSON = {
    "name": "Vic Vance",
    "email": "vic@van.example",
    "address": "1 Main Street, Vancouver",
    "product": "Mindlink Pro",
    "renewal_date": "2027-01-01",
}


def _offboarded(t: Troth) -> dict[str, Any]:
    """Van (one person, a pending invitation and grant) offboarded; Bolt open."""
    van = t.access.tenants.create_tenant("Van", "office@van.example")
    bolt = t.access.tenants.create_tenant("Bolt", "office@bolt.example")
    sid = t.collect("purchase", PERSON, tenant_id=van).subject_id
    vendor = actor_for(
        t.access.accounts.add_user("ops@vendor.example", kind="vendor_admin", password=PW)
    )
    grant = t.access.grants.request_grant(van, by=vendor, reason="r", duration=timedelta(hours=1))
    token, _ = t.access.tenants.invite(van, "late@van.example", role="admin")
    cert = t.requests.offboard_tenant(van).certificate
    assert cert["people"] == 1
    return {"van": van, "bolt": bolt, "sid": sid, "grant": grant.id, "token": token}


def _counts(t: Troth, van: str) -> dict[str, Any]:
    """What is stored for Van: people, values, keys, invitations, members, requests, grants."""
    with t.ctx.engine.connect() as conn:

        def n(table: Any, *where: Any) -> int:
            return int(conn.execute(sa.select(sa.func.count()).where(*where)).scalar_one())

        return {
            "people": n(subjects, subjects.c.tenant_id == van),
            "live_people": n(subjects, subjects.c.tenant_id == van, subjects.c.erased_at.is_(None)),
            "values": n(records, records.c.tenant_id == van),
            "keys": n(api_keys, api_keys.c.tenant_id == van),
            "invitations": n(invitations, invitations.c.tenant_id == van),
            "active_members": n(users, users.c.tenant_id == van, users.c.disabled_at.is_(None)),
            "requests": n(requests, requests.c.tenant_id == van),
            "grants": sorted(
                conn.execute(
                    sa.select(support_grants.c.status).where(support_grants.c.tenant_id == van)
                ).scalars()
            ),
        }


def _refusals(t: Troth) -> list[tuple[str, str | None]]:
    return [
        (e.entry.action, e.entry.tenant_id)
        for e in list_entries(t.ctx, outcome="deny", limit=10_000)
        if e.entry.reason == "tenant_offboarded"
    ]


def test_every_cli_door_of_an_offboarded_customer_is_closed(
    home: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    t = home("mindlink")
    w = _offboarded(t)
    van, day = w["van"], t.ctx.clock.now().date().isoformat()
    before = _counts(t, van)
    h = str(t.ctx.settings.home)
    monkeypatch.setenv("TROTH_PASSWORD", PW)
    rows = tmp_path / "people.jsonl"
    rows.write_text(json.dumps({**PERSON, "email": "imp@van.example"}) + "\n")
    doors = {
        "collect": ("collect", "purchase", "--tenant", van, "--data", json.dumps(PERSON)),
        "import": ("import", str(rows), "--point", "purchase", "--tenant", van),
        "invite": ("tenants", "invite", van, "new@van.example", "--role", "admin", "--show-link"),
        "key": ("keys", "api", "create", "van again", "--tenant", van, "--scope", "use"),
        "grant": (
            "grants",
            "request",
            van,
            "--as",
            "ops@vendor.example",
            "--reason",
            "x",
            "--days",
            "1",
        ),
        "request": ("requests", "open", "access", "--email", "vic@van.example", "--tenant", van),
    }
    for name, args in doors.items():
        code, out, err = run(capsys, "--home", h, *args)
        assert code == 1, (name, out, err)
        assert f"offboarded on {day}" in err, (name, err)

    assert _counts(t, van) == before  # nothing stored
    assert before["live_people"] == 0 and before["active_members"] == 0
    assert before["grants"] == ["requested"]
    denied = _refusals(t)
    assert len(denied) >= len(doors) and {tid for _, tid in denied} == {van}
    # Another customer is served as before.
    code, out, err = run(capsys, "--home", h, "tenants", "invite", w["bolt"], "b@bolt.example")
    assert code == 0, err


def test_every_api_door_of_an_offboarded_customer_is_closed(home: Any) -> None:
    ctx = home("mindlink", context=True)
    t = Troth(ctx)
    w = _offboarded(t)
    van = w["van"]
    before = _counts(t, van)
    with client_for(ctx) as c:
        office = api_key(c, ["admin", "collect", "requests"])
        answers = {
            "collect": c.post(
                "/api/v1/collect/purchase", json={"data": PERSON, "tenant_id": van}, headers=office
            ),
            "invite": c.post(
                f"/api/v1/tenants/{van}/invitations",
                json={"email": "new@van.example", "role": "admin"},
                headers=office,
            ),
            "request": c.post(
                "/api/v1/requests",
                json={"kind": "access", "email": "vic@van.example", "tenant_id": van},
                headers=office,
            ),
        }
        for name, r in answers.items():
            body = is_problem(r, 409, "tenant_offboarded")
            assert "offboarded on" in body["detail"], name
        ok = c.post(
            "/api/v1/collect/purchase",
            json={"data": {**PERSON, "email": "b@bolt.example"}, "tenant_id": w["bolt"]},
            headers=office,
        )
        assert ok.status_code == 201, ok.text
    assert _counts(t, van) == before
    assert {a for a, _ in _refusals(t)} >= {"collect", "invite", "request.open"}


def test_the_person_erased_at_offboarding_stays_erased(home: Any) -> None:
    t = home("mindlink")
    w = _offboarded(t)
    sid = w["sid"]
    with t.ctx.engine.connect() as conn:
        erased = conn.execute(sa.select(subjects).where(subjects.c.id == sid)).mappings().one()
    assert erased["status"] == "erased" and erased["email_bidx"] is None
    # Named by id (their tenant derived from them) or by the same address: refused.
    with pytest.raises(Conflict) as err:
        t.collect("purchase", PERSON, subject_id=sid)
    assert err.value.code == "tenant_offboarded"
    with pytest.raises(Conflict, match="offboarded on"):
        t.collect("purchase", PERSON, tenant_id=w["van"])
    with pytest.raises(Conflict, match="offboarded on"):
        t.requests.open("access", subject_id=sid)
    with pytest.raises(
        Conflict, match="offboarded on"
    ):  # its admins are disabled: only troth itself could approve
        t.access.grants.approve_grant(w["grant"], by=SYSTEM)
    with pytest.raises(
        Conflict, match="offboarded on"
    ):  # an invitation still pending when it was offboarded
        t.access.tenants.accept_invitation(w["token"], PW)
    with pytest.raises(
        Conflict, match="offboarded on"
    ):  # a member account (no CLI door: the library's)
        t.access.accounts.add_user(
            "m@van.example", kind="tenant_member", tenant_id=w["van"], password=PW
        )
    with t.ctx.engine.connect() as conn:
        after = conn.execute(sa.select(subjects).where(subjects.c.id == sid)).mappings().one()
        values = conn.execute(
            sa.select(sa.func.count()).where(records.c.tenant_id == w["van"])
        ).scalar_one()
    assert dict(after) == dict(erased)
    assert _counts(t, w["van"])["live_people"] == 0
    # Offboarding again: the same certificate, and still nobody of Van's left.
    again = t.requests.offboard_tenant(w["van"])
    assert again.again and values == _counts(t, w["van"])["values"]
