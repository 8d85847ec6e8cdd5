"""Ids: 32 hex characters, time-ordered (later ids sort later), unguessable (80 random
bits), and the short form people read tells apart ids made in the same millisecond."""

from __future__ import annotations

import re
import time
from collections import Counter

from troth.store.ids import new_id, short_id


def test_ids_are_hex_time_ordered_and_distinct() -> None:
    before = time.time_ns() // 1_000_000
    ids = [new_id() for _ in range(5000)]
    after = time.time_ns() // 1_000_000
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert len(set(ids)) == len(ids)
    stamps = [int(i[:12], 16) for i in ids]
    assert stamps == sorted(stamps) and before <= stamps[0] and stamps[-1] <= after
    time.sleep(0.002)
    assert new_id() > max(ids)


def test_short_ids_differ_for_ids_made_in_the_same_millisecond() -> None:
    ids = [new_id() for _ in range(2000)]
    # A tight loop makes many ids per millisecond; the busiest millisecond is counted, not
    # the first id's (which may be the last id of its millisecond).
    busiest = Counter(i[:12] for i in ids).most_common(1)[0][1]
    assert busiest > 1
    shorts = {short_id(i) for i in ids}
    assert len(shorts) == len(ids)
    assert short_id(ids[0]) == "\u2026" + ids[0][-10:]
    assert short_id("abc") == "abc" and short_id(None) == ""
