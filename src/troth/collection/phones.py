"""Telephone numbers in one form, E.164, before they are blind-indexed (P27, lookups).

"020 7946 0958", "+44 20 7946 0958", "(020) 7946-0958" and "0044 20 7946 0958" are one
number; indexed as typed they were four lookup keys. A number is parsed with the
``phonenumbers`` library, in the person's jurisdiction's region when it has no country code
(:data:`REGION_OF`); one that is not a valid number by its country's numbering plan is
refused with a clear error.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

from troth.errors import ValidationError

if TYPE_CHECKING:  # the policy model loads only where a policy is read
    from troth.policy.model import Policy, Regime

# Where a number written without its country code is dialled. GDPR spans many countries:
# its region is the policy's default location (a country), else numbers need a country code.
# Keyed by the Regime values (a StrEnum: a Regime finds its entry).
REGION_OF: Final[dict[str, str | None]] = {
    "uk_gdpr": "GB",
    "ccpa": "US",
    "pipeda": "CA",
    "nz": "NZ",
    "au": "AU",
    "gdpr": None,
}


def region_for(policy: Policy, jurisdiction: Regime | str | None) -> str | None:
    """The default region for numbers of a person under ``jurisdiction`` (the
    organisation's default jurisdiction when None or unknown)."""
    from troth.policy.model import Regime

    org = policy.organisation
    try:
        regime = Regime(jurisdiction) if jurisdiction else None
    except ValueError:
        regime = None
    regime = regime or org.default_jurisdiction or org.jurisdictions[0]
    region = REGION_OF.get(regime)
    if region is None:
        default = policy.locations.default
        region = default if default and default != "EU" else None
    return region


def lookup_regions(policy: Policy, jurisdiction: Regime | str | None = None) -> list[str | None]:
    """The regions a number typed for a lookup may be meant in: the given jurisdiction's,
    else the default jurisdiction's first and then every other jurisdiction's."""
    if jurisdiction:
        return [region_for(policy, jurisdiction)]
    org = policy.organisation
    first = org.default_jurisdiction or org.jurisdictions[0]
    order = [first, *(j for j in org.jurisdictions if j != first)]
    return list(dict.fromkeys(region_for(policy, j) for j in order))


def to_e164(value: str, region: str | None) -> str:
    """``value`` as an E.164 number (``+442079460958``); ValidationError when it is not a
    valid number by its country's numbering plan (without a country code: in ``region``).
    The one reading of a number: collection (every ``type: phone`` field) and every
    look-up call it, so a number collected is one that can be searched."""
    import phonenumbers  # a large table of numbering plans: loaded when a number is read

    text = str(value).strip()
    try:
        number = phonenumbers.parse(text, region, keep_raw_input=True)
    except phonenumbers.NumberParseException:
        number = None
    if number is not None and phonenumbers.is_valid_number(number):
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    source = phonenumbers.CountryCodeSource
    if number is not None and number.country_code_source != source.FROM_DEFAULT_COUNTRY:
        # It has its country code: asking for one would send the writer in circles.
        message = (
            f"{text[:40]!r} is not a telephone number: no number with country code"
            f" +{number.country_code} is written with those digits; check them"
        )
    else:
        where = f" in {region}" if region else ""
        hint = "" if region else " (no default region here: start it with + and the country code)"
        message = (
            f"{text[:40]!r} is not a telephone number{where}: check the digits, or write it"
            f" with its country code, e.g. +44 20 7946 0958{hint}"
        )
    raise ValidationError(message, code="invalid_phone", field="phone")


def e164_candidates(value: str, regions: Iterable[str | None]) -> list[str]:
    """Every E.164 form ``value`` has in one of ``regions`` (one when it has a country
    code); ValidationError when it is a number in none of them."""
    found: list[str] = []
    problem: ValidationError | None = None
    for region in regions:
        try:
            found.append(to_e164(value, region))
        except ValidationError as exc:
            problem = problem or exc
    if not found:
        raise problem or ValidationError("no region to read the number in", code="invalid_phone")
    return list(dict.fromkeys(found))


def written_forms(value: str, region: str | None) -> list[str]:
    """The ways a database is likely to hold the number (connected-dataset lookups): as
    typed, E.164, international, national, and national digits only."""
    import phonenumbers

    out = [value.strip()]
    try:
        number = phonenumbers.parse(value.strip(), region)
    except phonenumbers.NumberParseException:
        return out
    if phonenumbers.is_valid_number(number):
        fmt = phonenumbers.PhoneNumberFormat
        national = phonenumbers.format_number(number, fmt.NATIONAL)
        out += [
            phonenumbers.format_number(number, fmt.E164),
            phonenumbers.format_number(number, fmt.INTERNATIONAL),
            national,
            "".join(ch for ch in national if ch.isdigit()),
        ]
    return list(dict.fromkeys(v for v in out if v))


__all__ = [
    "REGION_OF",
    "e164_candidates",
    "lookup_regions",
    "region_for",
    "to_e164",
    "written_forms",
]
