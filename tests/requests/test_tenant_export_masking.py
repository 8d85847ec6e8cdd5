"""A card number in a customer's export is masked to its last four digits, as the policy
declares (itechno's ``card_number: {mask: last4}``): the ZIP from
``Exports.export_tenant`` (data.json and every CSV), the CLI's ``requests
export-tenant`` and the tenant page's ``/tenant/export.json``. The stored value is unchanged:
a role the gate allows still reads it whole."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from _http import PASSWORD, client_for, csrf_from
from troth.access import actor_for
from troth.clock import ManualClock
from troth.engine import Troth
from troth.gate import Actor, ActorKind

CARD = "4111 1111 1111 4242"
LEAKS = ("4111 1111 1111", "411111111111", "4111-1111")


@pytest.fixture
def shop(home: Any) -> Any:
    ctx = home("itechno", clock=ManualClock(), context=True)
    t = Troth(ctx)
    tid = t.access.tenants.create_tenant("Acme Shop", "admin@acme.example")
    admin = t.access.accounts.add_user(
        "admin@acme.example",
        kind="tenant_member",
        tenant_id=tid,
        tenant_role="admin",
        password=PASSWORD,
    )
    sid = t.collect(
        "order_form",
        {
            "name": "Ada Lovelace",
            "email": "ada@example.com",
            "address": "1 Analytical Row",
            "card_number": CARD,
            "card_expiry": "12/29",
            "order_items": "one engine",
        },
        tenant_id=tid,
    ).subject_id
    yield ctx, t, tid, admin, sid
    ctx.engine.dispose()


def _no_card(text: str) -> None:
    for leak in LEAKS:
        assert leak not in text
    assert "•••• 4242" in text


def test_the_runner_s_tenant_export_masks_the_card(shop: Any) -> None:
    _ctx, t, tid, admin, sid = shop
    link = t.requests.export_tenant(tid, actor=actor_for(admin))
    zf = zipfile.ZipFile(io.BytesIO(t.requests.download(link.token, actor=actor_for(admin))))
    doc = json.loads(zf.read("data.json"))
    (person,) = doc["subjects"]
    cards = [
        v for v in person["categories"]["payment_card"]["values"] if v["field"] == "card_number"
    ]
    assert [v["value"] for v in cards] == ["•••• 4242"]
    # Every file in the ZIP (JSON, CSVs, the summary page) is free of the number.
    for name in zf.namelist():
        body = zf.read(name).decode("utf-8", "replace")
        for leak in LEAKS:
            assert leak not in body, name
    _no_card(zf.read("data.json").decode())
    # Stored whole: billing staff the gate allows read the full number.
    view = t.use(sid, purpose="billing", actor=Actor(ActorKind.system, "troth"))
    assert view.get("card_number") == CARD


def test_the_cli_s_tenant_export_masks_the_card(shop: Any, tmp_path: Path) -> None:
    from troth.cli import app

    ctx, _t, tid, _admin, _sid = shop
    out = tmp_path / "acme.zip"
    r = CliRunner().invoke(
        app, ["--home", str(ctx.home), "requests", "export-tenant", tid, "--out", str(out)]
    )
    assert r.exit_code == 0, r.output
    zf = zipfile.ZipFile(out)
    _no_card(zf.read("data.json").decode())
    for name in zf.namelist():
        for leak in LEAKS:
            assert leak not in zf.read(name).decode("utf-8", "replace"), name


def test_the_tenant_page_s_export_masks_the_card(shop: Any) -> None:
    ctx, _t, _tid, _admin, _sid = shop
    with client_for(ctx) as c:
        page = c.get("/tenant/login").text
        r = c.post(
            "/tenant/login",
            data={
                "email": "admin@acme.example",
                "password": PASSWORD,
                "csrf_token": csrf_from(page),
            },
        )
        assert r.status_code == 200, r.text
        r = c.get("/tenant/export.json")
        assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
        for leak in LEAKS:
            assert leak not in r.text
        data = r.json()
        values = [v for s in data["subjects"] for v in s["values"]]
        (card,) = [v for v in values if v["field"] == "card_number"]
        assert card["value"] == "•••• 4242"
        assert any(v["value"] == "Ada Lovelace" for v in values)  # the rest unmasked
