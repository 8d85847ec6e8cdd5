"""P12 with a mask: a role may read a category only masked (``masked:`` on the role), as
PCI DSS asks of support staff who see a card: "•••• 1111", never the number. The stored
value is unchanged and a role without the mask reads it whole. ``policy validate`` makes
every field of such a category declare its mask, and ``policy diff`` names the change."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from troth.errors import PolicyError
from troth.examples import example_path
from troth.gate import Actor, ActorKind
from troth.policy.diff import diff_policies
from troth.policy.loader import parse_policy

ORDER = {
    "name": "Dana Ng",
    "email": "dana@example.com",
    "address": "1 Main St",
    "card_number": "4111 1111 1111 4242",
    "card_expiry": "12/29",
    "order_items": "1 licence",
}
SUPPORT = Actor(ActorKind.staff, "sam", role="support")
ACCOUNTS = Actor(ActorKind.staff, "ana", role="accounts")


def _support_reads_cards_masked(p: dict[str, Any]) -> None:
    point = next(cp for cp in p["collection_points"] if cp["id"] == "order_form")
    point["fields"]["card_expiry"]["mask"] = "last4"
    support = next(r for r in p["roles"] if r["id"] == "support")
    support["categories"].append("payment_card")
    support["purposes"].append("billing")
    support["masked"] = ["payment_card"]


def test_support_reads_the_card_masked_accounts_reads_it_whole(home: Any, db_url: str) -> None:
    t = home("itechno", db_url, edit=_support_reads_cards_masked)
    sid = t.collect("order_form", ORDER).subject_id
    seen = t.use(sid, purpose="billing", actor=SUPPORT)
    assert seen.get("card_number") == "•••• 4242"
    assert seen.get("card_expiry") == "••••"
    assert seen.get("name") == "Dana Ng"  # a category it reads whole
    whole = t.use(sid, purpose="billing", actor=ACCOUNTS)
    assert whole.get("card_number") == "4111 1111 1111 4242"  # stored as it came
    assert "4242" not in str(t.use(sid, purpose="billing", actor=SUPPORT).as_dict()).replace(
        "•••• 4242", ""
    )


def _data() -> dict[str, Any]:
    return yaml.safe_load(example_path("itechno").read_text())


def _issues(data: dict[str, Any]) -> list[str]:
    with pytest.raises(PolicyError) as info:
        parse_policy(yaml.safe_dump(data, sort_keys=False), "p.yaml")
    return [str(i) for i in info.value.issues]


def test_validate_wants_every_field_of_a_masked_category_masked() -> None:
    data = _data()
    support = next(r for r in data["roles"] if r["id"] == "support")
    support["categories"].append("payment_card")
    support["masked"] = ["payment_card"]
    (issue,) = _issues(data)
    assert "card_expiry" in issue and "mask: last4" in issue and "roles[1].masked[0]" in issue


def test_validate_refuses_masking_a_category_the_role_does_not_read() -> None:
    data = _data()
    next(r for r in data["roles"] if r["id"] == "support")["masked"] = ["payment_card"]
    (issue,) = _issues(data)
    assert "does not read 'payment_card'" in issue


def test_diff_names_a_role_that_reads_a_category_masked_no_longer() -> None:
    data = _data()
    _support_reads_cards_masked(data)
    old = parse_policy(yaml.safe_dump(data, sort_keys=False), "old.yaml")
    next(r for r in data["roles"] if r["id"] == "support")["masked"] = []
    new = parse_policy(yaml.safe_dump(data, sort_keys=False), "new.yaml")
    sentences = [c.sentence for c in diff_policies(old, new).changes]
    assert any("read masked" in s and "support" in s for s in sentences), sentences
