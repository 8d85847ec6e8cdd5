"""A person's access export holds everything of theirs. Handed to their customer's side
(an admin of their tenant, a key bound to it: the request desk), it was a way round both
defects of trial #15: an employer's key with ``requests:admin`` opened, verified and
executed an access request and downloaded the employee's heart rate and cycle logs; an
admin whose member role reads no health data did the same. Now a customer-side download of
a person's export is refused, audited, where the policy has ``vendor_only`` purposes
(``vendor_only``) or the admin holds a member role (``role_not_allowed``); the person's own
download, the office's and troth's are unchanged, and so is a policy without the flag for
an admin without a role and a key."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import pytest

from _http import client_for, is_problem
from pulse_samples import PULSE, PulseWorld, pulse_world, without_vendor_only
from troth.audit.entries import list_entries
from troth.errors import Refused
from troth.gate import SYSTEM, Actor, ActorKind


def _access_export(w: PulseWorld) -> str:
    """The download code of an executed access request of ``emp`` (Contoso's)."""
    t = w.t
    rec = t.requests.open("access", subject_id=w.people["emp"], tenant_id=w.tenants["contoso"])
    t.requests.verify_by_staff(rec.id, staff="po", reason="ID seen")
    done = t.requests.execute(rec.id)
    assert done.download_token
    return done.download_token


def _denied(w: PulseWorld) -> list[Any]:
    entries = list_entries(w.t.ctx, action="request.download", limit=50)
    return [e.entry for e in entries if e.entry.outcome.value == "deny"]


@pytest.mark.parametrize("who", ["boss", "coord", "key_admin", "key_all"])
def test_with_vendor_purposes_no_customer_downloads_a_persons_export(
    home: Any, tmp_path: Path, who: str
) -> None:
    w = pulse_world(home, tmp_path)
    code = _access_export(w)
    with pytest.raises(Refused) as exc:
        w.t.requests.download(code, actor=w.actors[who])
    assert exc.value.reason == "vendor_only"
    assert "code they were mailed" in exc.value.message
    (denied,) = _denied(w)
    assert denied.reason == "vendor_only" and denied.subject_id == w.people["emp"]
    # The person's own download is whole: their heart rate and cycle log are theirs.
    me = Actor(ActorKind.subject, w.people["emp"], tenant_id=w.tenants["contoso"])
    zf = zipfile.ZipFile(io.BytesIO(w.t.requests.download(code, actor=me)))
    text = zf.read("data.json").decode()
    assert "heart_rate" in text and "cycle_day" in text


def test_the_employers_request_desk_key_gets_no_health_data_over_http(
    home: Any, tmp_path: Path
) -> None:
    w = pulse_world(home, tmp_path)
    with client_for(w.t.ctx) as c:
        key, _ = w.t.access.keys.create_api_key(
            "hr", ["requests:admin"], tenant_id=w.tenants["contoso"]
        )
        h = {"Authorization": f"Bearer {key}"}
        body = {"kind": "access", "email": w.emails["emp"]}
        rid = c.post("/api/v1/requests", json=body, headers=h).json()["id"]
        c.post(f"/api/v1/requests/{rid}/verify-by-staff", json={"reason": "ID"}, headers=h)
        code = c.post(f"/api/v1/requests/{rid}/execute", headers=h).json()["download_code"]
        r = c.post("/api/v1/exports", json={"code": code}, headers=h)
        assert is_problem(r, 403)["reason"] == "vendor_only"
        assert b"PK" not in r.content[:2]
    # Still there for the person (the code was mailed to them), and for the office.
    assert w.t.requests.download(code, actor=SYSTEM)[:2] == b"PK"


def test_without_the_flag_a_role_still_limits_and_the_rest_is_as_before(
    home: Any, tmp_path: Path
) -> None:
    w = pulse_world(home, tmp_path, without_vendor_only(PULSE))
    code = _access_export(w)
    with pytest.raises(Refused) as exc:
        w.t.requests.download(code, actor=w.actors["coord"])
    assert exc.value.reason == "role_not_allowed" and "wellness_coordinator" in exc.value.message
    # As before: an admin without a role (or a key of the customer) takes it.
    assert w.t.requests.download(code, actor=w.actors["boss"])[:2] == b"PK"
    code = _access_export(w)
    assert w.t.requests.download(code, actor=w.actors["key_admin"])[:2] == b"PK"
