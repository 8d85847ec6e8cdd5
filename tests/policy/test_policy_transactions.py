"""`individual_transactions: false` on a recipient (trial 18 F3 / D1): which categories it
withholds (those the policy marks `transactions: true`, else the default names), what
`policy validate` warns of (a category listed for the recipient that the flag refuses;
special data it still receives person by person, which the flag does not cover) and how
`policy show` says it."""

from __future__ import annotations

from importlib.resources import files

from pulse_samples import PULSE
from troth.policy.describe import describe_policy, policy_summary
from troth.policy.index import PolicyIndex
from troth.policy.loader import parse_policy
from troth.policy.warnings import policy_warnings

ITECHNO = files("troth.examples").joinpath("itechno.yaml").read_text()
RESEARCH = """\
  - id: research_partner
    name: Research partner
    kind: third_party
    location: EU
    receives:
      - {purpose: health_insights, categories: [biometrics]}
    individual_transactions: false
"""


def _warned(text: str, words: str) -> list[str]:
    return [w for w in policy_warnings(parse_policy(text, "p.yaml")) if words in w]


def test_the_default_names_hold_where_the_policy_marks_none() -> None:
    idx = PolicyIndex.build(parse_policy(ITECHNO))
    assert idx.transaction_categories == {"payment_card", "billing", "purchases"}
    summary = policy_summary(parse_policy(ITECHNO))
    ship = next(r for r in summary["recipients"] if r["id"] == "shipping_company")
    assert ship["never_receives"] == ["billing", "payment_card", "purchases"]
    words = describe_policy(parse_policy(ITECHNO))
    assert "never sees records of individual transactions (billing, payment_card, purchases)" in (
        words
    )


def test_a_category_marked_transactions_replaces_the_default() -> None:
    text = ITECHNO.replace(
        "  - id: billing\n    description: Billing information.\n",
        "  - id: billing\n    description: Billing information.\n    transactions: true\n",
        1,
    )
    assert PolicyIndex.build(parse_policy(text)).transaction_categories == {"billing"}


def test_a_category_listed_for_the_recipient_that_the_flag_refuses_is_warned() -> None:
    text = ITECHNO.replace(
        "        categories: [identity, shipping_address]\n",
        "        categories: [identity, shipping_address, purchases]\n",
        1,
    )
    (warning,) = _warned(text, "a record of individual transactions")
    assert "'shipping_company'" in warning and "'purchases'" in warning
    assert _warned(ITECHNO, "a record of individual transactions") == []


def test_special_data_to_a_recipient_so_marked_is_warned() -> None:
    """The trial's research partner: marked `individual_transactions: false`, it still got
    one person's genotype, which the flag never covered."""
    text = PULSE.replace("recipients:\n", "recipients:\n" + RESEARCH, 1)
    (warning,) = _warned(text, "of one person at a time")
    assert warning.startswith("recipients[0]: recipient 'research_partner'")
    assert "biometrics" in warning and "take them out of its `receives`" in warning
    assert _warned(PULSE, "of one person at a time") == []
    assert "never sees records of individual transactions (none is named)" in describe_policy(
        parse_policy(text)
    )
