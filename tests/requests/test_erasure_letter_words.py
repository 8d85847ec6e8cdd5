"""The letter that says an erasure is done speaks the policy's words (trial #14, F8): what
the law keeps is named by its categories' and purpose's descriptions, never by their ids
("restricted to 'sales' until ..."). The report keeps its ids for the operator."""

from __future__ import annotations

from typing import Any

from requests_helpers import buy, mails_for, verified
from troth.engine import Troth


def test_the_done_letter_names_what_is_kept_in_the_policy_s_words(home: Any) -> None:
    t: Troth = home("mindlink")
    buy(t, "ann@example.com")
    rid = verified(t, "delete", "ann@example.com")
    done = t.requests.execute(rid)
    (why,) = done.result["systems"][0]["kept_because"]  # type: ignore[index]
    assert why["purpose"] == "sales" and "restricted to 'sales'" in why["reason"]
    letter = mails_for(t, rid)[-1]["body_text"]
    assert "is done" in letter
    # Before the fix: "- UK Companies Act ... requires keeping billing, identity, purchases;
    # restricted to 'sales' until 2032-...".
    assert "'sales'" not in letter and "restricted to" not in letter
    assert "requires keeping billing" not in letter
    assert "Sell and deliver the Services, and bill for them" in letter  # the purpose's words
    assert "UK Companies Act 2006" in letter and why["until"] in letter
    idx = t.ctx.policy
    for cat in why["categories"]:
        described = idx.categories[cat].description.strip().rstrip(".")
        assert described in letter, (cat, letter)
