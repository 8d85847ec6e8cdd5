"""P05 (ixanet): business contact information is not personal information there, and is
exempt from consent where the policy says so; the same data without the exemption is not."""

from __future__ import annotations

import pytest

from troth.errors import Refused
from troth.gate import Actor, ActorKind

APP = Actor(ActorKind.application, "crm", scopes=frozenset({"admin"}))
CARD = {"company": "Acme Ltd", "work_email": "sales@acme.example"}


def _business_card(exempt: bool):
    def edit(p: dict) -> None:
        p["collection_points"].append(
            {
                "id": "business_card",
                "description": "A business card handed over at a trade fair.",
                "fields": {
                    "company": {"category": "business_contact"},
                    "work_email": {"category": "business_contact", "type": "email"},
                },
                "purposes": ["client_relations"],
            }
        )
        if not exempt:
            p["business_contact_exempt_from"] = []

    return edit


def test_p05_business_contact_is_exempt_from_consent(home, db_url):
    t = home("ixanet", db_url, edit=_business_card(exempt=True))
    assert t.ctx.policy.policy.purposes[1].legal_basis.value == "consent"  # client_relations
    r = t.collect("business_card", CARD, actor=APP)
    assert r.purposes == ("client_relations",) and r.stored == 2
    view = t.use(r.subject_id, purpose="client_relations", actor=APP)
    assert view.get("work_email") == "sales@acme.example"


def test_p05_without_the_exemption_consent_is_needed(home, db_url):
    t = home("ixanet", db_url, edit=_business_card(exempt=False))
    with pytest.raises(Refused) as exc:
        t.collect("business_card", CARD, actor=APP)
    assert exc.value.reason == "no_consent"
    r = t.collect("business_card", CARD, actor=APP, consents=["client_relations"])
    assert t.use(r.subject_id, purpose="client_relations", actor=APP).get("company") == "Acme Ltd"
