"""An unknown id is named in its error cut to 64 characters (an id is 32): a caller's
5,000-character "id" is not echoed back whole, in a message or a problem's details."""

from __future__ import annotations

from typing import Any

import pytest

from troth.errors import NotFound
from troth.gate import Actor, ActorKind

SUPPORT = Actor(ActorKind.staff, "sam", role="support")


def test_an_unknown_long_id_is_cut_in_its_error(home: Any) -> None:
    t = home("mindlink")
    long_id = "x" * 5000
    for call in (
        lambda: t.use(long_id, purpose="support", actor=SUPPORT),
        lambda: t.requests.open("access", subject_id=long_id),
        lambda: t.consent.grant(long_id, "newsletter"),
    ):
        with pytest.raises(NotFound) as info:
            call()
        shown = str(info.value.to_dict())
        assert len(info.value.message) < 200, info.value.message[:100]
        assert long_id[:65] not in info.value.message + shown
