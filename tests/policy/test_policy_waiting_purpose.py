"""A purpose (and a collection point) that only a published version still waiting for its
effective date declares (trial #15 F3): a use, a disclosure or a collection for it is
refused ``notice_period_running``, audited, the message naming the version and the
instant it takes effect, not ``purpose_not_declared`` as if nobody had published it; a
purpose in neither version stays ``purpose_not_declared``; consent may be given ahead;
from the instant on, the purpose is allowed like any other."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from troth.audit.entries import list_entries
from troth.engine import Troth
from troth.errors import NotFound, Refused, ValidationError
from troth.gate import Actor, ActorKind

APP = Actor(ActorKind.application, "shop", scopes=frozenset({"admin"}))
SUPPORT = Actor(ActorKind.staff, "sue", role="support")
ORDER = {
    "name": "Ann Lee",
    "email": "ann@example.com",
    "address": "1 Main St",
    "card_number": "4111111111111111",
    "card_expiry": "12/29",
    "order_items": "1 widget",
}
# 15 Apr 2026 00:00 in Auckland (NZST, UTC+12) is 14 Apr 12:00 UTC.
TAKES_EFFECT = datetime(2026, 4, 14, 12, 0, tzinfo=UTC)
WHEN = "policy version 2.0, which takes effect on 2026-04-15 00:00 NZST"
LOYALTY = {
    "id": "loyalty_offers",
    "description": "Offers for loyal customers.",
    "legal_basis": "consent",
    "notice": "With your consent we send you offers for loyal customers.",
    "withdraw": "Unsubscribe from the offers in your account.",
    "categories": ["identity", "contact", "purchases"],
    "retention": {"keep_for": "1y"},
}


def _auckland(data: dict[str, Any]) -> None:
    data["organisation"]["time_zone"] = "Pacific/Auckland"


def _v2(t: Troth, tmp_path: Path) -> Path:
    """Version 2.0: a consent purpose ``loyalty_offers`` (added to the order form and to
    support's role), a point ``loyalty_signup`` for it, a recipient of it and the shipping
    company receiving it too."""
    data = yaml.safe_load(t.ctx.settings.resolved_policy_file.read_text())
    data["version"] = "2.0"
    data["effective"] = date(2026, 4, 15)
    data["purposes"].append(dict(LOYALTY))
    for point in data["collection_points"]:
        if point["id"] == "order_form":
            point["purposes"].append("loyalty_offers")
    data["collection_points"].append(
        {
            "id": "loyalty_signup",
            "description": "A customer joins the loyalty scheme.",
            "subjects": [data["collection_points"][0]["subjects"][0]],
            "fields": {
                "name": {"category": "identity", "required": True},
                "email": {"category": "contact", "type": "email", "identifies": "email"},
            },
            "purposes": ["loyalty_offers"],
        }
    )
    for role in data["roles"]:
        if role["id"] == "support":
            role["purposes"].append("loyalty_offers")
    for recipient in data["recipients"]:
        if recipient["id"] == "shipping_company":
            recipient["receives"].append({"purpose": "loyalty_offers", "categories": ["identity"]})
    data["recipients"].append(
        {
            "id": "loyalty_partner",
            "name": "Loyalty partner",
            "kind": "third_party",
            "location": "US",
            "safeguard": "Contract limiting use to the loyalty scheme",
            "receives": [{"purpose": "loyalty_offers", "categories": ["identity"]}],
        }
    )
    path = tmp_path / "v2.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def waiting(home: Any, clock: Any, tmp_path: Path) -> tuple[Troth, str]:
    t = home("itechno", edit=_auckland)
    sid = t.collect("order_form", ORDER).subject_id
    result = t.policy.publish(_v2(t, tmp_path))
    assert result.takes_effect is not None
    clock.advance(days=1)
    assert t.policy.version == "1.0"
    return t, sid


def _refused(call: Any) -> Refused:
    with pytest.raises(Refused) as exc:
        call()
    return exc.value


def _last(t: Troth, action: str) -> Any:
    return [e.entry for e in list_entries(t.ctx, action=action, limit=1000)][-1]


@pytest.mark.parametrize("actor", [APP, SUPPORT], ids=["app", "support"])
def test_a_use_for_the_waiting_purpose_waits_and_names_the_instant(
    waiting: tuple[Troth, str], actor: Actor
) -> None:
    t, sid = waiting
    exc = _refused(lambda: t.use(sid, purpose="loyalty_offers", actor=actor))
    assert exc.reason == "notice_period_running"
    assert f"purpose 'loyalty_offers' comes with {WHEN}" in exc.message
    entry = _last(t, "use")
    assert (entry.outcome, entry.reason, entry.purpose) == (
        "deny",
        "notice_period_running",
        "loyalty_offers",
    )
    # Consent given ahead changes nothing before the instant.
    t.consent.grant(sid, "loyalty_offers")
    again = _refused(lambda: t.use(sid, purpose="loyalty_offers", actor=actor))
    assert again.reason == "notice_period_running"


def test_a_purpose_in_neither_version_stays_not_declared(waiting: tuple[Troth, str]) -> None:
    t, sid = waiting
    exc = _refused(lambda: t.use(sid, purpose="nosuch", actor=APP))
    assert exc.reason == "purpose_not_declared"
    assert _last(t, "use").reason == "purpose_not_declared"
    exc = _refused(lambda: t.disclosures.disclose(sid, "shipping_company", "nosuch", actor=APP))
    assert exc.reason == "purpose_not_declared"
    exc = _refused(lambda: t.collect("order_form", ORDER, purposes=["nosuch"]))
    assert exc.reason == "purpose_not_of_collection"
    exc = _refused(lambda: t.collect("nosuch_form", {"name": "Bo"}))
    assert exc.reason == "unknown_collection_point"
    with pytest.raises(ValidationError):
        t.collect("order_form", ORDER, consents=["nosuch"])
    with pytest.raises(ValidationError):
        t.consent.grant(sid, "nosuch")


def test_a_disclosure_for_the_waiting_purpose_waits(waiting: tuple[Troth, str]) -> None:
    t, sid = waiting
    for recipient in ("shipping_company", "loyalty_partner"):  # a recipient of both, of 2.0
        exc = _refused(
            lambda r=recipient: t.disclosures.disclose(sid, r, "loyalty_offers", actor=APP)
        )
        assert exc.reason == "notice_period_running", recipient
        assert "takes effect on 2026-04-15 00:00 NZST" in exc.message
        assert _last(t, "disclose").reason == "notice_period_running"
    assert (
        f"purpose 'loyalty_offers' comes with {WHEN}"
        in _refused(
            lambda: t.disclosures.disclose(sid, "shipping_company", "loyalty_offers", actor=APP)
        ).message
    )


def test_a_collection_for_the_waiting_purpose_or_point_waits(waiting: tuple[Troth, str]) -> None:
    t, _sid = waiting
    bo = {**ORDER, "email": "bo@example.com"}
    exc = _refused(lambda: t.collect("order_form", bo, purposes=["loyalty_offers"]))
    assert exc.reason == "notice_period_running"
    assert f"collects for loyalty_offers from {WHEN}" in exc.message
    assert _last(t, "collect").reason == "notice_period_running"
    exc = _refused(lambda: t.collect("loyalty_signup", {"name": "Bo", "email": bo["email"]}))
    assert exc.reason == "notice_period_running"
    assert f"collection point 'loyalty_signup' comes with {WHEN}" in exc.message
    assert _last(t, "collect").reason == "notice_period_running"
    with pytest.raises(NotFound):  # nothing stored
        t.find(email=bo["email"])
    # Consent to the waiting purpose ticked on today's form is consent given ahead.
    sid = t.collect("order_form", bo, consents=["loyalty_offers"]).subject_id
    assert t.consent.state(sid)["loyalty_offers"].granted


def test_from_the_instant_the_purpose_is_allowed(waiting: tuple[Troth, str], clock: Any) -> None:
    t, sid = waiting
    t.consent.grant(sid, "loyalty_offers")  # ahead
    clock.set(TAKES_EFFECT)
    assert t.policy.version == "2.0"
    view = t.use(sid, purpose="loyalty_offers", actor=SUPPORT)
    assert {v.field for v in view.values} >= {"name", "email"}
    sent = t.disclosures.disclose(sid, "loyalty_partner", "loyalty_offers", actor=APP)
    assert [(v.field, v.value) for v in sent.values] == [("name", "Ann Lee")]
    cy = {"name": "Cy", "email": "cy@example.com"}
    exc = _refused(lambda: t.collect("loyalty_signup", cy))
    assert exc.reason == "no_consent"  # now decided as any consent purpose
    cid = t.collect("loyalty_signup", cy, consents=["loyalty_offers"]).subject_id
    view = t.use(cid, purpose="loyalty_offers", actor=SUPPORT)
    assert {(v.field, v.value) for v in view.values} == {("name", "Cy"), ("email", cy["email"])}
