"""Several processes of one home share its key file: when one rotates the key-encryption
key (`troth keys rotate`), the others read data keys re-wrapped under the new version,
wrap new ones under it within a second, and none that they wrapped under the old version
meanwhile is lost when the old version is retired."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa

import troth.keys
from troth.engine import Troth
from troth.gate import Actor, ActorKind
from troth.home import open_context
from troth.store.keystore import rotate_keys
from troth.store.tables import subject_keys

ACCOUNTS = Actor(ActorKind.staff, "ada", role="accounts")
CARD = "4111111111111111"


def _order(i: int) -> dict[str, str]:
    return {
        "name": f"Ann {i}",
        "email": f"ann{i}@example.com",
        "address": "1 Main St",
        "card_number": CARD,
        "card_expiry": "12/29",
        "order_items": "1 widget",
    }


def _kek_versions(t: Troth, sid: str | None = None) -> set[int]:
    stmt = sa.select(subject_keys.c.kek_version)
    if sid is not None:
        stmt = stmt.where(subject_keys.c.subject_id == sid)
    with t.ctx.engine.connect() as conn:
        return set(conn.execute(stmt).scalars())


def test_another_process_reads_and_wraps_under_a_rotated_key(
    home: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = home("itechno")
    other = Troth(open_context(t.ctx.home, clock=t.ctx.clock))
    try:
        sid = other.collect("order_form", _order(1)).subject_id
        assert other.use(sid, purpose="billing", actor=ACCOUNTS).get("card_number") == CARD
        rotate_keys(t.ctx)  # another process: every data key now under version 2
        assert _kek_versions(t) == {2}
        # The other process had only version 1: it takes version 2 in when it meets it.
        assert other.use(sid, purpose="billing", actor=ACCOUNTS).get("card_number") == CARD
        assert other.ctx.keys.current_kek_version == 2
        monkeypatch.setattr(troth.keys, "REFRESH_SECONDS", 0.0)
        rotate_keys(t.ctx)  # version 3; the other process looks again before wrapping
        new = other.collect("order_form", _order(2)).subject_id
        assert _kek_versions(t, new) == {3}
    finally:
        other.close()


def test_retiring_waits_for_keys_another_process_wrapped_under_the_old_version(
    home: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = home("itechno")
    first = t.collect("order_form", _order(1)).subject_id
    other = Troth(open_context(t.ctx.home, clock=t.ctx.clock))
    # The other process looks at the key file only now and then: it will not have seen the
    # rotation when it wraps a new person's data key.
    assert other.ctx.keys.current_kek_version == 1
    monkeypatch.setattr(troth.keys, "REFRESH_SECONDS", 1000.0)
    done: list[Any] = []
    waiting, collected = threading.Event(), threading.Event()
    waits: list[float] = []

    def pause(seconds: float) -> None:  # the rotation's wait for the other processes
        waits.append(seconds)
        waiting.set()
        assert collected.wait(30)

    rotating = threading.Thread(
        target=lambda: done.append(rotate_keys(t.ctx, retire_old=True, pause=pause))
    )
    rotating.start()
    try:
        assert waiting.wait(30)  # the first pass is over; the rotation waits
        assert _kek_versions(t) == {2}
        # Meanwhile the other process, not having looked yet, wraps under version 1.
        late = other.collect("order_form", _order(2)).subject_id
        assert _kek_versions(t, late) == {1}
        collected.set()  # wrapped under the version about to retire
        rotating.join(30)
        assert done and done[0].retired == [1]
        assert waits == [2.0]  # twice the interval at which processes look (1 s)
        assert _kek_versions(t) == {2}  # the second pass re-wrapped it
        assert 1 not in t.ctx.keys.kek_versions
        for sid in (first, late):
            for proc in (t, other):
                assert proc.use(sid, purpose="billing", actor=ACCOUNTS).get("card_number") == CARD
    finally:
        collected.set()
        rotating.join(30)
        other.close()


def test_another_homes_key_file_put_in_place_is_not_taken_in(home: Any, tmp_path: Any) -> None:
    t = home("itechno")
    stranger = home("itechno", name="stranger")
    sid = t.collect("order_form", _order(1)).subject_id
    path = t.ctx.settings.resolved_key_file
    path.write_bytes(stranger.ctx.settings.resolved_key_file.read_bytes())
    assert t.ctx.keys.refresh(force=True) is False
    assert t.use(sid, purpose="billing", actor=ACCOUNTS).get("card_number") == CARD
