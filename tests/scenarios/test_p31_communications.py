"""P31 (mindlink): communications (e-mail, phone, chat, support tickets) are recorded
against the person, are part of access requests, and follow retention."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import connected_schema as cs
from requests_helpers import connect_shop, shop_db, verified
from troth.clock import ManualClock
from troth.gate import SYSTEM
from troth.store.values import read_values

PERSON = cs.email_of(2)


def export(t: Any, email: str) -> dict[str, Any]:
    done = t.requests.execute(verified(t, "access", email))
    return json.loads(
        zipfile.ZipFile(io.BytesIO(t.requests.download(done.download_token, actor=SYSTEM))).read(
            "data.json"
        )
    )


def test_p31_communications_recorded_exported_and_retained(
    home: Any,
    db_url: str,
    tmp_path: Path,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    t = home("mindlink", db_url)
    connect_shop(t, shop_db(tmp_path), monkeypatch)
    sid = t.collect(
        "support_request",
        {"name": "Pat", "email": PERSON, "message": "The app crashes on start", "channel": "chat"},
    ).subject_id
    t.collect("contact_form", {"email": PERSON, "message": "Call me back please"})
    doc = export(t, PERSON)
    comms = doc["communications"]
    assert {v["value"] for v in comms["records"]} == {
        "The app crashes on start",
        "chat",
        "Call me back please",
    }
    assert all(v["collected_at"] for v in comms["records"])
    # The mail troth sent about the request is a communication recorded against the person.
    assert {m["subject_id"] for m in comms["messages"]} == {sid}
    # The help desk's tickets and messages, from the connected system.
    (shop,) = doc["datasets"]
    bodies = {r["body"] for r in shop["tables"]["ticket_messages"]["rows"]}
    assert bodies == {f"Message {m} from {PERSON}" for m in (1, 2)}
    assert len(shop["tables"]["support_tickets"]["rows"]) == 2

    # Retention: the contact form (enquiries, 1 year) goes first, support (2 years) later.
    clock.advance(timedelta(days=366))
    t.retention.run()
    with t.ctx.engine.connect() as conn:
        left = {v.value for v in read_values(conn, t.ctx, sid) if v.category == "communications"}
    assert left == {"chat"}
    clock.advance(timedelta(days=366))
    t.retention.run()
    with t.ctx.engine.connect() as conn:
        left = {v.value for v in read_values(conn, t.ctx, sid) if v.category == "communications"}
    assert left == set()
