"""A breach of what only the organisation's own purposes use (trial #18 F4): a breach of
the genotypes the vendor keeps for its own (``vendor_only``) purposes gave every
regulator and people's clock of the customers' people to the customers (``owed_by:
controllers``), as if the vendor were only their processor. Now a breach only of
categories that only ``vendor_only`` purposes use gives the organisation those clocks
(``owed_by: organisation``); a breach touching a customer's categories is as before.
pulse (customers control their people) on SQLite."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from pulse_samples import pulse_world


def _breach(w: Any, categories: list[str]) -> str:
    now = w.t.ctx.clock.now()
    b = w.t.breaches.record_breach(
        title="Lab bucket public",
        description="A storage bucket was public.",
        discovered_at=now,
        occurred_from=now - timedelta(days=400),
        occurred_until=now,
        categories=categories,
        high_risk=True,
    )
    return str(b.id)


def _owed(w: Any, bid: str) -> set[tuple[str, str]]:
    return {(c["owed_by"], c["audience"]) for c in w.t.breaches.clocks(bid)}


def test_the_vendors_own_categories_give_the_organisation_every_clock(
    home: Any, tmp_path: Path
) -> None:
    w = pulse_world(home, tmp_path)
    owed = _owed(w, _breach(w, ["biometrics", "reproductive_health"]))
    assert ("organisation", "regulator") in owed and ("organisation", "individuals") in owed
    assert not {o for o, _ in owed} & {"controllers"}


@pytest.mark.parametrize("cats", [["membership_card"], ["biometrics", "membership_card"]])
def test_a_customers_category_is_still_the_customers_to_tell(
    home: Any, tmp_path: Path, cats: list[str]
) -> None:
    w = pulse_world(home, tmp_path)
    owed = _owed(w, _breach(w, cats))
    assert "controllers" in {o for o, _ in owed}
