"""`troth policy show` (and its --json, the API's /policy, the privacy centre) says only
what the policy says (trial #16 D3): a collection point's source only when the policy
gives one (a point an employer fills in is not data "from the person"), and a purpose's
retention with every clock that ends it: for a purpose on consent, the consent's end;
for a mailing-list or marketing purpose on another basis, an unsubscription or
objection (troth.retention.rules.compile_rules)."""

from __future__ import annotations

import json

from policy_samples import BASE
from troth.policy.describe import describe_policy, policy_summary
from troth.policy.loader import parse_policy


def _edit(old: str, new: str, text: str = BASE) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def _line(words: str, start: str) -> str:
    return next(x for x in words.splitlines() if x.startswith(start))


def _points(text: str) -> dict[str, object]:
    summary = json.loads(json.dumps(policy_summary(parse_policy(text))))
    return {p["id"]: p["source"] for p in summary["collection_points"]}


def test_a_source_the_policy_does_not_give_is_not_said() -> None:
    words = describe_policy(parse_policy(BASE))
    # order_form gives no source; web says `source: observed`
    assert _line(words, "- order_form [order_form]:") == (
        "- order_form [order_form]: name (identity), email (contact), address"
        " (shipping_address), birth_date (demographic)."
    )
    assert "from the person" not in words
    assert "[web], observed as you use our services: ip (technical)." in words
    assert _points(BASE) == {"order_form": None, "web": "observed as you use our services"}


def test_a_source_the_policy_gives_is_said() -> None:
    said = _edit("    subjects: [customer]\n", "    subjects: [customer]\n    source: subject\n")
    words = describe_policy(parse_policy(said))
    assert "- order_form [order_form], from the person: name (identity)" in words
    assert _points(said)["order_form"] == "from the person"
    bought = _edit(
        "    subjects: [customer]\n",
        "    subjects: [customer]\n    source: third_party\n    supplier: Rented lists\n",
    )
    bought = _edit("purposes: [orders, news]", "purposes: [orders]", bought)
    words = describe_policy(parse_policy(bought))
    assert "[order_form], from a third party (Rented lists): name" in words
    assert _points(bought)["order_form"] == "from a third party (Rented lists)"


NEWS = """\
    withdraw: Click unsubscribe in any email
"""


def _retention(purpose: str, text: str) -> str:
    summary = policy_summary(parse_policy(text))
    return str(next(p for p in summary["purposes"] if p["id"] == purpose)["retention"])


def test_a_consent_purpose_says_its_consent_ends_it() -> None:
    until = _edit(NEWS, NEWS + "    retention: {keep_for: 0d, after: relationship_end}\n")
    said = "kept until the relationship ends or you withdraw your consent, whichever comes first"
    assert _retention("news", until) == f"{said}, then deleted"
    assert f"    {said}, then deleted." in describe_policy(parse_policy(until))
    later = _edit(NEWS, NEWS + "    retention: {keep_for: 2y}\n")
    assert _retention("news", later) == (
        "kept 2 years after collection or after you withdraw your consent, whichever comes"
        " first, then deleted"
    )


def test_a_list_on_another_basis_says_an_unsubscription_ends_it() -> None:
    listed = _edit(
        "    legal_basis: consent\n    categories: [contact]\n" + NEWS,
        "    legal_basis: legitimate_interest\n    categories: [contact]\n"
        "    retention: {keep_for: 30d, after: relationship_end}\n",
    )
    assert _retention("news", listed) == (
        "kept 30 days after the relationship ends or after you unsubscribe or object,"
        " whichever comes first, then deleted"
    )


def test_other_purposes_keep_their_one_clock() -> None:
    assert _retention("orders", BASE) == (
        "kept 7 years after collection, then deleted (the law requires keeping loyalty for"
        " 6 years: Tax law, 6 years)"
    )
    ended = _edit("      keep_for: 7y\n", "      keep_for: 7y\n      after: relationship_end\n")
    assert _retention("orders", ended).startswith("kept 7 years after the relationship ends,")
    assert _retention("news", BASE) == "no retention period set"


def _children(words: str) -> list[str]:
    lines = words.splitlines()
    if "Children" not in lines:
        return []
    at = lines.index("Children") + 1
    out = []
    while at < len(lines) and lines[at].startswith("- "):
        out.append(lines[at])
        at += 1
    return out


def test_no_minimum_age_declared_and_none_asked_says_nothing_of_age() -> None:
    # Trial #20 F14: a hotel's policy (no `minors`, no age field) read "We do not collect
    # data from anyone under 18", which nothing checks.
    from tallyroom_samples import TALLYROOM

    for text in (TALLYROOM, _edit("    age_field: birth_date\n", "")):
        policy = parse_policy(text)
        words = describe_policy(policy)
        assert _children(words) == [] and "under 18" not in words
        assert policy_summary(policy)["minimum_age"] is None


def test_an_age_asked_without_minors_names_the_points_that_ask() -> None:
    policy = parse_policy(BASE)  # no `minors`; order_form asks a birth date
    assert _children(describe_policy(policy)) == [
        "- Where we ask your age (order_form), we do not collect data from anyone under 18."
    ]
    assert policy_summary(policy)["minimum_age"] == 18


def test_a_declared_minimum_age_is_said_as_declared() -> None:
    declared = BASE + "minors: {minimum_age: 16, by_jurisdiction: {uk_gdpr: 13}}\n"
    policy = parse_policy(declared)
    assert _children(describe_policy(policy)) == [
        "- We do not collect data from anyone under 16.",
        "- Under uk_gdpr: 13.",
    ]
    assert policy_summary(policy)["minimum_age"] == 16
