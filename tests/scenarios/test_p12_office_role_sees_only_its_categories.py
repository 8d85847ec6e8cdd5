"""P12 for the privacy office (issue 13 item 2): a role with office powers reads exactly
its categories for its purposes, like any other role. itechno: accounts is the only role
that sees card data; the office, whatever powers it holds, does not, through the Python
API or the CLI, and each refusal is audited. Its twin: the categories, not the powers,
decide, so the office sees the card once the policy gives it that category and purpose."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from troth.audit.entries import list_entries
from troth.cli import main
from troth.clock import ManualClock
from troth.engine import Troth
from troth.errors import Refused
from troth.gate import Actor, ActorKind
from troth.notices.publish import publish_policy
from troth.policy.model import Power

ORDER = {
    "name": "Dana Ng",
    "email": "dana@example.com",
    "address": "1 Main St",
    "card_number": "4111111111111111",
    "card_expiry": "12/29",
    "order_items": "1 licence",
}
OFFICE = Actor(ActorKind.staff, "pat", role="privacy_office")
ACCOUNTS = Actor(ActorKind.staff, "ada", role="accounts")


@pytest.fixture
def t(home: Any, db_url: str) -> Troth:
    return home("itechno", db_url, clock=ManualClock())


def test_p12_the_office_with_every_power_never_sees_the_card(t: Troth) -> None:
    sid = t.collect("order_form", ORDER).subject_id
    assert set(t.ctx.policy.roles["privacy_office"].powers) >= {
        Power.manage_requests,
        Power.read_audit,
        Power.publish_policy,
    }
    # billing is not one of the office's purposes: refused, audited.
    with pytest.raises(Refused) as exc:
        t.use(sid, purpose="billing", actor=OFFICE)
    assert exc.value.reason == "role_not_allowed"
    denied = list_entries(t.ctx, subject_id=sid, actor=OFFICE.label, newest_first=True)[0]
    assert (denied.entry.outcome, denied.entry.reason) == ("deny", "role_not_allowed")
    # For its own purpose it sees its own categories, and nothing of the card.
    orders = t.use(sid, purpose="order_fulfilment", actor=OFFICE)
    assert orders.get("name") == "Dana Ng" and orders.get("address") == "1 Main St"
    assert orders.get("card_number") is None and orders.get("card_expiry") is None
    # accounts, the only role the policy lets see card data, still does.
    assert t.use(sid, purpose="billing", actor=ACCOUNTS).get("card_number") == ORDER["card_number"]


def test_p12_the_cli_reproduction_is_refused(t: Troth, capsys: pytest.CaptureFixture[str]) -> None:
    sid = t.collect("order_form", ORDER).subject_id
    home = str(t.ctx.home)
    argv = ["--home", home, "use", sid, "--purpose", "billing", "--actor"]
    with pytest.raises(SystemExit) as exc:
        main([*argv, "staff:pat@privacy_office"])
    assert exc.value.code == 3
    out = capsys.readouterr()
    assert "role_not_allowed" in out.err and ORDER["card_number"] not in out.out + out.err
    with pytest.raises(SystemExit) as exc:
        main([*argv, "staff:ada@accounts"])
    assert exc.value.code == 0
    assert ORDER["card_number"] in capsys.readouterr().out


def test_p12_twin_categories_not_powers_decide(t: Troth, tmp_path: Path) -> None:
    """Give the office billing and payment_card (and take its powers away): it sees the
    card. What a role reads follows its categories and purposes only."""
    sid = t.collect("order_form", ORDER).subject_id
    text = (Path(t.ctx.home) / "policy.yaml").read_text()
    start = text.index("  - id: privacy_office")
    end = text.index("  - id: support", start)
    role = (
        "  - id: privacy_office\n"
        "    categories: [identity, payment_card]\n"
        "    purposes: [billing]\n"
    )
    new = text[:start] + role + text[end:]
    new = new.replace("version:", "version: '2.0' #", 1)
    path = tmp_path / "v2.yaml"
    path.write_text(new)
    publish_policy(t.ctx, path)
    assert t.ctx.policy.roles["privacy_office"].powers == []
    view = t.use(sid, purpose="billing", actor=OFFICE)
    assert view.get("card_number") == ORDER["card_number"]
    assert view.get("email") is None  # contact is no longer the office's
    # And without powers it is no longer the office: the audit is closed to it.
    from troth.office import read_audit

    with pytest.raises(Refused) as exc:
        read_audit(t.ctx, OFFICE)
    assert exc.value.reason == "power_not_granted"
