"""Ids: 32 hex characters, time-ordered (later ids sort later), unguessable (80 random
bits), and the short form people read tells apart ids made in the same millisecond."""

from __future__ import annotations

import re
import time

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
    same_ms = [i for i in ids if i[:12] == ids[0][:12]]
    assert len(same_ms) > 1  # a tight loop makes many ids per millisecond
    shorts = {short_id(i) for i in ids}
    assert len(shorts) == len(ids)
    assert short_id(ids[0]) == "\u2026" + ids[0][-10:]
    assert short_id("abc") == "abc" and short_id(None) == ""
