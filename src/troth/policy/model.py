"""The policy as data: pydantic models that mirror a human-readable privacy policy.

The YAML file is validated into :class:`Policy`; cross-references (a purpose naming an
unknown category...) are checked by :mod:`troth.policy.validate`, and the result is
compiled into a :class:`troth.policy.index.PolicyIndex` for O(1) decisions.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from troth.policy.durations import Duration
from troth.policy.parties import ID_PATTERN as ID_PATTERN
from troth.policy.parties import MAX_NAME as MAX_NAME
from troth.policy.parties import BreachNotices as BreachNotices
from troth.policy.parties import Contact as Contact
from troth.policy.parties import SupportAccess as SupportAccess
from troth.policy.parties import TenantController, with_tenant_controller
from troth.policy.powers import POWER_NAMES as POWER_NAMES
from troth.policy.powers import Power as Power
from troth.policy.powers import RoleFor as RoleFor
from troth.policy.vocabulary import CookieCategory as CookieCategory
from troth.policy.vocabulary import FieldType as FieldType
from troth.policy.vocabulary import LegalBasis as LegalBasis
from troth.policy.vocabulary import Mask as Mask
from troth.policy.vocabulary import RecipientKind as RecipientKind
from troth.policy.vocabulary import Regime as Regime
from troth.policy.vocabulary import RetentionAction as RetentionAction
from troth.policy.vocabulary import RetentionClock as RetentionClock
from troth.policy.vocabulary import SourceKind as SourceKind
from troth.policy.vocabulary import parse_regime as parse_regime

Id = Annotated[str, Field(pattern=ID_PATTERN, description="lower_snake_case identifier")]
LocationCode = Annotated[
    str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2 code, or EU")
]

MAX_DUTY = 300  # the longest law a recipient's ``statutory_duty`` may name


EFFECTIVE_FIRST = date(1970, 1, 1)
EFFECTIVE_LAST = date(2999, 12, 31)


def check_effective(when: date) -> None:
    """The bounds of an effective date (the policy's own, or one given when publishing)."""
    if not EFFECTIVE_FIRST <= when <= EFFECTIVE_LAST:
        raise ValueError(
            f"an effective date is from {EFFECTIVE_FIRST} to {EFFECTIVE_LAST}, not {when}"
        )


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


class Organisation(_Strict):
    name: str = Field(min_length=1, max_length=MAX_NAME)
    website: str | None = None
    policy_url: str | None = None
    contact: Contact = Contact()
    dpo: Contact | None = None
    representative: Contact | None = None
    jurisdictions: list[Regime] = Field(min_length=1)
    default_jurisdiction: Regime | None = None
    # The organisation's own time (IANA name): requests are dated, and their deadlines and
    # letters counted, in it (P23, P27); per jurisdiction where they differ.
    time_zone: str = "UTC"
    time_zones: dict[Regime, str] = Field(default_factory=dict)

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_zone(value)

    @field_validator("time_zones")
    @classmethod
    def _zones(cls, value: dict[Regime, str]) -> dict[Regime, str]:
        return {k: check_zone(v) for k, v in value.items()}

    def zone(self, regime: Regime | str | None = None) -> ZoneInfo:
        """The time zone requests under ``regime`` are dated in."""
        name = self.time_zones.get(Regime(regime), self.time_zone) if regime else self.time_zone
        return ZoneInfo(name)


def check_zone(value: str) -> str:
    """``value`` when it names a zone of the IANA database, else ValueError saying so."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{value!r} is not a time zone of the IANA database: write e.g. 'Europe/London',"
            " 'Pacific/Auckland', 'America/Los_Angeles' or 'UTC'"
        ) from None
    return value


class Category(_Strict):
    """A data category; built-in ids may be used without declaring them."""

    id: Id
    description: str | None = None
    sensitive: bool | None = None
    # A special category of personal data (GDPR Art. 9): not on legitimate interest. Unset:
    # only the built-in `health` is (a sensitive category of your own gets a warning).
    special: bool | None = None
    business_contact: bool | None = None
    # Values of an aggregate-only category are never shown row by row (P09).
    aggregate_only: bool = False
    # Records of individual transactions: never sent to a recipient whose
    # `individual_transactions` is false (none marked: index.DEFAULT_TRANSACTIONS).
    transactions: bool = False
    # Left out of what the person is given of their own data (access export, privacy
    # centre), with this reason told instead: when it would reveal others (a moderation
    # report names who reported; GDPR Art. 15(4)). The office still reads it.
    withheld_from_access: str | None = Field(default=None, min_length=10, max_length=500)


class SubjectKind(_Strict):
    id: Id
    description: str | None = None


class LegalMinimum(_Strict):
    """What the law requires keeping despite erasure or closure, under which law, for how
    long (P25, P28): only the ``categories`` named; everything else of the purpose goes.
    (Connected datasets name what they keep per table and column, ``erase: keep``.)

    ``only_with`` names the records the law is about (an invoice's ``purchases``, a
    safeguarding ``concern``), among ``categories``: the minimum then keeps anything only
    for a person who holds such a record still within its period, each record for its own
    period and the minimum's other categories (the name and address that identify it) for
    as long as the latest record is kept. A person without one keeps nothing of it."""

    keep_for: Duration
    law: str = Field(min_length=1, max_length=500)
    categories: list[Id] = Field(min_length=1)
    only_with: list[Id] = Field(default_factory=list)

    def __str__(self) -> str:
        beside = f", only beside {', '.join(self.only_with)}" if self.only_with else ""
        return f"{self.keep_for} ({', '.join(self.categories)}{beside}): {self.law}"


class Retention(_Strict):
    """How long data for a purpose is kept, from when, and what happens then (P30)."""

    keep_for: Duration
    after: RetentionClock = RetentionClock.collection
    then: RetentionAction = RetentionAction.delete
    # A minimum the law imposes (invoices 7 years): erasure and closure keep what it names,
    # restricted to this purpose, until it ends (P25).
    legal_minimum: LegalMinimum | None = None

    @model_validator(mode="before")
    @classmethod
    def _old_shape(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        minimum = value.get("legal_minimum")
        if minimum is not None and not isinstance(minimum, dict | LegalMinimum):
            raise ValueError(
                "legal_minimum must say what the law requires keeping: write "
                f"legal_minimum: {{keep_for: {minimum}, law: <the law>, categories: [<only "
                "the categories the law needs, e.g. identity, billing>]}"
            )
        if "law" in value:
            raise ValueError("move `law:` under `legal_minimum:` (with keep_for and categories)")
        return value


class Purpose(_Strict):
    id: Id
    description: str = Field(min_length=1)
    legal_basis: LegalBasis
    categories: list[Id] = Field(min_length=1)
    aggregate_only: bool = False
    # For an aggregate-only purpose: the fields its statistics may be grouped by (P09).
    # None declared: totals only. Checked by `policy validate` (no identifying field).
    dimensions: list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")]] = Field(
        default_factory=list
    )
    # Sale, sharing or targeted advertising: a GPC signal is an opt-out of it (P11).
    sale_or_sharing: bool = False
    marketing: bool = False
    # The vendor's own purpose, never a customer's: no tenant admin, member or key acts for it.
    vendor_only: bool = False
    retention: Retention | None = None
    # For consent purposes: the notice text shown when asking, and how to withdraw.
    notice: str | None = None
    withdraw: str | None = None
    # Who may record a grant: `person` (they, or the vendor's side), `customer` (its side too).
    consent_by: Literal["person", "customer"] | None = None


class CollectedField(_Strict):
    category: Id
    type: FieldType = FieldType.string
    required: bool = False
    max_length: int = Field(default=4096, ge=1, le=10_000_000)
    # Marks the field that identifies the person for lookups through a blind index.
    identifies: str | None = Field(default=None, pattern=r"^(email|phone|customer_id)$")
    description: str | None = None
    # Shown masked wherever a person sees it, exports included (a card number: last4);
    # ``person_copy: whole``: the person's own export holds it whole (Art. 15(3)).
    mask: Mask | None = None
    person_copy: Literal["whole", "masked"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        # `name: contact` is short for `name: {category: contact}`.
        return {"category": value} if isinstance(value, str) else value


class CollectionPoint(_Strict):
    id: Id
    description: str | None = None
    subjects: list[Id] = Field(default_factory=list)
    source: SourceKind = SourceKind.subject
    # For third-party supplied data: who supplies it (P03).
    supplier: str | None = None
    fields: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")], CollectedField] = Field(
        min_length=1
    )
    purposes: list[Id] = Field(min_length=1)
    # The field that carries the date of birth or age, checked against the minimum age (P04).
    age_field: str | None = None
    location: LocationCode | None = None


class Disclosure(_Strict):
    purpose: Id
    categories: list[Id] = Field(min_length=1)
    # Field-level projection: only these fields go (P19). Empty means every field of the
    # categories.
    fields: list[str] = Field(default_factory=list)


class Recipient(_Strict):
    id: Id
    name: str = Field(min_length=1)
    kind: RecipientKind
    role: str | None = None
    location: LocationCode
    url: str | None = None
    receives: list[Disclosure] = Field(default_factory=list)
    # May this recipient see individual transactions? (P19: no third party does.)
    individual_transactions: bool = True
    safeguard: str | None = None
    # An authority the organisation must report to by law, routinely (a pharmacy's
    # pharmacovigilance reports to its medicines regulator): the law, named. Disclosures to
    # it for the purposes it ``receives`` go without a per-disclosure legal demand (still
    # projected and bound to their purposes, recorded, visible to the person).
    statutory_duty: str | None = Field(default=None, min_length=1, max_length=MAX_DUTY)


class Transfer(_Strict):
    to: LocationCode
    safeguard: str = Field(min_length=1)


class Locations(_Strict):
    """Where data may be stored and sent (P22)."""

    allowed: list[LocationCode] = Field(min_length=1)
    default: LocationCode | None = None
    # Places outside ``allowed`` that data may go to, recorded as a transfer with a safeguard.
    transfers: list[Transfer] = Field(default_factory=list)


class Role(_Strict):
    """A staff role or department: what it may see, for what (P12), and which office
    functions it may exercise (``powers``). With ``for: tenant_members`` it is a role of a
    customer's people instead (a school's teacher, a clinic's nurse): the same
    ``categories``, ``purposes`` and ``masked``, assigned to each member by an admin of
    their tenant, and never any ``powers`` (the office is the vendor's)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: Id
    description: str | None = None
    for_: RoleFor = Field(default=RoleFor.staff, alias="for")
    categories: list[Id] = Field(default_factory=list)
    purposes: list[Id] = Field(default_factory=list)
    powers: list[Power] = Field(default_factory=list)
    # Of its categories, those the role reads only masked, as each field's ``mask:`` shows
    # it (support sees a card as •••• 4242, PCI DSS 3.4); ``policy validate`` requires the
    # mask on every field of such a category.
    masked: list[Id] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _no_office_flag(cls, data: Any) -> Any:
        if isinstance(data, dict) and "privacy_office" in data:
            raise ValueError(
                "`privacy_office` is no longer read: list what the role may do as"
                f" `powers: [...]` (known powers: {POWER_NAMES}); what it may read stays"
                " in its categories and purposes"
            )
        return data

    @field_validator("powers", mode="before")
    @classmethod
    def _known_powers(cls, value: Any) -> Any:
        if isinstance(value, list):
            for v in value:
                if not isinstance(v, str) or v not in Power.__members__:
                    raise ValueError(f"unknown power {v!r} (known powers: {POWER_NAMES})")
            if len(set(value)) != len(value):
                raise ValueError("a power is listed twice; list each power once")
        return value

    @property
    def for_members(self) -> bool:
        """Is this a role of a customer's members (``for: tenant_members``)?"""
        return self.for_ is RoleFor.tenant_members


# The youngest age the law lets a person give their own consent, where REGULATIONS.md
# ("Children") names one: GDPR lets member states go down to 13 (16 by default), the UK 13,
# CCPA needs a parent below 13, Quebec 14 (so Canada's regime, which troth applies to
# Quebec too). troth has no parental consent, so a policy may not go below these floors.
AGE_FLOORS: dict[Regime, int] = {
    Regime.gdpr: 13,
    Regime.uk_gdpr: 13,
    Regime.ccpa: 13,
    Regime.pipeda: 14,
}


class Minors(_Strict):
    """No data from people under this age (P04); per-regime overrides, never below the
    regime's floor (:data:`AGE_FLOORS`)."""

    minimum_age: int = Field(default=18, ge=0, le=25)
    by_jurisdiction: dict[Regime, Annotated[int, Field(ge=0, le=25)]] = Field(default_factory=dict)


class Notices(_Strict):
    """How policy changes reach people (P07, P08, P35)."""

    # Days a notice is posted before data is used in a new way (itechno: 30).
    notice_period_days: int = Field(default=30, ge=0, le=3650)
    new_purpose_needs_consent: bool = False
    email_customers: bool = False
    post_on_website: bool = True


class MailingList(_Strict):
    """A communication list/topic, tied to the purpose that allows sending to it (P10)."""

    id: Id
    description: str | None = None
    purpose: Id
    marketing: bool = True


class Cookie(_Strict):
    category: CookieCategory
    description: str | None = None
    purpose: Id | None = None
    names: list[str] = Field(default_factory=list)


class Aggregates(_Strict):
    min_group_size: int = Field(default=5, ge=2, le=1000)


class Policy(_Strict):
    """A whole privacy policy, one version of it."""

    troth: int = Field(default=1, description="policy file format version")
    # A short name for the policy/organisation (``phone_service``), used in paths and logs.
    id: Id | None = None
    version: str = Field(min_length=1, max_length=64)
    # Bounded so that every date troth derives from it (notice periods...) is a real date.
    effective: date = Field(ge=EFFECTIVE_FIRST, le=EFFECTIVE_LAST)
    organisation: Organisation
    categories: list[Category] = Field(default_factory=list)
    subjects: list[SubjectKind] = Field(default_factory=list)
    purposes: list[Purpose] = Field(min_length=1)
    collection_points: list[CollectionPoint] = Field(default_factory=list)
    recipients: list[Recipient] = Field(default_factory=list)
    locations: Locations
    minors: Minors = Minors()
    roles: list[Role] = Field(default_factory=list)
    notices: Notices = Notices()
    lists: list[MailingList] = Field(default_factory=list)
    cookies: list[Cookie] = Field(default_factory=list)
    support_access: SupportAccess = SupportAccess()
    aggregates: Aggregates = Aggregates()
    breach_notices: BreachNotices = BreachNotices()
    # Who decides about a customer's (tenant's) people's data: the customer, for whom the
    # organisation processes it, or the organisation itself (troth.policy.parties).
    tenant_controller: TenantController = "customer"
    # Business contact information is not personal information here (P05): the listed
    # obligations do not apply to categories flagged business_contact.
    business_contact_exempt_from: list[str] = Field(default_factory=list)
    # Customers are tenants (phone-service): each sees only its own data and the people it
    # invites (P13); the vendor's staff need a customer grant (support_access, P14).
    multi_tenant: bool = False

    @model_validator(mode="before")
    @classmethod
    def _controller(cls, data: Any) -> Any:
        return with_tenant_controller(data)

    @field_validator("business_contact_exempt_from")
    @classmethod
    def _exemptions(cls, value: list[str]) -> list[str]:
        allowed = {"consent", "requests", "retention", "minimisation"}
        bad = [v for v in value if v not in allowed]
        if bad:
            names = ", ".join(sorted(allowed))
            raise ValueError(f"unknown exemption {bad[0]!r} (allowed: {names})")
        return value

    @field_validator("troth")
    @classmethod
    def _format(cls, value: int) -> int:
        if value != 1:
            raise ValueError("this troth reads policy format 1; write `troth: 1`")
        return value
