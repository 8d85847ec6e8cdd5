"""P05 (ixanet): business contact information can be declared not personal information, and
is then exempt where the policy says so."""

from __future__ import annotations

from troth.examples import example_path
from troth.policy.index import PolicyIndex
from troth.policy.loader import parse_policy, read_policy


def test_p05_ixanet_declares_business_contact_exempt() -> None:
    loaded = read_policy(example_path("ixanet"))
    index = PolicyIndex.build(loaded.policy, loaded.text)

    # "'Personal Information' ... other than business contact information."
    assert index.is_business_contact("business_contact")
    assert index.exempt_from("business_contact", "consent")
    assert index.exempt_from("business_contact", "requests")
    # Only where the policy says so: retention still applies, and ordinary contact data is
    # personal information with every obligation.
    assert not index.exempt_from("business_contact", "retention")
    assert not index.exempt_from("contact", "consent")
    assert not index.exempt_from("identity", "requests")
    # The subscription form takes business contact details beside personal ones.
    fields = index.point_fields["subscription"]
    assert fields["company"].category == "business_contact"
    assert fields["email"].category == "contact"


def test_p05_no_exemption_unless_declared() -> None:
    text = example_path("ixanet").read_text()
    text = text.replace("business_contact_exempt_from: [consent, requests]\n", "")
    index = PolicyIndex.build(parse_policy(text), text)
    assert index.is_business_contact("business_contact")
    assert not index.exempt_from("business_contact", "consent")
