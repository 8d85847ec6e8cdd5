"""What the gate reasons about: who asks (:class:`Actor`), what they ask (:class:`Ask`),
what troth knows (:class:`Facts`, built only by :mod:`troth.gate.facts`) and the answer
(:class:`Decision`, with a :class:`Reason` when refused or masked)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Reason(StrEnum):
    """Why the gate refused or masked. Stored in the audit log: never rename a value."""

    unknown_collection_point = "unknown_collection_point"
    field_not_declared = "field_not_declared"
    purpose_not_declared = "purpose_not_declared"
    purpose_not_declared_for_category = "purpose_not_declared_for_category"
    purpose_not_of_collection = "purpose_not_of_collection"
    # A use allowed for the purpose's categories, of a person who holds no value of any of
    # them (that the actor could see): nothing to use, no policy at fault (trial 19, F10).
    nothing_held = "nothing_held"
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
    # A disclosure to an authority without a recorded legal demand (P20).
    demand_required = "demand_required"
    # A disclosure under a legal demand of categories (or values of a period) the demand
    # does not ask for (P20): what goes is only what the demand compels.
    beyond_demand = "beyond_demand"
    kept_for_legal_obligation = "kept_for_legal_obligation"
    subject_erased = "subject_erased"
    opted_out_recently = "opted_out_recently"  # a sale/sharing opt-out, less than 12 months old
    not_the_owner = "not_the_owner"  # an export made for another person
    power_not_granted = "power_not_granted"
    tenant_bound = "tenant_bound"
    tenant_offboarded = "tenant_offboarded"  # the customer left: nothing new for it
    # A purpose the policy marks ``vendor_only``, asked for by a customer's admin, member
    # or key: the vendor's own, never a customer's (troth.gate.members).
    vendor_only = "vendor_only"
    # A person's own export holding a field the policy gives the person whole
    # (``person_copy: whole``), asked for by someone who reads it masked (or not at all).
    person_copy_whole = "person_copy_whole"
    # A consent that lets a customer's side read what it could not without it (the
    # vendor's own data shared on the person's permission, or ``consent_by: person``),
    # recorded as given by that customer's own admin, member or key (troth.gate.members).
    consent_self_grant = "consent_self_grant"
    # A stored value's row does not match its seal (changed outside troth): nothing of
    # the person is shown (troth.store.seals).
    record_tampered = "record_tampered"
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
    too_many_requests = "too_many_requests"
    wrong_code = "wrong_code"
    not_vendor_admin = "not_vendor_admin"
    not_tenant_admin = "not_tenant_admin"
    # A customer's admin giving (to themself or another) a role, no role, or admin-ness
    # that would read more than they may read themselves (troth.access.delegation).
    beyond_own_role = "beyond_own_role"
    grant_too_long = "grant_too_long"
    grant_not_pending = "grant_not_pending"
    no_emergency_access = "no_emergency_access"
    unknown_invitation = "unknown_invitation"
    invitation_accepted = "invitation_accepted"
    invitation_revoked = "invitation_revoked"
    invitation_expired = "invitation_expired"


# A credential (an account, an API key) whose row was changed outside troth: refused as
# unauthenticated wherever it is used (troth.access.seals), by the gate too.
CREDENTIAL_TAMPERED = (
    "this credential was changed outside troth (its role, tenant, scopes, password or"
    " revocation edited in the database by a writer without the key file), so it is"
    " refused: run `troth audit verify`, then restore the row from a backup"
)


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


# How an actor's kind is written (``staff:ann``, ``app:crm``, ``vendor:ops``...): the
# command line's and the audit log's spellings alike.
ACTOR_KIND_NAMES: dict[str, ActorKind] = {
    **{k.value: k for k in ActorKind},
    "app": ActorKind.application,
    "vendor": ActorKind.vendor_admin,
}


@dataclass(frozen=True, slots=True)
class Actor:
    kind: ActorKind
    id: str
    # A staff member's role; a customer's member's role (``for: tenant_members``) as
    # signed in (the gate decides on the one they hold now: ``Facts.member_role``).
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
    # Its row does not match its seal (changed outside troth): it grants nothing.
    tampered: bool = False


@dataclass(frozen=True, slots=True)
class Facts:
    """What troth knows that bears on the decision, gathered by the engine."""

    subject_id: str | None = None
    subject_tenant: str | None = None
    subject_self: bool = False  # the actor is the person the data is about
    consented: frozenset[str] = frozenset()  # purposes with an active consent
    restricted: frozenset[str] = frozenset()  # purposes the person limited (P26)
    # Of those, the ones restricted because a legal hold defers the erasure the person
    # asked for (troth.requests.deferral), not because they limited them.
    deferred: frozenset[str] = frozenset()
    # Purposes that erasure restricted which a legal hold on the person serves: open to
    # use while it runs (not in ``restricted``; audited as under the hold).
    held_for: frozenset[str] = frozenset()
    # New uses started by a published change: (point, purpose, category) -> (when the
    # notice was posted, whether fresh consent is needed, the version) (P07, P08).
    notices: Mapping[tuple[str, str, str], tuple[datetime, bool, str]] = field(default_factory=dict)
    member_active: bool = False  # actor is an active member of the subject's tenant
    # The role (``for: tenant_members``) that member holds now, read with member_active:
    # the gate applies this one, not one an older session or actor object carried.
    member_role: str | None = None
    # The actor is a customer's member (or admin) whose account row does not match its seal
    # (changed outside troth, troth.access.seals): refused ``record_tampered``, never
    # taken for a membership that was revoked.
    member_tampered: bool = False
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
    # A disclosure under a recorded legal demand (checked by the disclosures service
    # before it asks): after erasure it reaches whatever a legal minimum still keeps.
    under_demand: bool = False


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
