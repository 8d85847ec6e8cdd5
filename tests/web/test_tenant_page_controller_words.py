"""Who is the controller, in words (trial #17 F8): under ``tenant_controller:
organisation`` the customer's /tenant page said "As their controller, you decide whether
and how they are told", and ``troth policy show`` said "Each customer's data is seen only
by that customer and the people it invites", though the organisation is the controller and
its staff read that data. Now each says who decides; under ``customer`` they read as
before. pulse on SQLite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from _http import client_for, csrf_from
from pulse_samples import PASSWORD, PULSE, pulse_world
from troth.policy.describe import describe_policy

ORG = PULSE.replace("multi_tenant: true\n", "multi_tenant: true\ntenant_controller: organisation\n")
YOU_DECIDE = "As their controller, you decide whether and how they are told"
ONLY_CUSTOMER = "Each customer's data is seen only by that customer and the people it invites"


def _tenant_page(home: Any, tmp_path: Path, text: str) -> str:
    w = pulse_world(home, tmp_path, text)
    with client_for(w.t.ctx) as c:
        page = c.get("/tenant/login").text
        r = c.post(
            "/tenant/login",
            data={
                "tenant_id": w.tenants["contoso"],
                "email": "boss@contoso.example",
                "password": PASSWORD,
                "csrf_token": csrf_from(page),
            },
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        return c.get("/tenant").text


@pytest.mark.parametrize(("text", "controls"), [(ORG, False), (PULSE, True)])
def test_the_tenant_page_says_who_decides(
    home: Any, tmp_path: Path, text: str, controls: bool
) -> None:
    page = _tenant_page(home, tmp_path, text)
    assert (YOU_DECIDE in page) is controls
    if not controls:
        assert "Pulse Wearables Inc. is their controller" in page


@pytest.mark.parametrize(("text", "controls"), [(ORG, False), (PULSE, True)])
def test_policy_show_says_who_decides(home: Any, tmp_path: Path, text: str, controls: bool) -> None:
    w = pulse_world(home, tmp_path, text)
    words = describe_policy(w.t.ctx.policy.policy)
    assert (ONLY_CUSTOMER in words) is controls
    if not controls:
        assert "Pulse Wearables Inc. is the controller of its customers' people's data" in words
