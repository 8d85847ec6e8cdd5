"""Shared policy texts and hypothesis strategies for the policy tests."""

from __future__ import annotations

from datetime import date

from hypothesis import strategies as st

from troth.policy.model import (
    Aggregates,
    Category,
    CollectedField,
    CollectionPoint,
    Cookie,
    CookieCategory,
    Disclosure,
    Duration,
    FieldType,
    LegalBasis,
    LegalMinimum,
    Locations,
    MailingList,
    Minors,
    Notices,
    Organisation,
    Policy,
    Power,
    Purpose,
    Recipient,
    RecipientKind,
    Regime,
    Retention,
    RetentionAction,
    RetentionClock,
    Role,
    SourceKind,
    SubjectKind,
    SupportAccess,
    Transfer,
)

BASE = """\
troth: 1
version: "1"
effective: 2024-01-01
organisation:
  name: Acme
  jurisdictions: [gdpr, uk_gdpr]
  default_jurisdiction: gdpr
subjects:
  - id: customer
categories:
  - id: loyalty
    description: Loyalty points
purposes:
  - id: orders
    description: Fill orders
    legal_basis: contract
    categories: [identity, contact, loyalty, shipping_address]
    retention:
      keep_for: 7y
      legal_minimum:
        keep_for: 6y
        law: Tax law, 6 years
        categories: [loyalty]
  - id: news
    description: Newsletter
    legal_basis: consent
    categories: [contact]
    withdraw: Click unsubscribe in any email
  - id: stats
    description: Statistics
    legal_basis: legitimate_interest
    categories: [technical]
    aggregate_only: true
collection_points:
  - id: order_form
    subjects: [customer]
    fields:
      name: identity
      email: {category: contact, type: email, identifies: email}
      address: {category: shipping_address}
      birth_date: {category: demographic, type: date}
    purposes: [orders, news]
    age_field: birth_date
    location: DE
  - id: web
    source: observed
    fields:
      ip: technical
    purposes: [stats]
recipients:
  - id: courier
    name: Courier
    kind: third_party
    location: DE
    receives:
      - purpose: orders
        categories: [identity, shipping_address]
        fields: [name, address]
    individual_transactions: false
locations:
  allowed: [DE, FR]
  default: DE
roles:
  - id: support
    categories: [contact, loyalty]
    purposes: [orders]
  - id: privacy_office
    powers: [manage_requests, read_audit, publish_policy]
lists:
  - id: newsletter
    purpose: news
cookies:
  - category: analytics
    purpose: stats
"""


def line_of(text: str, needle: str) -> int:
    """1-based line number of the first line containing ``needle``."""
    for n, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return n
    raise AssertionError(f"{needle!r} not in text")


# -- hypothesis strategies ----------------------------------------------------------------
BUILTIN = ["identity", "contact", "billing", "technical", "purchases", "support", "survey"]
PLACES = ["NZ", "CA", "US", "GB", "EU", "DE"]

ids = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
words = st.text(alphabet="abcXYZ 019-_.,:'\"#é?", min_size=1, max_size=20)
maybe_words = st.none() | words
durations = st.builds(
    Duration,
    years=st.integers(0, 20),
    months=st.integers(0, 11),
    days=st.integers(0, 400),
)
retentions = st.builds(
    Retention,
    keep_for=durations,
    after=st.sampled_from(RetentionClock),
    then=st.sampled_from(RetentionAction),
    legal_minimum=st.none()
    | st.builds(
        LegalMinimum,
        keep_for=durations,
        law=words,
        categories=st.lists(st.sampled_from(BUILTIN), min_size=1, max_size=2, unique=True),
    ),
)
cats = st.lists(st.sampled_from(BUILTIN), min_size=1, max_size=3, unique=True)


def unique_by_id(strategy: st.SearchStrategy, max_size: int = 3, min_size: int = 0):
    return st.lists(strategy, min_size=min_size, max_size=max_size, unique_by=lambda x: x.id)


purposes = st.builds(
    Purpose,
    id=ids,
    description=words,
    legal_basis=st.sampled_from(LegalBasis),
    categories=cats,
    aggregate_only=st.booleans(),
    sale_or_sharing=st.booleans(),
    marketing=st.booleans(),
    retention=st.none() | retentions,
    notice=maybe_words,
    withdraw=maybe_words,
)
fields = st.builds(
    CollectedField,
    category=st.sampled_from(BUILTIN),
    type=st.sampled_from(FieldType),
    required=st.booleans(),
    max_length=st.integers(1, 100_000),
    identifies=st.none() | st.sampled_from(["email", "phone"]),
)
points = st.builds(
    CollectionPoint,
    id=ids,
    description=maybe_words,
    subjects=st.lists(ids, max_size=2),
    source=st.sampled_from(SourceKind),
    supplier=maybe_words,
    fields=st.dictionaries(ids, fields, min_size=1, max_size=3),
    purposes=st.lists(ids, min_size=1, max_size=2),
    location=st.none() | st.sampled_from(PLACES),
)
recipients = st.builds(
    Recipient,
    id=ids,
    name=words,
    kind=st.sampled_from(RecipientKind),
    location=st.sampled_from(PLACES),
    receives=st.lists(
        st.builds(Disclosure, purpose=ids, categories=cats, fields=st.lists(ids, max_size=2)),
        max_size=2,
    ),
    individual_transactions=st.booleans(),
    safeguard=maybe_words,
)


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    """Model-valid policies (cross-references not guaranteed)."""
    allowed = draw(st.lists(st.sampled_from(PLACES), min_size=1, max_size=3, unique=True))
    return Policy(
        id=draw(st.none() | ids),
        version=draw(words),
        effective=draw(st.dates(date(1990, 1, 1), date(2100, 1, 1))),
        organisation=Organisation(
            name=draw(words),
            website=draw(maybe_words),
            jurisdictions=draw(
                st.lists(st.sampled_from(Regime), min_size=1, max_size=2, unique=True)
            ),
        ),
        categories=draw(
            unique_by_id(
                st.builds(
                    Category,
                    id=ids,
                    description=maybe_words,
                    sensitive=st.none() | st.booleans(),
                    business_contact=st.none() | st.booleans(),
                    aggregate_only=st.booleans(),
                )
            )
        ),
        subjects=draw(unique_by_id(st.builds(SubjectKind, id=ids, description=maybe_words))),
        purposes=draw(unique_by_id(purposes, max_size=4, min_size=1)),
        collection_points=draw(unique_by_id(points)),
        recipients=draw(unique_by_id(recipients)),
        locations=Locations(
            allowed=allowed,
            default=draw(st.none() | st.sampled_from(allowed)),
            transfers=draw(
                st.lists(
                    st.builds(Transfer, to=st.sampled_from(PLACES), safeguard=words), max_size=2
                )
            ),
        ),
        minors=draw(
            st.builds(
                Minors,
                minimum_age=st.integers(14, 25),  # at or over every floor (AGE_FLOORS)
                by_jurisdiction=st.dictionaries(
                    st.sampled_from(Regime), st.integers(14, 25), max_size=2
                ),
            )
        ),
        roles=draw(
            unique_by_id(
                st.builds(
                    Role,
                    id=ids,
                    categories=st.lists(st.sampled_from(BUILTIN), max_size=3),
                    purposes=st.lists(ids, max_size=2),
                    powers=st.lists(st.sampled_from(list(Power)), unique=True, max_size=3),
                )
            )
        ),
        notices=draw(
            st.builds(
                Notices,
                notice_period_days=st.integers(0, 3650),
                new_purpose_needs_consent=st.booleans(),
                email_customers=st.booleans(),
                post_on_website=st.booleans(),
            )
        ),
        lists=draw(
            unique_by_id(
                st.builds(
                    MailingList,
                    id=ids,
                    purpose=ids,
                    marketing=st.booleans(),
                    description=maybe_words,
                )
            )
        ),
        cookies=draw(
            st.lists(
                st.builds(
                    Cookie,
                    category=st.sampled_from(CookieCategory),
                    purpose=st.none() | ids,
                    names=st.lists(ids, max_size=2),
                ),
                max_size=2,
            )
        ),
        support_access=draw(
            st.builds(
                SupportAccess,
                requires_customer_grant=st.booleans(),
                max_days=st.integers(1, 365),
                emergency_access=st.booleans(),
            )
        ),
        aggregates=Aggregates(min_group_size=draw(st.integers(2, 1000))),
        business_contact_exempt_from=draw(
            st.lists(st.sampled_from(["consent", "requests", "retention"]), max_size=2, unique=True)
        ),
        multi_tenant=draw(st.booleans()),
    )
