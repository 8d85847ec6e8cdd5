"""The five seed policies: each validates, encodes what its text promises, and reads back."""

from __future__ import annotations

import re

import pytest

from repo_paths import ROOT
from troth.errors import NotFound
from troth.examples import EXAMPLES, example_path
from troth.policy.describe import describe_policy, policy_summary
from troth.policy.index import PolicyIndex
from troth.policy.loader import load_policy, read_policy
from troth.policy.model import LegalBasis, Policy, Power, RecipientKind, SourceKind


def index(name: str) -> PolicyIndex:
    loaded = read_policy(example_path(name))
    return PolicyIndex.build(loaded.policy, loaded.text)


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_validates_and_has_the_basics(name: str) -> None:
    policy = load_policy(example_path(name))
    assert policy.id == name.replace("-", "_")
    roles = {r.id: r for r in policy.roles}
    assert {"privacy_office", "support", "accounts"} <= set(roles)
    # The office's functions are declared powers; what it reads stays its categories.
    assert Power.manage_requests in roles["privacy_office"].powers
    assert Power.publish_policy in roles["privacy_office"].powers
    assert not roles["support"].powers
    for p in policy.purposes:
        if p.legal_basis is not LegalBasis.legal_obligation:
            assert p.retention is not None, f"{name}: purpose {p.id} has no retention"
    for cp in policy.collection_points:
        if "email" in cp.fields:
            assert cp.fields["email"].identifies == "email", f"{name}: {cp.id}"
    text = describe_policy(policy)
    assert policy.organisation.name in text
    assert policy_summary(policy)["version"] == policy.version


def test_top_level_examples_are_the_packaged_ones() -> None:
    for name in EXAMPLES:
        assert (ROOT / "examples" / f"{name}.yaml").read_text() == example_path(name).read_text()


def test_example_path_names() -> None:
    assert example_path("phone_service") == example_path("phone-service")
    with pytest.raises(NotFound):
        example_path("acme")


def _comment_text(name: str) -> str:
    lines = example_path(name).read_text().splitlines()
    comments = " ".join(line.split("#", 1)[1].strip() for line in lines if "#" in line)
    return re.sub(r"\s+", " ", comments)


# Practice sentences that must be quoted in each example (a sample from each seed text).
QUOTED = {
    "ilign": [
        "We collect the absolute minimum of personal information about our customers.",
        "Our hosting provider for New Zealand customers is SiteHost.",
        "Our Help Desk support software is Freshdesk.",
        "Never sell or pass on your information.",
        "Be open and honest should a privacy breach occur.",
    ],
    "itechno": [
        "individuals under the age of 18",
        "shipping an order requires sharing your name and address with a shipping company.",
        "We do not give access to data on individual transactions to third parties",
        "notify users by posting a notice for change on our Web site for 30 days.",
        "We use session ID cookies that simply terminate once users close the browser.",
    ],
    "ixanet": [
        "other than business contact information.",
        "This information is only used internally and in aggregate form",
        "ixanet will seek your consent for each new proposed use of your Personal Information.",
        "Currently, the principal places in which ixanet holds Personal Information is in Canada.",
        "We audit our procedures and security measures from time to time",
    ],
    "mindlink": [
        "we may maintain a record of your communication.",
        "(4) Participate in contests and surveys",
        "you can unsubscribe at any time by selecting the 'unsubscribe' link",
        "e.g: employees at the accounts department.",
        "we will only use that information for the specific reason for which it was provided",
    ],
    "phone-service": [
        "We never look at the detailed data unless requested by you or with your permission.",
        "telephone call records and destination information",
        "We use cookies to record current session information.",
        "by sending a notice to the primary email address",
    ],
}


@pytest.mark.parametrize("name", EXAMPLES)
def test_sentences_quoted(name: str) -> None:
    comments = _comment_text(name).replace("\u2019", "'")
    for sentence in QUOTED[name]:
        assert sentence in comments, f"{name}: {sentence!r} not quoted"


def test_itechno() -> None:
    idx = index("itechno")
    p: Policy = idx.policy
    assert p.minors.minimum_age == 18
    assert idx.is_sensitive("payment_card")
    order = idx.point_fields["order_form"]
    assert order["card_number"].category == order["card_expiry"].category == "payment_card"
    shipper = idx.recipients["shipping_company"]
    assert shipper.kind is RecipientKind.third_party and not shipper.individual_transactions
    grant = idx.recipient_grants[("shipping_company", "order_fulfilment")]
    assert grant.fields == frozenset({"name", "address"})
    assert p.notices.notice_period_days == 30
    assert "product_improvement" in idx.aggregate_purposes


def test_ixanet() -> None:
    idx = index("ixanet")
    p = idx.policy
    assert {"service_management", "statistics"} <= idx.aggregate_purposes
    assert idx.purposes["marketing"].legal_basis is LegalBasis.consent
    assert p.notices.new_purpose_needs_consent
    assert p.locations.allowed == ["CA"]
    assert set(p.business_contact_exempt_from) == {"consent", "requests"}


def test_phone_service() -> None:
    idx = index("phone-service")
    p = idx.policy
    assert p.multi_tenant
    assert {"call_records", "destination_numbers"} <= set(idx.categories)
    assert p.support_access.requires_customer_grant and p.support_access.max_days <= 30
    assert p.notices.email_customers


def test_ilign() -> None:
    idx = index("ilign")
    assert idx.recipients["sitehost"].location == "NZ"
    freshdesk = idx.recipients["freshdesk"]
    assert freshdesk.location == "US" and "US" not in idx.allowed_locations
    assert freshdesk.safeguard or "US" in idx.transfer_locations
    assert idx.policy.support_access.requires_customer_grant


def test_mindlink() -> None:
    idx = index("mindlink")
    assert {
        "purchase",
        "support_request",
        "contact_form",
        "newsletter_signup",
        "contest_survey",
        "job_application",
        "third_party_supply",
    } <= set(idx.points)
    supply = idx.points["third_party_supply"]
    assert supply.source is SourceKind.third_party and supply.supplier
    assert "billing" in idx.role_categories["accounts"]
    assert {"newsletter", "service_updates"} <= set(idx.lists)
    assert idx.policy.cookies
