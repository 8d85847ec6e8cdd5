"""`POST /api/v1/subjects/{id}/gpc` (README, "Consent"): only the exact value `Sec-GPC: 1` is a
Global Privacy Control signal; no header or any other value is none, answered 200 with an
empty list and nothing recorded (never a 422); the person must still exist and be the
caller's to reach, whatever the header says."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from _http import api_key, client_for, is_problem
from troth.audit import audit_entries
from troth.consent.tables import consent_events

SUPPORT = {"name": "Ada Lovelace", "email": "ada@example.com", "message": "My invoice is wrong"}
NOT_A_SIGNAL = ["0", "true", "TRUE", "yes", "01", "1.0", "1, 1", "", "-1"]


def _recorded(ctx: Any) -> tuple[int, int]:
    """Consent events, and consent audit entries, so far."""
    with ctx.engine.connect() as conn:
        events = conn.execute(select(func.count()).select_from(consent_events)).scalar_one()
        audited = conn.execute(
            select(func.count())
            .select_from(audit_entries)
            .where(audit_entries.c.action.like("consent.%"))
        ).scalar_one()
    return int(events), int(audited)


@pytest.mark.parametrize("value", NOT_A_SIGNAL)
def test_any_other_value_is_no_signal(mindlink: Any, value: str) -> None:
    with client_for(mindlink) as c:
        h = api_key(c, ["collect", "use"])
        r = c.post("/api/v1/collect/support_request", json={"data": SUPPORT}, headers=h)
        sid = r.json()["subject_id"]
        before = _recorded(mindlink)
        state = c.get(f"/api/v1/subjects/{sid}/consents", headers=h).json()
        r = c.post(f"/api/v1/subjects/{sid}/gpc", headers=h | {"Sec-GPC": value})
        assert r.status_code == 200, r.text
        assert r.json() == []
        assert _recorded(mindlink) == before
        assert c.get(f"/api/v1/subjects/{sid}/consents", headers=h).json() == state
        # Collecting with such a header records no opt-out either.
        r = c.post(
            "/api/v1/collect/support_request",
            json={"data": dict(SUPPORT, email="bo@example.com")},
            headers=h | {"Sec-GPC": value},
        )
        assert r.status_code == 201 and _recorded(mindlink) == before


def test_only_1_opts_out_once_and_no_header_is_no_signal(mindlink: Any) -> None:
    with client_for(mindlink) as c:
        h = api_key(c, ["collect", "use"])
        sid = c.post("/api/v1/collect/support_request", json={"data": SUPPORT}, headers=h).json()[
            "subject_id"
        ]
        before = _recorded(mindlink)
        r = c.post(f"/api/v1/subjects/{sid}/gpc", headers=h)
        assert r.status_code == 200 and r.json() == [] and _recorded(mindlink) == before
        r = c.post(f"/api/v1/subjects/{sid}/gpc", headers=h | {"Sec-GPC": "1"})
        assert r.status_code == 200, r.text
        opted = {x["purpose"] for x in r.json()}
        assert "personalisation" in opted and all(x["granted"] is False for x in r.json())
        after = _recorded(mindlink)
        assert after[0] == before[0] + len(opted)
        # Again: already opted out, nothing more recorded.
        r = c.post(f"/api/v1/subjects/{sid}/gpc", headers=h | {"Sec-GPC": "1"})
        assert r.status_code == 200 and r.json() == [] and _recorded(mindlink) == after


@pytest.mark.parametrize("value", [None, "0", "1"])
def test_unknown_malformed_or_unreachable_person_whatever_the_header(
    mindlink: Any, value: str | None
) -> None:
    header = {} if value is None else {"Sec-GPC": value}
    with client_for(mindlink) as c:
        h = api_key(c, ["collect", "use"])
        before = _recorded(mindlink)
        is_problem(c.post("/api/v1/subjects/ffff0000ffff0000/gpc", headers=h | header), 404)
        # an over-long id: the unknown id's 404, not a 422 telling the length rule (#18 F6)
        is_problem(c.post(f"/api/v1/subjects/{'a' * 65}/gpc", headers=h | header), 404)
        sid = c.post("/api/v1/collect/support_request", json={"data": SUPPORT}, headers=h).json()[
            "subject_id"
        ]
        is_problem(c.post(f"/api/v1/subjects/{sid}/gpc", headers=header), 401)
        reader = api_key(c, ["use"])  # recording GPC needs the collect scope
        is_problem(c.post(f"/api/v1/subjects/{sid}/gpc", headers=reader | header), 403)
        assert _recorded(mindlink)[0] == before[0]


@pytest.mark.parametrize("value", [None, "0", "true", "1"])
def test_another_tenants_person_is_not_found_whatever_the_header(
    phone: Any, value: str | None
) -> None:
    header = {} if value is None else {"Sec-GPC": value}
    with client_for(phone) as c:
        t = c.app.state.troth
        acme = t.access.tenants.create_tenant("Acme", "office@acme.example")
        bolt = t.access.tenants.create_tenant("Bolt", "office@bolt.example")
        mine = api_key(c, ["collect"], tenant_id=acme)
        signup = {"company_name": "Acme Ltd", "name": "Ann", "email": "ann@acme.example"}
        r = c.post("/api/v1/collect/customer_signup", json={"data": signup}, headers=mine)
        assert r.status_code == 201, r.text
        sid = r.json()["subject_id"]
        theirs = api_key(c, ["collect"], tenant_id=bolt)
        before = _recorded(phone)
        is_problem(c.post(f"/api/v1/subjects/{sid}/gpc", headers=theirs | header), 404)
        assert _recorded(phone)[0] == before[0]
        r = c.post(f"/api/v1/subjects/{sid}/gpc", headers=mine | header)
        assert r.status_code == 200, r.text
