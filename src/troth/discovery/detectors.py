"""Value detectors: what a single value looks like (an e-mail address, a card number...).

Each detector answers for one value, checks what can be checked (Luhn and issuer ranges
for cards, mod-97 for IBANs, the check digits of national ids, the numbering plan for
phones) and never keeps the value. :class:`Detectors` is built for a policy: phone
numbers are read in the regions of its jurisdictions, postal codes and national ids are
those of its countries. :meth:`Detectors.classify` names the kinds a whole value is;
:meth:`Detectors.embedded` finds kinds pasted inside free text.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

import phonenumbers


class Kind(StrEnum):
    """What a value can be; each maps to a built-in category (:data:`CATEGORY_OF`)."""

    email = "email"
    phone = "phone"
    card = "card"
    iban = "iban"
    ip = "ip"
    dob = "dob"
    postal_code = "postal_code"
    nz_ird = "nz_ird"
    ca_sin = "ca_sin"
    uk_ni = "uk_ni"
    us_ssn = "us_ssn"
    name = "name"  # column names and the nlp extra only: no value detector
    address = "address"  # column names and the nlp extra only


CATEGORY_OF: dict[Kind, str] = {
    Kind.email: "contact",
    Kind.phone: "contact",
    Kind.card: "payment_card",
    Kind.iban: "financial",
    Kind.ip: "technical",
    Kind.dob: "demographic",
    Kind.postal_code: "contact",
    Kind.nz_ird: "government_id",
    Kind.ca_sin: "government_id",
    Kind.uk_ni: "government_id",
    Kind.us_ssn: "government_id",
    Kind.name: "identity",
    Kind.address: "contact",
}

NATIONAL_ID_OF: dict[str, Kind] = {
    "NZ": Kind.nz_ird,
    "CA": Kind.ca_sin,
    "GB": Kind.uk_ni,
    "US": Kind.us_ssn,
}

# -- e-mail --------------------------------------------------------------------------------
_EMAIL = re.compile(
    r"^[A-Za-z0-9._%+'-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}$"
)
_EMAIL_IN = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}\b"
)


def is_email(v: str) -> bool:
    return "@" in v and bool(_EMAIL.match(v))


# -- payment cards -------------------------------------------------------------------------
def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def card_issuer(digits: str) -> str | None:
    """The card scheme whose issuer range and length ``digits`` fit, else None."""
    n = len(digits)
    two, four, six = int(digits[:2]), int(digits[:4]), int(digits[:6])
    if digits[0] == "4" and n in (13, 16, 19):
        return "visa"
    if (51 <= two <= 55 or 222100 <= six <= 272099) and n == 16:
        return "mastercard"
    if two in (34, 37) and n == 15:
        return "amex"
    if (four == 6011 or two == 65 or 644 <= int(digits[:3]) <= 649) and n in (16, 19):
        return "discover"
    if 3528 <= four <= 3589 and n in (16, 19):
        return "jcb"
    if (two in (36, 38) or 300 <= int(digits[:3]) <= 305) and n == 14:
        return "diners"
    if (digits[:2] in ("50", "56", "57", "58", "63", "67")) and 12 <= n <= 19:
        return "maestro"
    return None


_ID_IN = re.compile(r"(?<![\w-])[\dA-Z][\dA-Z -]{7,12}[\dA-D](?![\w-])")
_CARD_SHAPE = re.compile(r"^\d(?:[ -]?\d){11,18}$")
_CARD_IN = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")


def is_card(v: str) -> bool:
    if not _CARD_SHAPE.match(v):
        return False
    digits = v.replace(" ", "").replace("-", "")
    return card_issuer(digits) is not None and luhn_ok(digits)


def card_shaped(text: str) -> int:
    """How many numbers in ``text`` are shaped like a card (13 to 19 digits, in an issuer
    range), valid or not: the yardstick for how many Luhn-valid ones chance explains."""
    n = 0
    for m in _CARD_IN.finditer(text):
        digits = m.group().replace(" ", "").replace("-", "")
        n += card_issuer(digits) is not None
    return n


# -- IBAN ----------------------------------------------------------------------------------
IBAN_LENGTH = {
    "AD": 24, "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18,
    "EE": 20, "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GR": 27, "HR": 21, "HU": 28, "IE": 22,
    "IS": 26, "IT": 27, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MT": 31, "NL": 18,
    "NO": 15, "PL": 28, "PT": 25, "RO": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27,
}  # fmt: skip
_IBAN_SHAPE = re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9 ]{10,36}$")
_IBAN_IN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b")


def is_iban(v: str) -> bool:
    if not _IBAN_SHAPE.match(v):
        return False
    s = v.replace(" ", "")
    if IBAN_LENGTH.get(s[:2]) != len(s):
        return False
    moved = s[4:] + s[:4]
    num = "".join(str(int(ch, 36)) for ch in moved)
    return int(num) % 97 == 1


# -- IP addresses --------------------------------------------------------------------------
_IPV4 = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")


def is_ip(v: str) -> bool:
    if _IPV4.match(v) or (":" in v and 2 < len(v) <= 45 and v.count(":") >= 2):
        try:
            ipaddress.ip_address(v)
        except ValueError:
            return False
        return True
    return False


_NETWORK_VALUES = (
    ipaddress.IPv4Address,
    ipaddress.IPv6Address,
    ipaddress.IPv4Interface,
    ipaddress.IPv6Interface,
    ipaddress.IPv4Network,
    ipaddress.IPv6Network,
)
# Column types that hold network addresses: PostgreSQL inet, cidr, macaddr, macaddr8;
# MariaDB inet4, inet6. Technical data whatever the sample holds (P01).
NETWORK_TYPES = frozenset({"INET", "CIDR", "MACADDR", "MACADDR8", "INET4", "INET6"})


def is_network_type(type_: str) -> bool:
    """Whether a column's declared type (as the inspector names it) is a network address."""
    return type_.split("(")[0].strip().upper() in NETWORK_TYPES


# -- national ids --------------------------------------------------------------------------
_IRD = re.compile(r"^\d{2,3}-?\d{3}-?\d{3}$")
_SIN = re.compile(r"^\d{3}[ -]?\d{3}[ -]?\d{3}$")
_NINO = re.compile(
    r"^(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]$"
)
_SSN = re.compile(r"^(\d{3})-(\d{2})-(\d{4})$")
_SSN_BARE = re.compile(r"^(\d{3})(\d{2})(\d{4})$")


def nz_ird_ok(v: str) -> bool:
    """An IRD number: 8 or 9 digits in 10,000,000..150,000,000 with its mod-11 check digit
    (the second weights when the first give 10)."""
    if not _IRD.match(v):
        return False
    digits = v.replace("-", "")
    n = int(digits)
    if not 10_000_000 <= n <= 150_000_000:
        return False
    digits = digits.zfill(9)
    base, check = digits[:8], int(digits[8])
    for weights in ((3, 2, 7, 6, 5, 4, 3, 2), (7, 4, 3, 2, 5, 2, 7, 6)):
        rem = sum(int(d) * w for d, w in zip(base, weights, strict=True)) % 11
        got = 0 if rem == 0 else 11 - rem
        if got != 10:
            return got == check
    return False


def ca_sin_ok(v: str) -> bool:
    """A Canadian SIN: nine digits passing Luhn, not starting with 0 or 8."""
    if not _SIN.match(v):
        return False
    digits = v.replace(" ", "").replace("-", "")
    return digits[0] not in "08" and luhn_ok(digits)


def uk_ni_ok(v: str) -> bool:
    """A UK National Insurance number: two prefix letters (the excluded pairs refused),
    six digits, a suffix A to D."""
    return bool(_NINO.match(v.upper()))


def us_ssn_ok(v: str, *, bare: bool = False) -> bool:
    """A US SSN written AAA-GG-SSSS (or nine bare digits when ``bare``): area not 000, 666
    or 9xx, group not 00, serial not 0000."""
    m = (_SSN_BARE if bare else _SSN).match(v)
    if not m:
        return False
    area, group, serial = m.groups()
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


# -- postal codes --------------------------------------------------------------------------
_UK_POSTCODE = re.compile(r"^(GIR ?0AA|[A-PR-UWYZ][A-HK-Y]?\d[A-Z\d]? ?\d[ABD-HJLNP-UW-Z]{2})$")
_CA_POSTCODE = re.compile(r"^[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z] ?\d[ABCEGHJ-NPRSTV-Z]\d$")
_US_ZIP = re.compile(r"^\d{5}(?:-\d{4})?$")
_FOUR_DIGITS = re.compile(r"^\d{4}$")
_FIVE_DIGITS = re.compile(r"^\d{5}$")
_NL_POSTCODE = re.compile(r"^[1-9]\d{3} ?(?!SA|SD|SS)[A-Z]{2}$")
# Countries whose postal codes are four or five bare digits: any number could be one, so
# they count only where the column name agrees (``plz``, ``code_postal``...).
_FIVE_DIGIT_COUNTRIES = frozenset({"DE", "FR", "IT", "ES", "FI", "EE", "HR", "LT", "GR"})
_FOUR_DIGIT_COUNTRIES = frozenset(
    {"NZ", "AU", "AT", "BE", "BG", "CH", "DK", "HU", "LU", "NO", "SI", "CY", "LI"}
)


def postal_code_strength(v: str, countries: frozenset[str]) -> int:
    """2 for a code only a postal code looks like (UK, Canada, the Netherlands), 1 for one
    that any number could be (a US ZIP, five German or French digits, four NZ/AU/Austrian
    digits: counted only where the column name agrees), 0 for none."""
    up = v.upper()
    if "GB" in countries and _UK_POSTCODE.match(up):
        return 2
    if "CA" in countries and _CA_POSTCODE.match(up):
        return 2
    if "NL" in countries and _NL_POSTCODE.match(up):
        return 2
    if "US" in countries and _US_ZIP.match(v):
        return 2 if "-" in v else 1
    if countries & _FIVE_DIGIT_COUNTRIES and _FIVE_DIGITS.match(v):
        return 1
    if countries & _FOUR_DIGIT_COUNTRIES and _FOUR_DIGITS.match(v):
        return 1
    return 0


# -- dates of birth ------------------------------------------------------------------------
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_DMY_DATE = re.compile(r"^(\d{1,2})[/.](\d{1,2})[/.](\d{4})$")


def birth_date(v: object, today: date) -> bool:
    """A calendar date (not a timestamp) between 120 and 13 years ago: the age of a
    person who has an account."""
    d: date | None = None
    if isinstance(v, datetime):
        return False
    if isinstance(v, date):
        d = v
    elif isinstance(v, str):
        m = _ISO_DATE.match(v)
        try:
            if m:
                d = date(int(m[1]), int(m[2]), int(m[3]))
            elif (m2 := _DMY_DATE.match(v)) is not None:
                d = date(int(m2[3]), int(m2[2]), int(m2[1]))
        except ValueError:
            return False
    if d is None:
        return False
    age = today.year - d.year
    return 13 <= age <= 120


# -- phones --------------------------------------------------------------------------------
_PHONE_SHAPE = re.compile(r"^\+?[\d ().-]{6,24}$")
_PHONE_IN = re.compile(r"(?<![\w+])\+\d[\d ().-]{7,20}\d")


def phone_ok(v: str, regions: tuple[str, ...]) -> bool:
    """A number valid in its country's numbering plan: international (+...) anywhere, a
    national one in the policy's regions. Bare digits without a trunk prefix (order and
    invoice numbers) are not phones: a number written for people is +..., 0... or
    punctuated."""
    if not _PHONE_SHAPE.match(v):
        return False
    digits = sum(ch.isdigit() for ch in v)
    if not 7 <= digits <= 15:
        return False
    if v[0] != "+" and v.isdigit() and v[0] != "0":
        return False
    if _SSN.match(v):  # 3-2-4 is how an SSN is written, never a phone number
        return False
    try:
        if v[0] == "+":
            return phonenumbers.is_valid_number(phonenumbers.parse(v, None))
        for region in regions:
            if phonenumbers.is_valid_number(phonenumbers.parse(v, region)):
                return True
    except phonenumbers.NumberParseException:
        return False
    return False


# -- the policy's detectors ----------------------------------------------------------------
@dataclass(frozen=True)
class Detectors:
    """The detectors for a policy's countries (ISO codes): phone regions, postal codes and
    national ids. ``today`` anchors dates of birth."""

    countries: frozenset[str] = frozenset({"NZ", "CA", "GB", "US"})
    today: date = field(default_factory=date.today)

    regions: tuple[str, ...] = field(init=False)
    national_ids: tuple[Kind, ...] = field(init=False)

    def __post_init__(self) -> None:
        ordered = sorted(self.countries)
        object.__setattr__(self, "regions", tuple(ordered))
        ids = tuple(NATIONAL_ID_OF[c] for c in ordered if c in NATIONAL_ID_OF)
        object.__setattr__(self, "national_ids", ids)

    def classify(self, value: object) -> tuple[set[Kind], set[Kind]]:
        """The kinds a whole value is: (strong, weak). Weak kinds (bare digits that could
        be a ZIP or an SSN) count only where the column's name agrees."""
        strong: set[Kind] = set()
        weak: set[Kind] = set()
        if isinstance(value, date):
            if birth_date(value, self.today):
                strong.add(Kind.dob)
            return strong, weak
        if isinstance(value, _NETWORK_VALUES):  # psycopg reads inet/cidr as these
            strong.add(Kind.ip)
            return strong, weak
        if not isinstance(value, str):
            if isinstance(value, int) and not isinstance(value, bool):
                value = str(value)
            else:
                return strong, weak
        v = value.strip()
        if not v or len(v) > 64:
            return strong, weak
        c0 = v[0]
        if "@" in v:
            if is_email(v):
                strong.add(Kind.email)
            return strong, weak
        has_digit = any(ch.isdigit() for ch in v)
        if not has_digit:
            return strong, weak
        if c0.isalpha():
            if is_iban(v):
                strong.add(Kind.iban)
            elif Kind.uk_ni in self.national_ids and uk_ni_ok(v):
                strong.add(Kind.uk_ni)
            else:
                s = postal_code_strength(v, self.countries)
                if s:
                    (strong if s == 2 else weak).add(Kind.postal_code)
            if ":" in v and is_ip(v):
                strong.add(Kind.ip)
            return strong, weak
        if "." in v and _IPV4.match(v):
            if is_ip(v):
                strong.add(Kind.ip)
            return strong, weak
        if ":" in v:
            if is_ip(v):
                strong.add(Kind.ip)
            return strong, weak
        if birth_date(v, self.today):
            strong.add(Kind.dob)
            return strong, weak
        if is_card(v):
            strong.add(Kind.card)
            return strong, weak
        ids = self.national_ids
        if Kind.us_ssn in ids:
            if us_ssn_ok(v):
                strong.add(Kind.us_ssn)
            elif us_ssn_ok(v, bare=True):
                weak.add(Kind.us_ssn)
        if Kind.ca_sin in ids and ca_sin_ok(v):
            (strong if not v.isdigit() else weak).add(Kind.ca_sin)
        if Kind.nz_ird in ids and nz_ird_ok(v):
            (strong if not v.isdigit() else weak).add(Kind.nz_ird)
        if strong:
            return strong, weak
        s = postal_code_strength(v, self.countries)
        if s:
            (strong if s == 2 else weak).add(Kind.postal_code)
            return strong, weak
        if phone_ok(v, self.regions):
            strong.add(Kind.phone)
        return strong, weak

    def embedded(self, text: str) -> dict[Kind, list[tuple[int, int]]]:
        """Kinds found *inside* free text, with their spans: card numbers (Luhn and issuer),
        national ids written with separators, IBANs, e-mail addresses, international phone
        numbers; in the first :data:`MAX_TEXT` characters."""
        out: dict[Kind, list[tuple[int, int]]] = {}
        text = text[:MAX_TEXT]
        if any(ch.isdigit() for ch in text):
            for m in _CARD_IN.finditer(text):
                if is_card(m.group()):
                    out.setdefault(Kind.card, []).append(m.span())
            ids = self.national_ids
            for m in _ID_IN.finditer(text):
                token = m.group()
                for kind, ok in (
                    (Kind.us_ssn, us_ssn_ok),
                    (Kind.uk_ni, uk_ni_ok),
                    (Kind.ca_sin, ca_sin_ok),
                    (Kind.nz_ird, nz_ird_ok),
                ):
                    if kind in ids and ok(token) and not token.isdigit():
                        out.setdefault(kind, []).append(m.span())
                        break
            for m in _IBAN_IN.finditer(text):
                if is_iban(m.group()):
                    out.setdefault(Kind.iban, []).append(m.span())
            if "+" in text:
                for m in _PHONE_IN.finditer(text):
                    if phone_ok(m.group(), self.regions):
                        out.setdefault(Kind.phone, []).append(m.span())
        if "@" in text:
            for m in _EMAIL_IN.finditer(text):
                out.setdefault(Kind.email, []).append(m.span())
        return out


MAX_TEXT = 20_000  # characters of one text searched (a pasted value sits near the start)


def is_free_text(values: Iterable[object]) -> bool:
    """Whether a column's values read as prose: mostly strings of three words or more
    (letters only: an IBAN in groups is not prose), 24+ characters on average."""
    n = total = spaced = 0
    for v in values:
        if not isinstance(v, str):
            continue
        n += 1
        total += len(v)
        spaced += sum(1 for w in v.split() if len(w) >= 2 and w.isalpha()) >= 3
    return n > 0 and total / n >= 24 and spaced / n >= 0.5


def mask(value: str, limit: int = 40) -> str:
    """The shape of a value, never the value: letters become x, digits 9, other characters
    stay (an e-mail address reads xxx@xxxxxxx.xxx)."""
    out = []
    for ch in value[:limit]:
        if ch.isdigit():
            out.append("9")
        elif ch.isalpha():
            out.append("x")
        else:
            out.append(ch if ch in " .-@+:/()_'," else "*")
    return "".join(out) + ("..." if len(value) > limit else "")


def countries_for(regimes: Iterable[str], locations: Iterable[str]) -> frozenset[str]:
    """The countries of a policy's jurisdictions and allowed locations."""
    of = {"nz": "NZ", "pipeda": "CA", "uk_gdpr": "GB", "ccpa": "US", "au": "AU"}
    out = {of[r] for r in regimes if r in of}
    out |= {c for c in locations if len(c) == 2 and c != "EU"}
    return frozenset(out)
