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
    valid number by its country's numbering plan (without a country code: in ``region``)."""
    import phonenumbers  # a large table of numbering plans: loaded when a number is read

    text = str(value).strip()
    where = f" in {region}" if region else ""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        hint = "" if region else " (no default region here: start it with + and the country code)"
        raise ValidationError(
            f"{text[:40]!r} is not a telephone number{where}: write it with its country code,"
            f" e.g. +44 20 7946 0958{hint}",
            code="invalid_phone",
            field="phone",
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


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
