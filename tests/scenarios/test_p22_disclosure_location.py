"""P22 (ixanet, ilign): sending data outside the allowed locations is refused, or recorded
as a transfer with the safeguard the policy names."""

from __future__ import annotations

from typing import Any

import pytest

from troth.errors import Refused
from troth.gate import Actor, ActorKind

APP = Actor(ActorKind.application, "helpdesk", scopes=frozenset({"admin"}))


def test_p22_transfer_recorded_or_refused(home, db_url):
    t = home("ilign", db_url)
    sid = t.collect("support_ticket", {"email": "a@example.nz", "message": "help"}).subject_id
    pkg = t.disclosures.disclose(sid, "freshdesk", "support", APP)
    assert pkg.location == "US" and "IPP 12" in (pkg.transfer_safeguard or "")
    assert t.disclosures.disclosures_of(sid)[0]["transfer_safeguard"] == pkg.transfer_safeguard


def test_p22_no_safeguard_no_transfer(home, db_url):
    def edit(p: dict[str, Any]) -> None:
        p["locations"]["transfers"] = []

    t = home("ilign", db_url, edit=edit)
    sid = t.collect("support_ticket", {"email": "a@example.nz", "message": "help"}).subject_id
    with pytest.raises(Refused) as exc:
        t.disclosures.disclose(sid, "freshdesk", "support", APP)
    assert exc.value.reason == "location_not_allowed"
    assert t.disclosures.disclosures_of(sid) == []
