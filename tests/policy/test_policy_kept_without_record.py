"""`policy validate` warns when a legal minimum without ``only_with`` keeps, after erasure,
what a person gave through one point with no record beside it (trial 19, F9): a point
that collects part of what another collects (a sign-up's name beside an order's name and
items), and two points that collect nothing in common of it (a dating app's sign-up name
and its report form's report: every member kept their name, reported or not, a child
erased as a minor too). Points that share a record, or collect the same, are not warned
about; ``only_with`` silences it. The ilign example, which had that very shape, now names
its invoice as the record: a billing contact never invoiced keeps nothing."""

from __future__ import annotations

from typing import Any

import yaml

from policy_samples import BASE
from requests_helpers import verified
from troth.policy.loader import parse_policy
from troth.policy.warnings import policy_warnings
from troth.store.values import read_values

SAFETY = {
    "id": "safety",
    "description": "Keep members safe",
    "legal_basis": "legitimate_interest",
    "categories": ["identity", "contact", "reports"],
    "retention": {
        "keep_for": "2y",
        "legal_minimum": {
            "keep_for": "2y",
            "law": "DSA Art. 16",
            "categories": ["identity", "reports"],
        },
    },
}


def _policy(
    points: dict[str, dict[str, str]],
    only_with: list[str] | None = None,
    kept: tuple[str, ...] = ("identity", "reports"),
) -> Any:
    """BASE plus a ``safety`` purpose whose legal minimum keeps ``kept``, bound by
    ``points`` (each: field -> category)."""
    data = yaml.safe_load(BASE)
    data["categories"].append({"id": "reports", "description": "Reports about a member"})
    purpose = yaml.safe_load(yaml.safe_dump(SAFETY))
    purpose["categories"] = sorted({*purpose["categories"], *kept})
    purpose["retention"]["legal_minimum"]["categories"] = list(kept)
    if only_with is not None:
        purpose["retention"]["legal_minimum"]["only_with"] = only_with
    data["purposes"].append(purpose)
    for name, fields in points.items():
        data["collection_points"].append(
            {"id": name, "subjects": ["customer"], "fields": fields, "purposes": ["safety"]}
        )
    return parse_policy(yaml.safe_dump(data, sort_keys=False), "p.yaml")


def _about_records(policy: Any) -> list[str]:
    return [w for w in policy_warnings(policy) if "only_with" in w]


SIGNUP = {"name": "identity"}
REPORT = {"report": "reports"}


def test_two_points_with_nothing_kept_in_common_are_warned_about_once() -> None:
    (warning,) = _about_records(_policy({"signup": SIGNUP, "report_form": REPORT}))
    assert warning.startswith("purposes[3].retention.legal_minimum: collection points")
    assert "'report_form' (reports) and 'signup' (identity) both bind 'safety'" in warning
    assert "after erasure for 2y (DSA Art. 16)" in warning
    # The record offered is the report (only 'safety' declares it), not the name.
    assert "`only_with: [reports]`" in warning
    assert "identity from 'signup' is kept only beside reports from 'report_form'" in warning


def test_only_with_silences_it() -> None:
    for named in (["reports"], ["identity"], ["identity", "reports"]):
        assert _about_records(_policy({"signup": SIGNUP, "report_form": REPORT}, named)) == []


def test_a_smaller_point_is_warned_about_as_before() -> None:
    both = {"name": "identity", "report": "reports"}
    (warning,) = _about_records(_policy({"signup": SIGNUP, "report_form": both}))
    assert "collection point 'signup' binds 'safety' and collects identity" in warning
    assert "only those who also come through 'report_form'" in warning
    assert "(e.g. 'reports')" in warning


def test_three_points_give_no_second_warning_for_a_pair_already_warned() -> None:
    appeal = {"name": "identity", "report": "reports"}
    warned = _about_records(_policy({"signup": SIGNUP, "report_form": REPORT, "appeal": appeal}))
    assert len(warned) == 2, warned  # signup and report_form, each a part of appeal
    assert not [w for w in warned if "collection points" in w]


def test_points_that_share_what_is_kept_or_collect_the_same_are_not_warned_about() -> None:
    # Each holds a report (ixanet: a subscription and a purchase, both purchases).
    a = {"name": "identity", "report": "reports"}
    b = {"text": "reports", "email": "contact"}
    assert _about_records(_policy({"a": a, "b": b}, kept=("identity", "contact", "reports"))) == []
    assert _about_records(_policy({"a": SIGNUP, "b": {"full_name": "identity"}})) == []
    # A point binding the purpose that collects nothing it keeps.
    assert _about_records(_policy({"a": a, "b": {"mail": "contact"}})) == []
    # One point alone.
    assert _about_records(_policy({"signup": SIGNUP})) == []


def test_the_ilign_example_keeps_a_contact_name_only_beside_an_invoice(home: Any) -> None:
    t = home("ilign")
    lone = t.collect("billing_contact", {"name": "Ann", "email": "ann@example.com"}).subject_id
    billed = t.collect("billing_contact", {"name": "Bo", "email": "bo@example.com"}).subject_id
    t.collect("invoice", {"invoice_number": "INV-1", "amount": 120}, subject_id=billed)
    for email in ("ann@example.com", "bo@example.com"):
        t.requests.execute(verified(t, "delete", email))
    with t.ctx.engine.connect() as conn:
        left = {
            sid: sorted(v.field for v in read_values(conn, t.ctx, sid)) for sid in (lone, billed)
        }
    assert left[lone] == []  # never invoiced: nothing kept for the tax law
    assert left[billed] == ["amount", "invoice_number", "name"]  # the invoice and its name
