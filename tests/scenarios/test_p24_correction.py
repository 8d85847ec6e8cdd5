"""P24 (mindlink, ixanet, itechno): a person's data is corrected in troth (sensitive values
re-encrypted, identity lookups follow) and in the mapped columns of connected systems;
corrections are checked against the field types of the collection point."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import connected_schema as cs
from requests_helpers import buy, connect_shop, rows, shop_db, verified
from troth.errors import ValidationError
from troth.requests.states import RequestState
from troth.store.tables import records
from troth.store.values import read_values

PERSON = cs.email_of(4)


def test_p24_correct_everywhere(
    home: Any, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = home("mindlink", db_url)
    shop = connect_shop(t, shop_db(tmp_path), monkeypatch)
    sid = buy(t, PERSON)
    rid = verified(t, "correct", PERSON, details={"changes": {"name": "Ann Smith"}})
    done = t.requests.execute(rid)
    assert done.state is RequestState.completed
    with t.ctx.engine.connect() as conn:
        names = {v.value for v in read_values(conn, t.ctx, sid) if v.field == "name"}
    assert names == {"Ann Smith"}
    assert rows(shop, "customers", "id = 4")[0].name == "Ann Smith"
    assert {r.ship_name for r in rows(shop, "orders", "customer_id = 4")} == {"Ann Smith"}
    assert rows(shop, "customers", "id = 5")[0].name == "Person 5"
    systems = {s["system"]: s for s in done.result["systems"]}  # type: ignore[index]
    assert systems["troth"]["corrected"] == 2 and systems["dataset:shop"]["corrected"] >= 2


def test_p24_sensitive_values_are_re_encrypted_and_lookups_follow(home: Any, db_url: str) -> None:
    t = home("mindlink", db_url)
    sid = t.collect(
        "newsletter_signup",
        {"name": "Cy", "email": "cy@example.com", "city": "Leeds"},
        consents=["newsletter"],
    ).subject_id
    req = t.requests.open("correct", email="cy@example.com")
    t.requests.verify_by_staff(req.id, staff="alice", reason="known customer on the phone")
    t.requests.set_details(req.id, changes={"city": "York", "email": "cy@new.example"})
    t.requests.execute(req.id)
    with t.ctx.engine.connect() as conn:
        values = {v.field: v.value for v in read_values(conn, t.ctx, sid)}
        raw = conn.execute(
            sa.select(records.c.value, records.c.ciphertext).where(records.c.field == "city")
        ).one()
    assert values["city"] == "York" and values["email"] == "cy@new.example"
    assert raw.value is None and b"York" not in bytes(raw.ciphertext)
    assert t.find(email="cy@new.example") == sid


def test_p24_bad_corrections_change_nothing(home: Any, db_url: str) -> None:
    t = home("mindlink", db_url)
    sid = buy(t, "dee@example.com")
    with t.ctx.engine.connect() as conn:
        before = read_values(conn, t.ctx, sid)
    # Refused when the request is opened (trial 6: they used to fail only when carried
    # out, leaving the request in_progress for ever).
    for changes, message in (
        ({"email": "not an address"}, "not an e-mail address"),
        ({"shoe_size": 42}, "no field 'shoe_size'"),
        ({"renewal_date": "next spring"}, "renewal_date"),
    ):
        with pytest.raises(ValidationError, match=message):
            t.requests.open("correct", email="dee@example.com", details={"changes": changes})
    # Nothing to change: it waits for the office (verified, the reason kept).
    rid = verified(t, "correct", "dee@example.com", details={"changes": {}})
    with pytest.raises(ValidationError, match="say what to correct"):
        t.requests.execute(rid)
    assert t.requests.get(rid).state is RequestState.verified
    with t.ctx.engine.connect() as conn:
        assert read_values(conn, t.ctx, sid) == before
