"""Trial #20 F9: the done letter gave the download's deadline in UTC ("until 2026-12-10
22:16 UTC") to a guest in Toronto and one in Madrid. What a person reads is dated in their
regime's zone, never UTC's: the link's deadline in the done letter (one by one and in
bulk), and the download's "expired on" and "already used on"."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from requests_helpers import mails_for, verified
from tallyroom_samples import CLAIRE, EVA, tallyroom_world
from troth.clock import ManualClock
from troth.errors import NotFound
from troth.gate import SYSTEM

UNTIL = re.compile(r"until (\d{4}-\d\d-\d\d \d\d:\d\d \S+);")


def _until(t: Any, rid: str) -> str:
    found = UNTIL.search(mails_for(t, rid)[-1]["body_text"])
    assert found, mails_for(t, rid)[-1]["body_text"]
    return found.group(1)


@pytest.mark.parametrize("bulk", [False, True])
def test_the_link_s_deadline_is_in_the_person_s_zone_at_the_year_end(
    home: Any, tmp_path: Path, clock: ManualClock, bulk: bool
) -> None:
    w = tallyroom_world(home, tmp_path)
    t = w.t
    # 29 December 2026, 23:30 UTC: the link (72 hours) works until 1 January 2027 23:30
    # UTC, which is 18:30 in Toronto and 00:30 on 2 January in Madrid.
    clock.set(datetime(2026, 12, 29, 23, 30, tzinfo=UTC))
    claire = verified(t, "access", CLAIRE, tenant_id=w.tenants["quebec"])
    eva = verified(t, "access", EVA, tenant_id=w.tenants["madrid"])
    if bulk:
        assert sorted(t.requests.execute_many([claire, eva]).completed) == sorted([claire, eva])
    else:
        t.requests.execute(claire)
        t.requests.execute(eva)
    assert _until(t, claire) == "2027-01-01 18:30 EST"
    assert _until(t, eva) == "2027-01-02 00:30 CET"
    for rid in (claire, eva):
        assert "UTC" not in mails_for(t, rid)[-1]["body_text"]


def test_a_download_used_or_expired_says_when_in_the_person_s_zone(
    home: Any, tmp_path: Path, clock: ManualClock
) -> None:
    w = tallyroom_world(home, tmp_path)
    t = w.t
    clock.set(datetime(2026, 7, 1, 12, 0, tzinfo=UTC))  # summer: EDT
    used = t.requests.execute(verified(t, "access", CLAIRE, tenant_id=w.tenants["quebec"]))
    t.requests.download(used.download_token or "", actor=SYSTEM)
    with pytest.raises(NotFound, match=r"already used on 2026-07-01 08:00 EDT;"):
        t.requests.download(used.download_token or "", actor=SYSTEM)
    late = t.requests.execute(verified(t, "access", EVA, tenant_id=w.tenants["madrid"]))
    clock.advance(timedelta(hours=80))
    with pytest.raises(NotFound, match=r"expired on 2026-07-04 14:00 CEST:"):
        t.requests.download(late.download_token or "", actor=SYSTEM)
