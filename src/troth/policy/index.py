"""A policy compiled into sets and dicts, so the gate answers every question in O(1)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from troth.policy.model import (
    AGE_FLOORS,
    CollectedField,
    CollectionPoint,
    LegalBasis,
    Policy,
    Purpose,
    Recipient,
    RecipientKind,
    Regime,
    Role,
)
from troth.policy.taxonomy import BUILTIN_BY_ID


def _holds_email(spec: CollectedField) -> bool:
    return spec.identifies == "email" or spec.type.value == "email"


# The categories that record individual transactions where a policy marks none
# `transactions: true` (the names troth always read so, P19).
DEFAULT_TRANSACTIONS = frozenset(
    {"purchases", "billing", "payment_card", "financial", "call_records", "destination_numbers"}
)


def transaction_categories(policy: Policy) -> frozenset[str]:
    """The policy's categories that record individual transactions: those it marks
    ``transactions: true``; where it marks none, those of :data:`DEFAULT_TRANSACTIONS` it
    uses."""
    marked = {c.id for c in policy.categories if c.transactions}
    if marked:
        return frozenset(marked)
    used = {c for p in policy.purposes for c in p.categories} | {c.id for c in policy.categories}
    return DEFAULT_TRANSACTIONS & used


@dataclass(frozen=True, slots=True)
class CategoryInfo:
    id: str
    description: str
    sensitive: bool
    business_contact: bool
    aggregate_only: bool
    withheld_from_access: str | None = None  # why the person is not given it (Art. 15(4))


@dataclass(frozen=True, slots=True)
class RecipientGrant:
    """What one recipient may receive for one purpose."""

    categories: frozenset[str]
    fields: frozenset[str]  # empty: every field of those categories


@dataclass(slots=True)
class PolicyIndex:
    """Answers "may purpose X use category Y", "which fields may point Z take" in O(1)."""

    policy: Policy
    digest: str
    categories: dict[str, CategoryInfo] = field(default_factory=dict)
    purposes: dict[str, Purpose] = field(default_factory=dict)
    purpose_categories: dict[str, frozenset[str]] = field(default_factory=dict)
    consent_purposes: frozenset[str] = frozenset()
    aggregate_purposes: frozenset[str] = frozenset()
    # Records of individual transactions (P19): never to a recipient whose
    # ``individual_transactions`` is false.
    transaction_categories: frozenset[str] = frozenset()
    # The vendor's own purposes (``vendor_only: true``): no customer-side actor acts for
    # them; and the categories only they reach (a tenant export leaves those out).
    vendor_purposes: frozenset[str] = frozenset()
    vendor_categories: frozenset[str] = frozenset()
    # Purposes whose consent only the person (or the vendor's side) may record, never a
    # customer's side (:func:`person_consent`), each with the vendor's own categories a
    # consent to it shows (empty: ``consent_by: person`` said so for another reason).
    person_consent: dict[str, frozenset[str]] = field(default_factory=dict)
    # Purpose -> the categories its legal minimum keeps past erasure (only those with one).
    legally_kept: dict[str, frozenset[str]] = field(default_factory=dict)
    points: dict[str, CollectionPoint] = field(default_factory=dict)
    point_fields: dict[str, dict[str, CollectedField]] = field(default_factory=dict)
    point_purposes: dict[str, frozenset[str]] = field(default_factory=dict)
    roles: dict[str, Role] = field(default_factory=dict)  # the vendor's staff roles
    # The roles of a customer's members (``for: tenant_members``), given by their admins.
    member_roles: dict[str, Role] = field(default_factory=dict)
    # Of every role, staff's and members' alike (the ids are unique across both).
    role_categories: dict[str, frozenset[str]] = field(default_factory=dict)
    role_purposes: dict[str, frozenset[str]] = field(default_factory=dict)
    recipients: dict[str, Recipient] = field(default_factory=dict)
    recipient_grants: dict[tuple[str, str], RecipientGrant] = field(default_factory=dict)
    # Legal-obligation purposes whose data the policy sends to an authority (a police
    # force, a court): the vendor's privacy office acts on them, under a legal demand; a
    # customer's member only with a role (``for: tenant_members``) that lists them.
    authority_purposes: frozenset[str] = frozenset()
    allowed_locations: frozenset[str] = frozenset()
    transfer_locations: dict[str, str] = field(default_factory=dict)
    exempt: frozenset[str] = frozenset()
    lists: dict[str, str] = field(default_factory=dict)
    # The version published to take effect after this one, and when (UTC), while it waits
    # (troth.policy.schedule): what it allows and this one does not waits for it.
    coming: PolicyIndex | None = None
    coming_at: datetime | None = None

    @classmethod
    def build(cls, policy: Policy, source_text: str | None = None) -> PolicyIndex:
        """Compile a validated policy. ``source_text`` (the YAML) makes the digest exact."""
        raw = source_text if source_text is not None else policy.model_dump_json()
        idx = cls(policy=policy, digest=hashlib.sha256(raw.encode()).hexdigest())
        declared = {c.id: c for c in policy.categories}
        used: set[str] = set(declared)
        for p in policy.purposes:
            used.update(p.categories)
        for cp in policy.collection_points:
            used.update(f.category for f in cp.fields.values())
        for cid in used:
            builtin = BUILTIN_BY_ID.get(cid)
            decl = declared.get(cid)

            def pick(attr: str, default: bool, decl: object = decl) -> bool:
                value = getattr(decl, attr, None) if decl is not None else None
                return bool(value) if value is not None else default

            idx.categories[cid] = CategoryInfo(
                id=cid,
                description=(decl.description if decl and decl.description else None)
                or (builtin.description if builtin else cid),
                sensitive=pick("sensitive", builtin.sensitive if builtin else False),
                business_contact=pick(
                    "business_contact", builtin.business_contact if builtin else False
                ),
                aggregate_only=bool(decl.aggregate_only) if decl else False,
                withheld_from_access=decl.withheld_from_access if decl else None,
            )
        for p in policy.purposes:
            idx.purposes[p.id] = p
            idx.purpose_categories[p.id] = frozenset(p.categories)
        idx.consent_purposes = frozenset(
            p.id for p in policy.purposes if p.legal_basis is LegalBasis.consent
        )
        idx.aggregate_purposes = frozenset(p.id for p in policy.purposes if p.aggregate_only)
        idx.transaction_categories = transaction_categories(policy)
        idx.vendor_purposes = frozenset(p.id for p in policy.purposes if p.vendor_only)
        customers = {c for p in policy.purposes if not p.vendor_only for c in p.categories}
        idx.vendor_categories = frozenset(
            c for p in policy.purposes if p.vendor_only for c in p.categories
        ) - frozenset(customers)
        idx.person_consent = person_consent(policy)
        idx.legally_kept = {
            p.id: frozenset(p.retention.legal_minimum.categories)
            for p in policy.purposes
            if p.retention is not None and p.retention.legal_minimum is not None
        }
        for cp in policy.collection_points:
            idx.points[cp.id] = cp
            idx.point_fields[cp.id] = dict(cp.fields)
            idx.point_purposes[cp.id] = frozenset(cp.purposes)
        for r in policy.roles:
            (idx.member_roles if r.for_members else idx.roles)[r.id] = r
            idx.role_categories[r.id] = frozenset(r.categories)
            idx.role_purposes[r.id] = frozenset(r.purposes)
        for rc in policy.recipients:
            idx.recipients[rc.id] = rc
            for d in rc.receives:
                key = (rc.id, d.purpose)
                prev = idx.recipient_grants.get(key)
                cats = frozenset(d.categories) | (prev.categories if prev else frozenset())
                flds = frozenset(d.fields) | (prev.fields if prev else frozenset())
                idx.recipient_grants[key] = RecipientGrant(cats, flds)
        idx.authority_purposes = frozenset(
            d.purpose
            for rc in policy.recipients
            if rc.kind is RecipientKind.authority
            for d in rc.receives
            if d.purpose in idx.purposes
            and idx.purposes[d.purpose].legal_basis is LegalBasis.legal_obligation
        )
        idx.allowed_locations = frozenset(policy.locations.allowed)
        idx.transfer_locations = {t.to: t.safeguard for t in policy.locations.transfers}
        idx.exempt = frozenset(policy.business_contact_exempt_from)
        idx.lists = {lst.id: lst.purpose for lst in policy.lists}
        return idx

    # -- questions -------------------------------------------------------------------
    def any_role(self, role: str | None) -> Role | None:
        """The role ``role`` names, a staff or a member role; None when none does."""
        if role is None:
            return None
        return self.roles.get(role) or self.member_roles.get(role)

    def purpose_allows(self, purpose: str, category: str) -> bool:
        cats = self.purpose_categories.get(purpose)
        return cats is not None and category in cats

    def is_sensitive(self, category: str) -> bool:
        info = self.categories.get(category)
        return info is not None and info.sensitive

    def is_business_contact(self, category: str) -> bool:
        info = self.categories.get(category)
        return info is not None and info.business_contact

    def exempt_from(self, category: str, obligation: str) -> bool:
        """P05: business contact information exempt from ``obligation`` by the policy."""
        return obligation in self.exempt and self.is_business_contact(category)

    def minimum_age(self, regime: Regime | str | None) -> int:
        """The policy's minimum age for ``regime``, and never under the law's floor there
        (``policy validate`` refuses a lower one for the organisation's jurisdictions; a
        collection under another regime still gets the floor)."""
        minors = self.policy.minors
        age = minors.minimum_age
        if regime is not None:
            age = minors.by_jurisdiction.get(Regime(regime), age)
            age = max(age, AGE_FLOORS.get(Regime(regime), 0))
        return age

    @property
    def default_location(self) -> str:
        loc = self.policy.locations
        return loc.default or loc.allowed[0]

    @property
    def default_jurisdiction(self) -> Regime:
        org = self.policy.organisation
        return org.default_jurisdiction or org.jurisdictions[0]

    def regime_of(self, jurisdiction: str | None) -> Regime:
        """The regime a stored jurisdiction names; the default one where it names none
        troth knows (or is empty)."""
        try:
            return Regime(jurisdiction or "")
        except ValueError:
            return self.default_jurisdiction

    def email_fields(self) -> set[str]:
        """The names of the fields, at any collection point, that hold an e-mail address."""
        return {
            name
            for per in self.point_fields.values()
            for name, spec in per.items()
            if _holds_email(spec)
        }

    def email_in(self, point: str | None, field: str, value: Any) -> str | None:
        """``value`` when it is an e-mail address: a field ``point`` marks as one (it
        identifies the person by e-mail, or its type is email) holding text with an @."""
        spec = self.point_fields.get(point or "", {}).get(field)
        if spec is not None and _holds_email(spec) and isinstance(value, str) and "@" in value:
            return value
        return None

    def declaring(self, purpose: str) -> PolicyIndex:
        """This version, or the first version waiting for its effective date that declares
        ``purpose`` (consent to it may be given ahead); this one when none does."""
        index: PolicyIndex | None = self
        while index is not None:
            if purpose in index.purposes:
                return index
            index = index.coming
        return self

    def coming_with(self, allows: Callable[[PolicyIndex], bool]) -> datetime | None:
        """When the first version waiting for its effective date that ``allows`` takes
        effect (None: none does)."""
        index = self
        while index.coming is not None:
            if allows(index.coming):
                return index.coming_at
            index = index.coming
        return None

    @property
    def version(self) -> str:
        return self.policy.version


def vendor_shared(policy: Policy) -> dict[str, frozenset[str]]:
    """Each consent purpose (``legal_basis: consent``) not ``vendor_only`` -> the vendor's
    own data a consent to it would show a customer: the categories it reads that a
    ``vendor_only`` purpose uses and that no purpose a customer acts for without consent
    reads (the customer reads those anyway: its account, contract or legitimate-interest
    purposes); and, value by value, each category a collection point serving both it and a
    ``vendor_only`` purpose collects for both (bound to the vendor's purpose, such a value
    serves the consent purpose once consent is recorded: troth.gate.binding). Only
    purposes that share some are listed."""
    own = {c for p in policy.purposes if p.vendor_only for c in p.categories}
    anyway = {
        c
        for p in policy.purposes
        if not p.vendor_only
        and not p.aggregate_only
        and p.legal_basis not in (LegalBasis.consent, LegalBasis.legal_obligation)
        for c in p.categories
    }
    cats = {p.id: frozenset(p.categories) for p in policy.purposes}
    vendor = {p.id for p in policy.purposes if p.vendor_only}
    out: dict[str, frozenset[str]] = {}
    for p in policy.purposes:
        if p.vendor_only or p.legal_basis is not LegalBasis.consent:
            continue
        shared = set(cats[p.id] & own) - anyway
        for cp in policy.collection_points:
            if p.id not in cp.purposes:
                continue
            held = {f.category for f in cp.fields.values()} & cats[p.id]
            for v in set(cp.purposes) & vendor:
                shared |= held & cats[v]
        if shared:
            out[p.id] = frozenset(shared)
    return out


def person_consent(policy: Policy) -> dict[str, frozenset[str]]:
    """The purposes whose grant a customer's side (its admins, members, keys) may never
    record, only the person themself or the vendor's side: those saying ``consent_by:
    person``, and by default each consent purpose that shows a customer the vendor's own
    data (:func:`vendor_shared`): a customer recording that consent would give itself the
    vendor's data (self-authorisation). ``consent_by: customer``
    does not lift that (``policy validate`` refuses it on such a purpose). Purpose -> the
    shared categories."""
    shared = vendor_shared(policy)
    return {
        p.id: shared.get(p.id, frozenset())
        for p in policy.purposes
        if not p.vendor_only and (p.consent_by == "person" or p.id in shared)
    }
