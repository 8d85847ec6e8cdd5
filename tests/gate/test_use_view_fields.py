"""A use's view names a field either among its values or as masked, never both, and a
masked field's value is never in it. It used to do both when one field name holds several
values that the gate decides differently: the same field collected at two collection
points for different purposes (mindlink's ``name`` and ``email`` at ``purchase`` and at
``newsletter_signup``: only the sign-up's serve ``newsletter``), or at two points under
different categories. Python, HTTP and the CLI; SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from _http import api_key, client_for
from troth.engine import Troth
from troth.gate import Actor, ActorKind

MARKETING = Actor(ActorKind.staff, "mo", role="marketing")
HIDDEN = ("Carla Buyer", "carla@shop.example")  # what the purchase form took


def carla(t: Troth) -> str:
    sid = t.collect(
        "purchase",
        {
            "name": HIDDEN[0],
            "email": HIDDEN[1],
            "address": "1 High Street, Leeds",
            "product": "Mindlink Pro",
            "renewal_date": "2027-01-01",
        },
    ).subject_id
    t.collect(
        "newsletter_signup",
        {"name": "Carla Reader", "email": "carla@news.example", "city": "Leeds"},
        subject_id=sid,
        consents=["newsletter"],
    )
    return str(sid)


def consistent(values: dict[str, Any], masked: dict[str, str], text: str) -> None:
    assert not set(values) & set(masked), (values, masked)
    for secret in HIDDEN:
        assert secret not in text


def test_a_field_is_returned_or_masked_never_both(home: Any, db_url: str) -> None:
    t = home("mindlink", db_url)
    sid = carla(t)
    view = t.use(sid, purpose="newsletter", actor=MARKETING)
    fields = {v.field for v in view.values}
    assert fields == {"name", "email"}
    assert view.as_dict() == {"name": "Carla Reader", "email": "carla@news.example"}
    assert "name" not in view.masked and "email" not in view.masked
    # The newsletter may never use an address: it is not named either (what a use may
    # never see is not said to be held, troth.gate.masks).
    assert "address" not in view.masked and "address" not in repr(view.values)
    consistent(view.as_dict(), view.masked, repr(view.values) + repr(view.masked))


def test_the_same_field_under_two_categories(home: Any) -> None:
    """``notes`` is a support note at one point and a purchase note at another: a purpose
    that uses support but not purchases gets the one, and ``notes`` is not masked."""

    def edit(p: dict[str, Any]) -> None:
        for cp in p["collection_points"]:
            if cp["id"] == "support_request":
                cp["fields"]["notes"] = {"category": "support", "type": "text"}
            if cp["id"] == "purchase":
                cp["fields"]["notes"] = {"category": "purchases", "type": "text"}

    t = home("mindlink", edit=edit)
    sid = t.collect(
        "purchase",
        {
            "name": "Carla",
            "email": "carla@example.com",
            "address": "1 High Street, Leeds",
            "product": "Mindlink Pro",
            "renewal_date": "2027-01-01",
            "notes": "gift wrap, the secret one",
        },
    ).subject_id
    t.collect(
        "support_request",
        {"name": "Carla", "email": "carla@example.com", "message": "hi", "notes": "calm"},
        subject_id=sid,
    )
    support = Actor(ActorKind.staff, "sue", role="support")
    view = t.use(sid, purpose="support", actor=support)
    assert [v.value for v in view.values if v.field == "notes"] == ["calm"]
    assert "notes" not in view.masked
    assert "secret" not in repr(view.values)


def test_over_http_and_the_cli(home: Any) -> None:
    t = home("mindlink")
    sid = carla(t)
    with client_for(t.ctx) as c:
        h = api_key(c, ["use"])
        r = c.get(f"/api/v1/subjects/{sid}", params={"purpose": "newsletter"}, headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    values = {v["field"]: v["value"] for v in body["values"]}
    assert {"name", "email"} <= set(values), body
    consistent(values, body["masked"], r.text)
    troth = Path(sys.executable).parent / "troth"
    run = subprocess.run(
        [str(troth), "--home", str(t.ctx.settings.home), "use", sid, "--purpose", "newsletter"]
        + ["--actor", "staff:mo@marketing", "--json"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    values = {v["field"]: v["value"] for v in out["values"]}
    assert set(values) == {"name", "email"}, out
    consistent(values, out["masked"], run.stdout)


@pytest.mark.parametrize("purpose", ["newsletter", "sales", "support", "account_management"])
def test_every_view_is_consistent(home: Any, purpose: str) -> None:
    t = home("mindlink")
    sid = carla(t)
    for actor in (
        MARKETING,
        Actor(ActorKind.staff, "al", role="accounts"),
        Actor(ActorKind.staff, "sue", role="support"),
    ):
        try:
            view = t.use(sid, purpose=purpose, actor=actor)
        except Exception:  # refused: nothing returned
            continue
        assert not {v.field for v in view.values} & set(view.masked), (purpose, actor)
