"""The policy's closed vocabularies: the legal bases, regimes, retention clocks and
actions, sources, recipient kinds, field types, masks and cookie categories a policy file
may name (stored values: never rename one). :mod:`troth.policy.model` re-exports them."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from troth.errors import ValidationError


class LegalBasis(StrEnum):
    consent = "consent"
    contract = "contract"
    legal_obligation = "legal_obligation"
    legitimate_interest = "legitimate_interest"
    vital_interest = "vital_interest"
    public_task = "public_task"


class Regime(StrEnum):
    """Legal regimes whose deadlines troth knows (see REGULATIONS.md)."""

    gdpr = "gdpr"
    uk_gdpr = "uk_gdpr"
    ccpa = "ccpa"
    pipeda = "pipeda"
    nz = "nz"
    au = "au"


def parse_regime(value: str, *, code: str | None = None, **details: Any) -> Regime:
    """A legal regime by its id (``gdpr``, ``ccpa``...); :class:`ValidationError` naming
    the ones troth knows otherwise (``code`` and ``details`` as the caller's API has them)."""
    try:
        return Regime(value)
    except ValueError:
        known = ", ".join(r.value for r in Regime)
        raise ValidationError(
            f"unknown regime {value!r}: use one of {known}", code=code, **details
        ) from None


class RetentionClock(StrEnum):
    collection = "collection"
    relationship_end = "relationship_end"


class RetentionAction(StrEnum):
    delete = "delete"
    anonymise = "anonymise"
    crypto_shred = "crypto_shred"


class SourceKind(StrEnum):
    subject = "subject"
    third_party = "third_party"
    observed = "observed"


class RecipientKind(StrEnum):
    processor = "processor"
    sub_processor = "sub_processor"
    third_party = "third_party"
    affiliate = "affiliate"
    authority = "authority"


class FieldType(StrEnum):
    string = "string"
    text = "text"
    email = "email"
    phone = "phone"
    date = "date"
    datetime = "datetime"
    integer = "integer"
    number = "number"
    boolean = "boolean"


class Mask(StrEnum):
    """How a field's value is shown to people (pages, exports, letters): ``last4`` keeps
    the last four digits of a card number and hides the rest."""

    last4 = "last4"


class CookieCategory(StrEnum):
    strictly_necessary = "strictly_necessary"
    preferences = "preferences"
    analytics = "analytics"
    marketing = "marketing"
