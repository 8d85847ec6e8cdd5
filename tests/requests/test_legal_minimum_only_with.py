"""A legal minimum keeps what identifies a record only beside the record (``only_with``):
a person who gave billing details but never bought keeps nothing for the tax law, a
buyer keeps their invoice for its own period and the name and address on it for as long
as the latest invoice is kept; one by one and in bulk alike. Without ``only_with`` every
value the minimum names keeps its own period (the behaviour a policy already relies on)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from requests_helpers import verified
from troth.engine import Troth
from troth.errors import PolicyError
from troth.policy.changes import Severity
from troth.policy.diff import diff_policies
from troth.policy.loader import parse_policy
from troth.store.values import read_values

PROFILE = {"name": "Ines Costa", "email": "ines@example.com", "address": "2 Rua Nova"}
ORDER = {**PROFILE, "card_number": "4111111111111111", "card_expiry": "12/29"}


def _billing_profile(policy: dict[str, Any], only_with: list[str] | None) -> None:
    """itechno plus a point where a customer saves billing details before any order, and
    (when given) the tax minimum's ``only_with``."""
    policy["collection_points"].append(
        {
            "id": "billing_profile",
            "description": "Billing details saved to the account before a first order",
            "subjects": ["customer"],
            "purposes": ["billing"],
            "fields": {
                "name": {"category": "identity", "required": True},
                "email": {
                    "category": "contact",
                    "type": "email",
                    "required": True,
                    "identifies": "email",
                },
                "address": {"category": "shipping_address"},
            },
        }
    )
    if only_with is not None:
        billing = next(p for p in policy["purposes"] if p["id"] == "billing")
        billing["retention"]["legal_minimum"]["only_with"] = only_with


@pytest.fixture
def t(home: Any, db_url: str) -> Troth:
    return home("itechno", db_url, edit=lambda p: _billing_profile(p, ["purchases"]))


def _left(t: Troth, sid: str) -> dict[str, tuple[str | None, date | None]]:
    with t.ctx.engine.connect() as conn:
        return {
            f"{v.field}@{v.collected_at.year}": (v.restricted_to, v.restricted_until)
            for v in read_values(conn, t.ctx, sid)
        }


def _close(t: Troth, email: str) -> dict[str, Any]:
    rid = verified(t, "close_account", email)
    done = t.requests.execute(rid)
    (troth_part,) = [s for s in done.result["systems"] if s["system"] == "troth"]  # type: ignore[index]
    return troth_part  # type: ignore[no-any-return]


def test_billing_details_without_an_order_are_not_kept_for_the_tax_law(t: Troth) -> None:
    sid = t.collect("billing_profile", PROFILE).subject_id
    part = _close(t, PROFILE["email"])
    assert _left(t, sid) == {}
    assert part["kept"] == 0 and part["kept_because"] == []


def test_the_name_on_an_invoice_is_kept_as_long_as_the_latest_invoice(t: Troth) -> None:
    start = t.ctx.clock.now()
    sid = t.collect("billing_profile", PROFILE).subject_id  # the name, eight years ago
    t.collect("order_form", {**ORDER, "order_items": "1 x Licence (old)"})
    t.ctx.clock.advance(timedelta(days=8 * 365 + 2))  # past the first invoice's 7 years
    t.collect("order_form", {**ORDER, "order_items": "1 x Licence (new)"})
    part = _close(t, PROFILE["email"])
    today = t.ctx.clock.now().date()
    invoice_until = today.replace(year=today.year + 7)
    left = _left(t, sid)
    y0, y8 = start.year, t.ctx.clock.now().year
    # The old invoice's own 7 years are over: it goes, and nothing keeps it.
    assert f"order_items@{y0}" not in left
    # The new invoice keeps its own 7 years; the name and address on it stay as long,
    # though they were first given eight years ago (their own period is over).
    assert left[f"order_items@{y8}"] == ("billing", invoice_until)
    for field in (f"name@{y0}", f"address@{y0}", f"name@{y8}", f"address@{y8}"):
        assert left[field] == ("billing", invoice_until), field
    # Never kept: the card (the minimum does not name it) and the e-mail (nor that).
    assert not {k for k in left if k.split("@")[0] in {"card_number", "email"}}
    assert {(w["purpose"], w["until"]) for w in part["kept_because"]} == {
        ("billing", invoice_until.isoformat())
    }


def test_only_old_invoices_keep_nothing(t: Troth) -> None:
    sid = t.collect("order_form", {**ORDER, "order_items": "1 x Licence"}).subject_id
    t.ctx.clock.advance(timedelta(days=7 * 365 + 3))
    _close(t, PROFILE["email"])
    assert _left(t, sid) == {}


def test_in_bulk_as_one_by_one(t: Troth) -> None:
    never = t.collect("billing_profile", PROFILE).subject_id
    buyer = t.collect(
        "order_form", {**ORDER, "email": "bo@example.com", "order_items": "2 x Licence"}
    ).subject_id
    rids = [
        verified(t, "close_account", PROFILE["email"]),
        verified(t, "close_account", "bo@example.com"),
    ]
    report = t.requests.execute_many(rids)
    assert report.failed == {} and sorted(report.completed) == sorted(rids)
    assert report.jobs  # erased in one batch, not one by one
    assert _left(t, never) == {}
    assert {k.split("@")[0] for k in _left(t, buyer)} == {"name", "address", "order_items"}


def test_without_only_with_each_value_keeps_its_own_period(home: Any, db_url: str) -> None:
    # The minimum as a policy wrote it before only_with: billing details given at a point
    # of the billing purpose are kept for the tax law, whether or not anything was bought.
    t = home("itechno", db_url, edit=lambda p: _billing_profile(p, None))
    sid = t.collect("billing_profile", PROFILE).subject_id
    _close(t, PROFILE["email"])
    assert {k.split("@")[0] for k in _left(t, sid)} == {"name", "address"}


def _policy(home: Any, only_with: list[str] | None) -> str:
    import yaml

    from troth.examples import example_path

    data = yaml.safe_load(example_path("itechno").read_text())
    _billing_profile(data, only_with)
    return yaml.safe_dump(data, sort_keys=False)


@pytest.mark.parametrize("bad", ["payment_card", "contact", "no_such_category"])
def test_only_with_must_name_a_kept_category(home: Any, bad: str) -> None:
    with pytest.raises(PolicyError) as err:
        parse_policy(_policy(home, ["purchases", bad]))
    text = str(err.value)
    assert "purposes[0].retention.legal_minimum.only_with[1]" in text
    assert "not among the categories this legal minimum keeps" in text


def test_keeping_beside_more_records_or_for_everyone_is_a_material_change(home: Any) -> None:
    narrow = parse_policy(_policy(home, ["purchases"]))
    wider = parse_policy(_policy(home, ["purchases", "billing"]))
    everyone = parse_policy(_policy(home, None))

    def material(old: Any, new: Any) -> bool:
        changes = [
            c for c in diff_policies(old, new).changes if c.item == "retention.legal_minimum"
        ]
        assert changes, "the legal minimum's change is listed"
        return any(c.severity is Severity.material for c in changes)

    assert material(narrow, wider)
    assert material(narrow, everyone)
    assert not material(everyone, narrow)  # keeping less: no notice needed
    assert not material(wider, narrow)


def test_validate_warns_when_a_smaller_point_binds_a_legal_minimum(home: Any) -> None:
    """The trial's dating app bound its premium billing purpose to the sign-up form, so
    every erased member (a child who never paid included) kept their name for the tax
    law; validate now says so, and ``only_with`` silences it."""
    from troth.policy.warnings import policy_warnings

    said = [w for w in policy_warnings(parse_policy(_policy(home, None))) if "only_with" in w]
    assert len(said) == 1
    assert said[0].startswith("purposes[0].retention.legal_minimum: collection point")
    assert "'billing_profile' binds 'billing'" in said[0] and "'order_form'" in said[0]
    fixed = parse_policy(_policy(home, ["purchases"]))
    assert not [w for w in policy_warnings(fixed) if "only_with" in w]


@pytest.mark.parametrize(
    ("field", "warned"),
    [
        ({"category": "contact", "type": "email"}, True),
        ({"category": "contact", "type": "phone"}, True),
        ({"category": "contact", "type": "email", "identifies": "email"}, False),
        ({"category": "contact"}, False),  # free text: no address to look up
    ],
)
def test_validate_warns_of_a_point_whose_people_no_request_finds(
    home: Any, field: dict[str, Any], warned: bool
) -> None:
    import yaml

    from troth.examples import example_path
    from troth.policy.warnings import policy_warnings

    data = yaml.safe_load(example_path("itechno").read_text())
    data["collection_points"].append(
        {
            "id": "callback",
            "description": "Ask us to call you back",
            "subjects": ["customer"],
            "purposes": ["order_fulfilment"],
            "fields": {"name": {"category": "identity"}, "reach_me": field},
        }
    )
    said = [
        w
        for w in policy_warnings(parse_policy(yaml.safe_dump(data)))
        if "no field identifies the person" in w
    ]
    assert bool(said) is warned
    if warned:
        assert said[0].startswith("collection_points[4].fields.reach_me: collection point")
        assert f"identifies: {field['type']}" in said[0]
