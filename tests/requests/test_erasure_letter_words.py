"""The letter that says an erasure is done speaks the policy's words (trial #14, F8): what
the law keeps is named by its categories' and purpose's descriptions, never by their ids
("restricted to 'sales' until ..."). The report keeps its ids for the operator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from requests_helpers import buy, mails_for, verified
from tallyroom_samples import EVA, tallyroom_world
from troth.engine import Troth
from troth.gate import Actor, ActorKind
from troth.requests.erasure import system_line

OFFICE = Actor(ActorKind.staff, "dpo", role="privacy_office")


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


@pytest.mark.parametrize("bulk", [False, True])
def test_the_done_letter_counts_in_the_person_s_words(
    home: Any, tmp_path: Path, bulk: bool
) -> None:
    # Trial #20 F12: "- troth: 14 found, 6 deleted, 0 masked, 8 kept" reached a guest.
    w = tallyroom_world(home, tmp_path)
    t = w.t
    rid = verified(t, "delete", EVA, tenant_id=w.tenants["madrid"])
    if bulk:
        assert t.requests.execute_many([rid], actor=OFFICE).completed == [rid]
        done = t.requests.get(rid)
    else:
        done = t.requests.execute(rid, actor=OFFICE)
    troth = done.result["systems"][0]  # type: ignore[index]
    assert troth["system"] == "troth" and troth["kept"] > 0  # the office's counts stay
    letter = mails_for(t, rid)[-1]["body_text"]
    line = (
        f"- In our own records: {troth['found']} values found; {troth['deleted']} deleted,"
        f" {troth['kept']} kept (why, below)."
    )
    assert line in letter, letter
    assert "troth" not in letter.lower() and "masked" not in letter
    assert "Spain RD 933/2021" in letter  # why, in the policy's words
    # Asked again: what the law keeps is still counted, nothing more deleted.
    again = verified(t, "delete", EVA, tenant_id=w.tenants["madrid"])
    t.requests.execute(again, actor=OFFICE)
    second = mails_for(t, again)[-1]["body_text"]
    assert "troth" not in second.lower()
    assert "- In our own records:" in second


def test_a_system_line_reads_as_words() -> None:
    assert system_line({"system": "troth", "found": 0}) == (
        "In our own records: nothing was held about you."
    )
    assert system_line({"system": "troth", "found": 1, "deleted": 1}) == (
        "In our own records: 1 value found; 1 deleted."
    )
    shop = {"system": "dataset:shop", "found": 5, "deleted": 2, "masked": 2, "kept": 1}
    assert system_line(shop) == (
        'In our system "shop": 5 rows found; 2 deleted, 2 blanked out, 1 kept (why, below).'
    )
