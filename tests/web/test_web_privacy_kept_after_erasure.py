"""What the privacy centre says of values an erasure kept for a legal obligation: the one
purpose they still serve and until when, never the purposes they were first collected for
(before, a kept invoice still said "order fulfilment" as why troth had it)."""

from __future__ import annotations

from typing import Any

from _http import client_for, privacy_sign_in
from troth.engine import Troth

ORDER = {
    "name": "Ann Lee",
    "email": "ann@example.com",
    "address": "1 Main St",
    "card_number": "4111111111111111",
    "card_expiry": "12/29",
    "order_items": "1 widget",
}


def _whys(page: str) -> list[str]:
    return [part.split("</p>")[0] for part in page.split("<strong>Why we have it:</strong>")[1:]]


def test_kept_values_say_their_legal_purpose_and_until_when(home: Any, db_url: str) -> None:
    ctx = home("itechno", db_url, context=True)
    t = Troth(ctx)
    sid = t.collect("order_form", ORDER).subject_id
    purposes = ctx.policy.purposes
    with client_for(ctx) as c:
        privacy_sign_in(c, ctx, "ann@example.com")
        before = _whys(c.get("/privacy/me").text)
        assert any(purposes["order_fulfilment"].description in w for w in before), before
        req = t.requests.open("delete", subject_id=sid)
        t.requests.verify_by_staff(req.id, staff="ada", reason="id seen")
        report = t.requests.execute(req.id).result
        troth_part = next(p for p in report["systems"] if p["system"] == "troth")
        (kept,) = troth_part["kept_because"]
        after = _whys(c.get("/privacy/me").text)
    assert after, "the kept values are shown"
    for why in after:
        assert purposes[kept["purpose"]].description in why, after
        assert f"until {kept['until']}" in why and "the law requires" in why, after
        assert purposes["order_fulfilment"].description not in why, after
