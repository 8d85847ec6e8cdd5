"""The gate: one pure function decides every operation on personal data.

``decide(index, ask, facts)`` takes the compiled policy, the question (who wants to do
what with which categories of whose data, for what purpose, when) and the facts troth
knows (consent, restrictions, memberships, grants, notices) and returns a
:class:`Decision`: allowed, refused with a :class:`Reason`, or allowed with some
categories masked. It reads no database and no clock, so it is fast and exhaustively
testable; the engine gathers facts, asks, applies the answer and audits it.

``bind_record`` is the same reasoning one level down: may this stored value (collected at
a point, for purposes, under a version) serve this purpose now?
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from troth.policy.index import PolicyIndex
from troth.policy.model import LegalBasis, Power


class Reason(StrEnum):
    """Why the gate refused or masked. Stored in the audit log: never rename a value."""

    unknown_collection_point = "unknown_collection_point"
    field_not_declared = "field_not_declared"
    purpose_not_declared = "purpose_not_declared"
    purpose_not_declared_for_category = "purpose_not_declared_for_category"
    purpose_not_of_collection = "purpose_not_of_collection"
    role_not_allowed = "role_not_allowed"
    scope_missing = "scope_missing"
    not_a_member = "not_a_member"
    no_grant = "no_grant"
    grant_expired = "grant_expired"
    minor = "minor"
    location_not_allowed = "location_not_allowed"
    no_consent = "no_consent"
    restricted = "restricted"
    notice_period_running = "notice_period_running"
    aggregate_only = "aggregate_only"
    recipient_not_listed = "recipient_not_listed"
    recipient_category_not_allowed = "recipient_category_not_allowed"
    kept_for_legal_obligation = "kept_for_legal_obligation"
    subject_erased = "subject_erased"
    not_the_owner = "not_the_owner"  # an export made for another person
    power_not_granted = "power_not_granted"
    tenant_bound = "tenant_bound"
    # Refusals of who is asking, decided outside the gate (the access service, sign-in):
    # audited with the same values as before they were members here.
    not_found = "not_found"  # a use of an unknown person
    key_required = "key_required"
    malformed_key = "malformed_key"
    unknown_key = "unknown_key"
    revoked_key = "revoked_key"
    unknown_session = "unknown_session"
    session_ended = "session_ended"
    session_expired = "session_expired"
    session_idle = "session_idle"
    disabled = "disabled"
    unknown_account = "unknown_account"
    locked_out = "locked_out"
    wrong_password = "wrong_password"  # noqa: S105 (a reason code, not a password)
    second_factor_missing = "second_factor_missing"
    second_factor_wrong = "second_factor_wrong"
    too_many_codes = "too_many_codes"
    wrong_code = "wrong_code"
    not_vendor_admin = "not_vendor_admin"
    not_tenant_admin = "not_tenant_admin"
    grant_too_long = "grant_too_long"
    grant_not_pending = "grant_not_pending"
    no_emergency_access = "no_emergency_access"
    unknown_invitation = "unknown_invitation"
    invitation_accepted = "invitation_accepted"
    invitation_revoked = "invitation_revoked"
    invitation_expired = "invitation_expired"


class Operation(StrEnum):
    collect = "collect"
    use = "use"
    disclose = "disclose"
    aggregate = "aggregate"
    export = "export"
    correct = "correct"
    erase = "erase"


class ActorKind(StrEnum):
    """Who is asking. ``system`` is troth itself (retention, requests it executes)."""

    staff = "staff"
    application = "application"
    tenant_admin = "tenant_admin"
    tenant_member = "tenant_member"
    vendor_admin = "vendor_admin"
    subject = "subject"
    system = "system"


@dataclass(frozen=True, slots=True)
class Actor:
    kind: ActorKind
    id: str
    role: str | None = None
    tenant_id: str | None = None
    scopes: frozenset[str] = frozenset()

    @property
    def label(self) -> str:
        return f"{self.kind.value}:{self.id}"


SYSTEM = Actor(ActorKind.system, "troth")


@dataclass(frozen=True, slots=True)
class Grant:
    """A customer-approved support-access grant (P14)."""

    id: str
    tenant_id: str
    categories: frozenset[str]  # empty: every category
    subject_ids: frozenset[str]  # empty: every subject of the tenant
    starts_at: datetime
    expires_at: datetime
    revoked: bool = False


@dataclass(frozen=True, slots=True)
class Facts:
    """What troth knows that bears on the decision, gathered by the engine."""

    subject_id: str | None = None
    subject_tenant: str | None = None
    subject_self: bool = False  # the actor is the person the data is about
    consented: frozenset[str] = frozenset()  # purposes with an active consent
    restricted: frozenset[str] = frozenset()  # purposes the person limited (P26)
    # New uses started by a published change: (point, purpose, category) -> (when the
    # notice was posted, whether fresh consent is needed, the version) (P07, P08).
    notices: Mapping[tuple[str, str, str], tuple[datetime, bool, str]] = field(default_factory=dict)
    member_active: bool = False  # actor is an active member of the subject's tenant
    grants: tuple[Grant, ...] = ()
    erased: bool = False


@dataclass(frozen=True, slots=True)
class Ask:
    actor: Actor
    operation: Operation
    purpose: str
    categories: tuple[str, ...]
    now: datetime
    recipient: str | None = None
    location: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: Reason | None = None
    categories: frozenset[str] = frozenset()  # categories that may be revealed
    masked: Mapping[str, Reason] = field(default_factory=dict)  # category -> why hidden
    detail: str = ""
    grant_id: str | None = None

    @classmethod
    def deny(cls, reason: Reason, detail: str) -> Decision:
        return cls(False, reason, frozenset(), {}, detail)


def _scope_allows(actor: Actor, operation: Operation, purpose: str, category: str) -> bool:
    s = actor.scopes
    return (
        "admin" in s
        or operation.value in s
        or f"{operation.value}:{purpose}" in s
        or f"{operation.value}:{category}" in s
    )


def decide(index: PolicyIndex, ask: Ask, facts: Facts) -> Decision:
    """Decide one operation. Never allows a purpose the policy does not declare for a
    category; masked categories are never in ``Decision.categories``."""
    purpose = index.purposes.get(ask.purpose)
    if purpose is None:
        return Decision.deny(
            Reason.purpose_not_declared,
            f"the policy declares no purpose {ask.purpose!r}",
        )
    # After erasure or closure (P25, P28) only what a legal minimum keeps may still serve
    # its legal purpose; everything else about the person is refused.
    # (Refused after the actor check below, so no stranger learns that someone was erased.)
    kept = _kept_after_erasure(index, ask) if facts.erased else None
    # Location (P22): storing or sending outside the allowed places.
    if (
        ask.location is not None
        and ask.location not in index.allowed_locations
        and ask.location not in index.transfer_locations
    ):
        return Decision.deny(
            Reason.location_not_allowed,
            f"{ask.location} is not an allowed data location"
            f" (allowed: {', '.join(sorted(index.allowed_locations))})",
        )
    # Aggregate-only purposes (P09) never reveal rows.
    if ask.purpose in index.aggregate_purposes and ask.operation in (
        Operation.use,
        Operation.disclose,
        Operation.export,
    ):
        return Decision.deny(
            Reason.aggregate_only,
            f"purpose {ask.purpose!r} may only use aggregates over groups of at least"
            f" {index.policy.aggregates.min_group_size} people",
        )
    if ask.purpose in facts.restricted and ask.operation is not Operation.erase:
        return Decision.deny(
            Reason.restricted, f"the person limited the use of their data for {ask.purpose!r}"
        )
    cats = ask.categories
    allowed_for_purpose = index.purpose_categories[ask.purpose]
    masked: dict[str, Reason] = {}
    # Consent (P07): a consent purpose needs an active grant, unless business contact
    # information is exempt from consent by the policy (P05).
    # What a legal minimum keeps rests on the legal obligation, not on the ended consent.
    needs_consent = (
        ask.purpose in index.consent_purposes
        and ask.purpose not in facts.consented
        and kept is None
    )
    grant_used: str | None = None
    actor_reason = _actor_check(index, ask, facts)
    if isinstance(actor_reason, Decision):
        return actor_reason
    if kept is not None and not kept:
        return Decision.deny(
            Reason.subject_erased,
            f"this person's data was erased: nothing of it may be used for {ask.purpose!r}"
            " (only what the law keeps, for its legal purpose)",
        )
    for cat in cats:
        if kept is not None and cat not in kept:
            masked[cat] = Reason.subject_erased
        elif cat not in allowed_for_purpose:
            masked[cat] = Reason.purpose_not_declared_for_category
        elif needs_consent and not index.exempt_from(cat, "consent"):
            masked[cat] = Reason.no_consent
        elif not _actor_category_ok(index, ask, cat):
            masked[cat] = (
                Reason.role_not_allowed
                if ask.actor.kind is ActorKind.staff
                else Reason.scope_missing
            )
        elif _needs_grant(index, ask, facts) or _customer_category(index, ask, cat):
            g = _grant_for(facts, cat, ask.now)
            if g is None:
                masked[cat] = _no_grant_reason(facts, ask.now)
            else:
                grant_used = g.id
        if cat in masked:
            continue
        if ask.operation is Operation.disclose:
            r = _recipient_check(index, ask, cat)
            if r is not None:
                masked[cat] = r
    visible = frozenset(c for c in cats if c not in masked)
    if not visible:
        # Every category hidden: refuse, with the most telling reason.
        first = next(iter(masked.values()), Reason.purpose_not_declared_for_category)
        return Decision(
            False,
            first,
            frozenset(),
            masked,
            _explain(first, ask),
        )
    return Decision(True, None, visible, masked, "", grant_used)


def _kept_after_erasure(index: PolicyIndex, ask: Ask) -> frozenset[str]:
    """The categories an erased person's data may still be used in for ``ask``: those the
    purpose's legal minimum keeps, and only to use or disclose them for that purpose (a
    tax inspection); never to export, correct, collect or aggregate."""
    if ask.operation not in (Operation.use, Operation.disclose):
        return frozenset()
    retention = index.purposes[ask.purpose].retention
    if retention is None or retention.legal_minimum is None:
        return frozenset()
    return frozenset(retention.legal_minimum.categories)


def _actor_check(index: PolicyIndex, ask: Ask, facts: Facts) -> Decision | None:
    actor = ask.actor
    kind = actor.kind
    if kind is ActorKind.system:
        return None
    if kind is ActorKind.application:
        # A key issued to one customer reaches only that customer's data.
        if actor.tenant_id is not None and facts.subject_tenant != actor.tenant_id:
            return Decision.deny(Reason.not_a_member, "this API key belongs to another customer")
        return None
    if kind is ActorKind.subject:
        if not facts.subject_self:
            return Decision.deny(Reason.not_a_member, "a person may only see their own data")
        return None
    if kind in (ActorKind.tenant_admin, ActorKind.tenant_member):
        if facts.subject_tenant is None or facts.subject_tenant != actor.tenant_id:
            return Decision.deny(
                Reason.not_a_member, "this person's data belongs to another customer"
            )
        if not facts.member_active:
            return Decision.deny(Reason.not_a_member, "your membership was revoked")
        return None
    if kind is ActorKind.staff:
        if actor.role is None or actor.role not in index.roles:
            return Decision.deny(
                Reason.role_not_allowed, f"staff role {actor.role!r} is not in the policy"
            )
        if ask.purpose not in index.role_purposes[actor.role]:
            return Decision.deny(
                Reason.role_not_allowed,
                f"role {actor.role!r} may not act for purpose {ask.purpose!r}",
            )
        if _needs_grant(index, ask, facts) and not facts.grants:
            return Decision.deny(
                Reason.no_grant,
                "the vendor's staff see a customer's data only with the customer's grant",
            )
        return None
    if kind is ActorKind.vendor_admin:
        if not facts.grants:
            return Decision.deny(
                Reason.no_grant,
                "the vendor's staff see a customer's data only with the customer's grant",
            )
        return None
    return None  # pragma: no cover - every kind handled above


def office_scope(power: Power) -> str:
    """The API-key scope that grants ``power`` alone (``admin`` grants every power)."""
    return f"office:{power.value}"


# Scopes older than ``office:<power>`` that grant one power (on an unbound key only).
_POWER_SCOPES = {Power.manage_requests: "requests:admin"}


def _key_has_power(actor: Actor, power: Power) -> bool:
    s = actor.scopes
    return "admin" in s or office_scope(power) in s or _POWER_SCOPES.get(power, "admin") in s


def decide_power(index: PolicyIndex, actor: Actor, power: Power) -> Decision:
    """May ``actor`` exercise the vendor office's ``power``? Staff by their role's
    declared ``powers``; an application key by the scope ``admin`` or
    ``office:<power>``, and only when it is bound to no tenant; troth itself (the CLI,
    the worker) always. A credential bound to a tenant (a member, a tenant admin, a
    tenant-bound key whatever its scopes) is never the vendor office; nor is a person or
    a vendor admin. Reading personal data is never decided here: that is
    :func:`decide`, with the role's categories and purposes."""
    kind = actor.kind
    if kind is ActorKind.system:
        return Decision(True)
    if actor.tenant_id is not None or kind in (ActorKind.tenant_admin, ActorKind.tenant_member):
        return Decision.deny(
            Reason.tenant_bound,
            f"{power.value} is the vendor's privacy office's; a credential bound to a"
            " customer acts only for that customer",
        )
    if kind is ActorKind.application:
        if _key_has_power(actor, power):
            return Decision(True)
        return Decision.deny(
            Reason.scope_missing,
            f"this API key lacks the scope for {power.value}: admin or {office_scope(power)}",
        )
    if kind is ActorKind.staff:
        role = index.roles.get(actor.role or "")
        if role is None:
            return Decision.deny(
                Reason.role_not_allowed, f"staff role {actor.role!r} is not in the policy"
            )
        if power in role.powers:
            return Decision(True)
        return Decision.deny(
            Reason.power_not_granted,
            f"the policy does not give role {role.id!r} the power {power.value}"
            f" (its powers: {', '.join(role.powers) or 'none'})",
        )
    return Decision.deny(
        Reason.power_not_granted,
        f"{power.value} belongs to the staff roles the policy gives it to",
    )


def _actor_category_ok(index: PolicyIndex, ask: Ask, cat: str) -> bool:
    actor = ask.actor
    if actor.kind is ActorKind.staff and actor.role is not None:
        return cat in index.role_categories[actor.role]
    if actor.kind is ActorKind.application:
        return _scope_allows(actor, ask.operation, ask.purpose, cat)
    return True


def _needs_grant(index: PolicyIndex, ask: Ask, facts: Facts) -> bool:
    """The vendor's people need the customer's grant for a customer's detailed data (P14):
    vendor admins always; staff too where the policy requires grants and the person is a
    customer's (:func:`staff_need_grant`), except for what the law obliges the vendor to do."""
    kind = ask.actor.kind
    if kind is ActorKind.vendor_admin:
        return True
    if kind is not ActorKind.staff or not staff_need_grant(index, facts.subject_tenant):
        return False
    return index.purposes[ask.purpose].legal_basis is not LegalBasis.legal_obligation


def _customer_category(index: PolicyIndex, ask: Ask, cat: str) -> bool:
    """A category the policy declares a customer's own data (``support_access.
    customer_categories``): the vendor's staff see it only under a grant of the customer
    it belongs to, even on a person filed under no tenant (no grant can cover them), except
    for what the law obliges the vendor to do."""
    sa = index.policy.support_access
    return (
        ask.actor.kind is ActorKind.staff
        and sa.requires_customer_grant
        and cat in sa.customer_categories
        and index.purposes[ask.purpose].legal_basis is not LegalBasis.legal_obligation
    )


def staff_need_grant(index: PolicyIndex, subject_tenant: str | None) -> bool:
    """Does the vendor's staff need a customer grant for this person's data? Whenever the
    policy requires grants and the person belongs to a customer (a tenant), whatever
    ``multi_tenant`` says: a customer's people are the customer's, in a multi-tenant
    service or not (ilign: a customer's database). People of no tenant are the vendor's own."""
    return subject_tenant is not None and index.policy.support_access.requires_customer_grant


def _no_grant_reason(facts: Facts, now: datetime) -> Reason:
    """``grant_expired`` only when every grant has ended; a live grant that does not
    cover the category is ``no_grant``."""
    live = any(
        not g.revoked and g.starts_at <= now < g.expires_at and g.tenant_id == facts.subject_tenant
        for g in facts.grants
    )
    return Reason.no_grant if live or not facts.grants else Reason.grant_expired


def _grant_for(facts: Facts, cat: str, now: datetime) -> Grant | None:
    for g in facts.grants:
        if g.revoked or not (g.starts_at <= now < g.expires_at):
            continue
        if g.tenant_id != facts.subject_tenant:
            continue
        if g.categories and cat not in g.categories:
            continue
        if g.subject_ids and facts.subject_id not in g.subject_ids:
            continue
        return g
    return None


# Categories that record individual transactions (P19: "no third party gets individual
# transaction data" unless the policy's recipient says individual_transactions: true).
TRANSACTION_CATEGORIES = frozenset(
    {"purchases", "billing", "payment_card", "financial", "call_records", "destination_numbers"}
)


def _recipient_check(index: PolicyIndex, ask: Ask, cat: str) -> Reason | None:
    """P18: only a recipient the policy lists for this purpose and category; P19: no
    individual transactions to a recipient that may not see them."""
    if ask.recipient is None or ask.recipient not in index.recipients:
        return Reason.recipient_not_listed
    grant = index.recipient_grants.get((ask.recipient, ask.purpose))
    if grant is None:
        return Reason.recipient_not_listed
    if cat not in grant.categories:
        return Reason.recipient_category_not_allowed
    if (
        cat in TRANSACTION_CATEGORIES
        and not index.recipients[ask.recipient].individual_transactions
    ):
        return Reason.recipient_category_not_allowed
    return None


_EXPLAIN = {
    Reason.purpose_not_declared_for_category: "the policy does not allow purpose {p} to use {c}",
    Reason.no_consent: "purpose {p} needs the person's consent, and there is none",
    Reason.notice_period_running: "purpose {p} is a new use: its notice period is still running",
    Reason.role_not_allowed: "this role may not see {c}",
    Reason.scope_missing: "the API key's scopes do not cover {c} for {p}",
    Reason.no_grant: "no support-access grant covers {c}",
    Reason.grant_expired: "the support-access grant expired or does not cover {c}",
    Reason.recipient_not_listed: "the policy does not list this recipient for purpose {p}",
    Reason.recipient_category_not_allowed: "the recipient may not receive {c}",
    Reason.subject_erased: "this person's data was erased: {c} is not kept for {p}",
}


def _explain(reason: Reason, ask: Ask) -> str:
    text = _EXPLAIN.get(reason, reason.value.replace("_", " "))
    return text.format(p=repr(ask.purpose), c=", ".join(ask.categories))


def bind_record(
    index: PolicyIndex,
    purpose: str,
    *,
    category: str,
    point: str | None,
    record_purposes: tuple[str, ...] | list[str],
    source_third_party: bool,
    collected_at: datetime,
    collected_under: str,
    now: datetime,
    notices: Mapping[tuple[str, str, str], tuple[datetime, bool, str]],
    consented: frozenset[str] = frozenset(),
) -> Reason | None:
    """May a stored value serve ``purpose``? Data is bound to the purposes of the point it
    came through (P02); third-party data only to the purpose it was supplied for (P03).
    A purpose a later policy version added to the point is a new use: it waits for the
    notice period from publication (P08) and, where the policy says so, for fresh
    consent (P07)."""
    if purpose in record_purposes:
        return None
    if source_third_party:
        return Reason.purpose_not_of_collection
    if (
        point is None
        or purpose not in index.point_purposes.get(point, frozenset())
        or not index.purpose_allows(purpose, category)
    ):
        return Reason.purpose_not_of_collection
    notice = notices.get((point, purpose, category))
    if notice is None or collected_under == notice[2] or collected_at > notice[0]:
        # Not a new use for this value (collected under or after the change that
        # introduced it): the gate already checked consent for it.
        return None
    posted, needs_consent, _version = notice
    if now < posted + timedelta(days=index.policy.notices.notice_period_days):
        return Reason.notice_period_running
    if needs_consent and purpose not in consented:
        return Reason.no_consent
    return None


class StoredValueLike(Protocol):
    """What the gate needs to know of a stored value (``troth.store.values.StoredValue``)."""

    @property
    def category(self) -> str: ...
    @property
    def collection_point(self) -> str | None: ...
    @property
    def purposes(self) -> tuple[str, ...]: ...
    @property
    def source(self) -> str: ...
    @property
    def collected_at(self) -> datetime: ...
    @property
    def policy_version(self) -> str: ...
    @property
    def restricted_to(self) -> str | None: ...


def value_reason(
    index: PolicyIndex, value: StoredValueLike, purpose: str, now: datetime, facts: Facts
) -> Reason | None:
    """Why a stored value may not serve ``purpose`` now, or None: kept only for a legal
    obligation (P25), or not bound to the purpose (:func:`bind_record`). Every read of
    stored values (use, disclosure, export) asks this same question."""
    if value.restricted_to is not None and value.restricted_to != purpose:
        return Reason.kept_for_legal_obligation
    return bind_record(
        index,
        purpose,
        category=value.category,
        point=value.collection_point,
        record_purposes=value.purposes,
        source_third_party=value.source == "third_party",
        collected_at=value.collected_at,
        collected_under=value.policy_version,
        now=now,
        notices=facts.notices,
        consented=facts.consented,
    )


class Record(StrEnum):
    """Records *about* a person, beside their values: who may read or change them is
    decided by :func:`decide_record`. Stored in the audit log: never rename a value."""

    lookup = "lookup"  # that a person is known: their id, found by an identifier
    consents = "consents"
    disclosures = "disclosures"
    requests = "requests"
    holds = "holds"
    audit = "audit"


# The powers that reach each kind of record for staff of the vendor's office.
RECORD_POWERS: Mapping[Record, frozenset[str]] = {
    Record.lookup: frozenset({"manage_requests", "legal_demands", "manage_holds"}),
    Record.consents: frozenset({"manage_requests"}),
    Record.disclosures: frozenset({"manage_requests", "legal_demands"}),
    Record.requests: frozenset({"manage_requests"}),
    Record.holds: frozenset({"manage_holds"}),
    Record.audit: frozenset({"read_audit"}),
}

# The API-key scopes that reach each kind of record (``admin`` reaches all of them), for
# reading and for changing it.
RECORD_SCOPES: Mapping[tuple[Record, bool], frozenset[str]] = {
    (Record.lookup, False): frozenset({"use"}),
    (Record.lookup, True): frozenset(),
    (Record.consents, False): frozenset({"use", "collect"}),
    (Record.consents, True): frozenset({"collect"}),
    (Record.disclosures, False): frozenset({"disclose", "use"}),
    (Record.disclosures, True): frozenset({"disclose"}),
    (Record.requests, False): frozenset({"requests:admin"}),
    (Record.requests, True): frozenset({"requests:admin"}),
    (Record.holds, False): frozenset(),
    (Record.holds, True): frozenset(),
    (Record.audit, False): frozenset(),
    (Record.audit, True): frozenset(),
}


def decide_record(
    index: PolicyIndex,
    actor: Actor,
    record: Record,
    facts: Facts,
    now: datetime,
    *,
    write: bool = False,
    categories: frozenset[str] = frozenset(),
) -> Decision:
    """May ``actor`` read (or, with ``write``, change) a record about the person of
    ``facts``? The same rules as a use, for records that are not values: the person only
    themself; a tenant's members and tenant-bound keys only their tenant's people; keys
    only with a scope for the record; the vendor's admins only under a live grant; the
    vendor's staff under a live grant wherever the policy requires grants for this person
    (:func:`staff_need_grant`), the privacy office excepted (it answers requests and
    legal demands, obligations of the vendor's own). ``categories`` are the categories
    the record reveals (a disclosure's): a grant or a role must cover them all."""
    kind = actor.kind
    if kind is ActorKind.system:
        return Decision(True, categories=categories)
    if facts.subject_id is None:
        return Decision.deny(Reason.not_a_member, "no such person")
    if kind is ActorKind.subject:
        if not facts.subject_self:
            return Decision.deny(Reason.not_a_member, "a person may only see their own records")
        return Decision(True, categories=categories)
    if kind is ActorKind.application:
        if actor.tenant_id is not None and facts.subject_tenant != actor.tenant_id:
            return Decision.deny(Reason.not_a_member, "this API key belongs to another customer")
        if "admin" not in actor.scopes and not (actor.scopes & RECORD_SCOPES[(record, write)]):
            return Decision.deny(
                Reason.scope_missing, f"the API key's scopes do not reach {record.value}"
            )
        return Decision(True, categories=categories)
    if kind in (ActorKind.tenant_admin, ActorKind.tenant_member):
        if facts.subject_tenant is None or facts.subject_tenant != actor.tenant_id:
            return Decision.deny(
                Reason.not_a_member, "this person's records belong to another customer"
            )
        if not facts.member_active:
            return Decision.deny(Reason.not_a_member, "your membership was revoked")
        return Decision(True, categories=categories)
    office = False
    if kind is ActorKind.staff:
        role = index.roles.get(actor.role or "")
        if role is None:
            return Decision.deny(
                Reason.role_not_allowed, f"staff role {actor.role!r} is not in the policy"
            )
        # The office reaches records about people through the powers the policy gives
        # its role (answering requests and legal demands, holds, the audit), never by a
        # flag; what it may *read* of the values stays its categories (P12).
        office = bool(set(role.powers) & RECORD_POWERS[record])
        if not office and not staff_need_grant(index, facts.subject_tenant):
            outside = categories - index.role_categories[role.id]
            if outside:
                return Decision.deny(
                    Reason.role_not_allowed,
                    f"role {role.id!r} may not see {', '.join(sorted(outside))}",
                )
            return Decision(True, categories=categories)
    if office:
        return Decision(True, categories=categories)
    # Vendor admins, and staff where grants are required: a live grant covering it.
    for g in facts.grants:
        if g.revoked or not (g.starts_at <= now < g.expires_at):
            continue
        if g.tenant_id != facts.subject_tenant:
            continue
        if g.subject_ids and facts.subject_id not in g.subject_ids:
            continue
        if g.categories and not categories <= g.categories:
            continue
        return Decision(True, categories=categories, grant_id=g.id)
    reason = _no_grant_reason(facts, now)
    return Decision.deny(
        reason,
        f"the vendor's staff see a customer's {record.value} only under the customer's grant",
    )
