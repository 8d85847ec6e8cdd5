"""P23 (mindlink, ixanet): a person sees and downloads everything held about them --
communications records and account history included, in troth and in every connected
system -- as a machine-readable ZIP behind a link that expires."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import connected_schema as cs
from requests_helpers import buy, connect_shop, mails_for, shop_db, verified
from troth.clock import ManualClock
from troth.errors import NotFound
from troth.gate import SYSTEM, Actor, ActorKind
from troth.requests.states import RequestState

SUPPORT = Actor(ActorKind.staff, "sam", role="support")
PERSON = cs.email_of(4)


def test_p23_export_has_everything_and_the_link_expires(
    home: Any,
    db_url: str,
    tmp_path: Path,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    t = home("mindlink", db_url)
    connect_shop(t, shop_db(tmp_path), monkeypatch)
    sid = buy(t, PERSON, name="Ann <b>Buyer</b>")
    t.use(sid, purpose="support", actor=SUPPORT)  # someone accessed the data: it shows
    rid = verified(t, "access", PERSON)
    done = t.requests.execute(rid)
    assert done.state is RequestState.completed and done.download_token
    link_mail = mails_for(t, rid)[-1]
    assert done.download_token in link_mail["body_text"]
    # The code rides after "#" (browsers never send it: no access log keeps it).
    assert f"/privacy/download#{done.download_token}" in link_mail["body_text"]
    assert link_mail["to_addr"] == PERSON
    # The file at rest is encrypted: without the code it reads as noise.
    (stored,) = (t.ctx.home / "exports").iterdir()
    at_rest = stored.read_bytes()
    assert b"High Street" not in at_rest and b"data.json" not in at_rest
    assert stored.stat().st_mode & 0o777 == 0o600

    data = t.requests.download(done.download_token, actor=SYSTEM)
    zf = zipfile.ZipFile(io.BytesIO(data))
    names = set(zf.namelist())
    doc = json.loads(zf.read("data.json"))
    assert doc["format"] == "troth-export" and doc["version"] == 1
    assert doc["subject"]["id"] == sid
    # Values by category, each with its tags.
    assert {"identity", "contact", "billing", "purchases", "account_history"} <= set(
        doc["categories"]
    )
    billing = doc["categories"]["billing"]["values"][0]
    assert billing["value"] == "1 High Street, Leeds"
    assert set(billing) >= {"collection_point", "purposes", "source", "collected_at"}
    # Communications: the support call and contact form, and the mail we sent them.
    comms = doc["communications"]
    assert {v["value"] for v in comms["records"]} >= {"phone", "Do you sell to schools?"}
    assert any("We received your request" in m["subject"] for m in comms["messages"])
    # Account history: renewal date, purchases and the request itself.
    hist = doc["account_history"]
    assert {v["field"] for v in hist["records"]} >= {"renewal_date", "product"}
    assert [r["id"] for r in hist["requests"]] == [rid]
    assert "verified" in [e["event"] for e in hist["requests"][0]["events"]]
    # Who accessed the data, and why.
    uses = [a for a in doc["access_log"] if a["action"] == "use"]
    # Who, in the privacy centre's words, never the staff member's label (trial #19 F6).
    assert uses and uses[0]["who"] == "A member of our staff" and uses[0]["purpose"] == "support"
    assert "actor" not in uses[0] and "staff:sam" not in zf.read("data.json").decode()
    # Every connected system's rows.
    (shop,) = doc["datasets"]
    assert shop["dataset"] == "shop"
    assert {
        "customers",
        "orders",
        "invoices",
        "support_tickets",
        "ticket_messages",
        "calls",
    } <= set(shop["tables"])
    assert shop["tables"]["customers"]["rows"][0]["email"] == PERSON
    assert shop["tables"]["calls"]["columns"]["destination"] == "call_records"
    # The same data as CSV, and a readable summary that escapes what it shows.
    assert {"categories/billing.csv", "communications_messages.csv", "access_log.csv"} <= names
    assert "datasets/shop/ticket_messages.csv" in names
    assert "1 High Street" in zf.read("categories/billing.csv").decode()
    html = zf.read("summary.html").decode()
    assert "Ann &lt;b&gt;Buyer&lt;/b&gt;" in html and "<b>Buyer" not in html
    # A download works once; the file is gone as soon as it was handed over.
    assert list((t.ctx.home / "exports").iterdir()) == []
    with pytest.raises(NotFound, match="already used") as used:
        t.requests.download(done.download_token, actor=SYSTEM)
    assert used.value.code == "export_used"

    with pytest.raises(NotFound, match="wrong"):
        t.requests.download("not-a-token", actor=SYSTEM)
    # A code never used expires, and the worker then deletes its file.
    again = t.requests.execute(verified(t, "access", PERSON))
    clock.advance(timedelta(hours=t.ctx.settings.export_link_hours, seconds=1))
    with pytest.raises(NotFound, match="expired") as info:
        t.requests.download(again.download_token or "", actor=SYSTEM)
    assert info.value.code == "export_expired"
    assert t.requests.purge_exports() == 1
    assert list((t.ctx.home / "exports").iterdir()) == []
    with pytest.raises(NotFound):
        t.requests.download(again.download_token or "", actor=SYSTEM)


def test_p23_portability_without_connected_systems(home: Any, db_url: str) -> None:
    t = home("mindlink", db_url)
    buy(t, "bea@example.com")
    rid = verified(t, "portability", "bea@example.com")
    done = t.requests.execute(rid)
    doc = json.loads(
        zipfile.ZipFile(io.BytesIO(t.requests.download(done.download_token, actor=SYSTEM))).read(
            "data.json"
        )
    )
    assert doc["datasets"] == [] and doc["request"]["kind"] == "portability"
    assert done.result is not None and done.result["systems"][0]["found"] == 11
