"""P09 (ixanet, itechno): technical and analytics data is used only in aggregate, over groups
of at least k people; row-level reads for those purposes are refused."""

from __future__ import annotations

import pytest

from troth.aggregates.query import aggregate
from troth.errors import Refused
from troth.gate import Actor, ActorKind

BI = Actor(ActorKind.application, "bi", scopes=frozenset({"aggregate", "use"}))


def test_p09_usage_only_in_groups_of_k(home, db_url):
    t = home("itechno", db_url)  # k = 10 in the policy
    rows = [{"event": "download", "browser": "Firefox"}] * 12 + [
        {"event": "download", "browser": "Lynx"}
    ] * 2
    sids = [r.subject_id for r in t.collect_many("site_usage", rows)]
    r = aggregate(t.ctx, "product_improvement", "technical", "browser", ["browser"], actor=BI)
    assert ("Lynx",) not in r.cells  # two people: never shown, not even its label
    # With the total published, Firefox would give Lynx away: withheld too.
    assert r.total is None or ("Firefox",) not in r.cells
    with pytest.raises(Refused) as exc:
        t.use(sids[0], purpose="product_improvement", actor=BI)
    assert exc.value.reason == "aggregate_only"
