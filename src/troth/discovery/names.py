"""Column-name rules: what a column's name (and comment) says it holds, with synonyms,
abbreviations and a few languages (English, French, German, Spanish, Dutch, Maori)."""

from __future__ import annotations

import re

from troth.discovery.detectors import Kind

# Whole tokens of a snake_case / camelCase name, joined back for multi-token synonyms.
_SYNONYMS: dict[Kind, tuple[str, ...]] = {
    Kind.email: (
        "email", "e_mail", "mail", "email_address", "emailaddress", "courriel", "correo",
        "correo_electronico", "mel", "imera",
    ),
    Kind.phone: (
        "phone", "phone_number", "phone_no", "tel", "telephone", "telefon", "telefono",
        "telefoon", "mobile", "mobile_number", "mob", "cell", "cellphone", "msisdn", "fax",
        "portable", "handy", "movil", "caller", "callee", "destination_number", "waea",
    ),
    Kind.card: (
        "card", "card_number", "card_no", "cardnumber", "cc", "cc_number", "ccnum",
        "credit_card", "creditcard", "pan", "tarjeta", "carte", "carte_bancaire", "kreditkarte",
    ),
    Kind.iban: (
        "iban", "bank_account", "account_number", "acct_no", "bic_iban", "kontonummer",
        "rib", "cuenta", "rekeningnummer",
    ),
    Kind.ip: ("ip", "ip_address", "ipaddr", "ip_addr", "remote_addr", "client_ip", "ipv4", "ipv6"),
    Kind.dob: (
        "dob", "birth", "birthday", "birthdate", "birth_date", "date_of_birth", "born",
        "geburtsdatum", "date_naissance", "naissance", "fecha_nacimiento", "geboortedatum",
    ),
    Kind.postal_code: (
        "zip", "zipcode", "zip_code", "postcode", "post_code", "postal_code", "postalcode",
        "plz", "code_postal", "codigo_postal", "cp", "postcode_nl",
    ),
    Kind.us_ssn: ("ssn", "social_security", "social_security_number"),
    Kind.ca_sin: ("sin", "social_insurance", "social_insurance_number", "nas"),
    Kind.uk_ni: ("nin", "nino", "ni_number", "national_insurance", "national_insurance_number"),
    Kind.nz_ird: ("ird", "ird_number", "ird_no", "tax_number", "tax_id", "tin"),
    Kind.name: (
        "name", "full_name", "fullname", "first_name", "firstname", "fname", "given_name",
        "last_name", "lastname", "lname", "surname", "family_name", "middle_name", "nom",
        "prenom", "nombre", "apellido", "apellidos", "vorname", "nachname", "naam",
        "achternaam", "voornaam", "ingoa", "contact_name", "customer_name", "billing_name",
        "ship_name", "holder", "cardholder", "card_holder",
    ),
    Kind.address: (
        "address", "addr", "street", "street_address", "address_line", "address1",
        "address2", "line1", "line2", "adresse", "strasse", "rue", "calle", "direccion",
        "straat", "city", "town", "ville", "ciudad", "stadt", "suburb", "ship_address",
        "billing_address", "home_address", "wahi_noho",
    ),
}  # fmt: skip

# A name token after one of these is not a person's (product_name, host_name...).
_NOT_A_PERSON = frozenset(
    ("product", "company", "file", "host", "table", "column", "item", "sku", "brand",
     "category", "domain", "org", "organisation", "organization", "business", "server", "app",
     "plan", "tier", "device", "browser", "event", "project", "team", "role", "group", "tag",
     "key", "bucket", "queue", "topic", "job", "task", "site", "page", "store", "shop",
     "vendor", "supplier", "carrier")
)  # fmt: skip
# Columns whose names say "an id of ours", never personal on their own.
_TECHNICAL = re.compile(r"(^|_)(id|uuid|guid|hash|token|version|status|count|total|qty)$")

_INDEX: dict[str, Kind] = {syn: kind for kind, syns in _SYNONYMS.items() for syn in syns}
_MAX_WORDS = max(s.count("_") + 1 for syns in _SYNONYMS.values() for s in syns)


def tokens(name: str) -> list[str]:
    """``customerEmailAddress`` and ``customer_email_address`` alike, lower-case tokens."""
    snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name)
    return [t for t in re.split(r"[^a-z0-9]+", snake.lower()) if t]


def kind_of_name(name: str, comment: str | None = None) -> Kind | None:
    """The kind a column's name (or, failing that, its comment) says, if any; the longest
    synonym found wins (``ship_address`` over ``address``)."""
    found = _match(tokens(name))
    if found is None and comment:
        found = _match(tokens(comment))
    return found


def _match(toks: list[str]) -> Kind | None:
    if not toks or (_TECHNICAL.search("_".join(toks)) and not _strong_suffix(toks)):
        return None
    best: tuple[int, Kind] | None = None
    for size in range(min(_MAX_WORDS, len(toks)), 0, -1):
        for i in range(len(toks) - size + 1):
            joined = "_".join(toks[i : i + size])
            kind = _INDEX.get(joined)
            if kind is None:
                continue
            if kind is Kind.name and i > 0 and toks[i - 1] in _NOT_A_PERSON:
                continue
            if best is None or size > best[0]:
                best = (size, kind)
        if best is not None:
            return best[1]
    return None


def _strong_suffix(toks: list[str]) -> bool:
    # `ssn_hash` is still about an SSN; `ip_count` is not an IP address.
    return toks[-1] in ("hash",) and len(toks) > 1
