"""A field's declared masking (``mask: last4``): how a value is shown to people, from one
place; a policy naming an unknown mask is refused with a clear issue."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from troth.errors import PolicyError
from troth.examples import example_path
from troth.policy.loader import parse_policy
from troth.policy.masking import apply_mask, mask_of
from troth.policy.model import Mask


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("4111111111111111", "•••• 1111"),
        ("4111 1111 1111 4242", "•••• 4242"),
        ("4111-1111-1111-4242", "•••• 4242"),
        (4111111111114242, "•••• 4242"),
        ("1234", "••••"),  # too short to show any of it
        ("12", "••"),
        ("", ""),
        (None, None),
    ],
)
def test_last4(value: Any, shown: Any) -> None:
    assert apply_mask(Mask.last4, value) == shown


def test_no_mask_leaves_the_value() -> None:
    assert apply_mask(None, "4111111111111111") == "4111111111111111"


def test_the_example_declares_the_card_number_masked_and_nothing_else() -> None:
    from troth.policy.index import PolicyIndex

    index = PolicyIndex.build(parse_policy(example_path("itechno").read_text(), "itechno.yaml"))
    assert mask_of(index, "order_form", "card_number") is Mask.last4
    assert mask_of(index, "order_form", "card_expiry") is None
    assert mask_of(index, "nosuch", "card_number") is None


def test_an_unknown_mask_is_refused() -> None:
    data = yaml.safe_load(example_path("itechno").read_text())
    point = next(p for p in data["collection_points"] if p["id"] == "order_form")
    point["fields"]["card_number"]["mask"] = "first6"
    with pytest.raises(PolicyError) as info:
        parse_policy(yaml.safe_dump(data, sort_keys=False), "p.yaml")
    assert any("mask" in str(i) for i in info.value.issues), info.value.issues
