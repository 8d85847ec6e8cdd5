"""P32 (phone-service): call records and destination numbers are the customer's personal
data and follow all of the above: exported on access, deleted on erasure, in troth and in
the connected telephony system (where traffic data kept for billing disputes is reported)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

import connected_schema as cs
from requests_helpers import connect_shop, rows, shop_db, verified
from troth.gate import SYSTEM
from troth.store.values import read_values

PERSON = cs.email_of(5)


def test_p32_call_records_exported_and_deleted(
    home: Any, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = home("phone-service", db_url)
    shop = connect_shop(t, shop_db(tmp_path), monkeypatch)
    tenant = t.access.tenants.create_tenant("Acme", "office@acme.example")
    sid = t.collect(
        "customer_signup",
        {"company_name": "Acme", "name": "Pat", "email": PERSON},
        tenant_id=tenant,
    ).subject_id
    for n in range(3):
        t.collect(
            "call_record_import",
            {
                "extension": "21",
                "started_at": f"2026-02-0{n + 1}T10:00:00",
                "duration_seconds": 60 * (n + 1),
                "destination_number": f"+4420700000{n}",
            },
            subject_id=sid,
            tenant_id=tenant,
        )
    access = t.requests.execute(verified(t, "access", PERSON, tenant_id=tenant))
    zf = zipfile.ZipFile(io.BytesIO(t.requests.download(access.download_token, actor=SYSTEM)))
    doc = json.loads(zf.read("data.json"))
    numbers = [v["value"] for v in doc["categories"]["destination_numbers"]["values"]]
    assert sorted(numbers) == [f"+4420700000{n}" for n in range(3)]
    assert {v["field"] for v in doc["call_records"]} >= {
        "extension",
        "started_at",
        "duration_seconds",
    }
    assert "+44207000002" in zf.read("categories/destination_numbers.csv").decode()
    (shop_export,) = doc["datasets"]
    calls = shop_export["tables"]["calls"]["rows"]
    assert calls and all(c["customer_id"] == 5 for c in calls)
    assert "datasets/shop/calls.csv" in zf.namelist()

    erased = t.requests.execute(verified(t, "delete", PERSON, tenant_id=tenant))
    with t.ctx.engine.connect() as conn:
        left = read_values(conn, t.ctx, sid)
    assert not [v for v in left if v.category in ("call_records", "destination_numbers")]
    systems = {s["system"]: s for s in erased.result["systems"]}  # type: ignore[index]
    assert systems["troth"]["deleted"] >= 12 and systems["troth"]["kept"] == 0
    (call,) = rows(shop, "calls", "customer_id IS NULL AND id = 51")
    assert call.caller.startswith("h:")  # the caller's number is now a keyed hash
    kept = [k for k in systems["dataset:shop"]["kept_because"] if k["table"] == "calls"]
    assert kept and "billing disputes" in kept[0]["reason"]
