# ruff: noqa: E501
"""A seeded, labelled corpus for discovery: 24 tables over three databases (a shop on
SQLite, a help desk on PostgreSQL, a telephone and payroll system on MariaDB) with
declared, undeclared, mislabelled and decoy columns, and the datasets file that declares
part of it.

Every column has a label: the built-in category it really holds, or None (decoys: order
numbers that look like phones, 16-digit ids that fail Luhn, versions, SKUs, recent dates,
four-digit codes). Free-text columns are labelled apart: which rows have a card or a
national id pasted in. The generator is deterministic for a seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import phonenumbers
import sqlalchemy as sa

FIRST = ["Ana", "Ben", "Chloe", "Dev", "Eru", "Fatima", "George", "Hana", "Ivan", "Jules",
         "Kiri", "Liam", "Mere", "Noah", "Olivia", "Priya", "Quinn", "Rangi", "Sofia", "Tane"]  # fmt: skip
LAST = ["Smith", "Ngata", "Tremblay", "Patel", "Jones", "Williams", "Roy", "Walker", "Kaur",
        "Brown", "Wilson", "Gagnon", "Taylor", "Parata", "Martin", "Lee", "Singh", "Clarke"]  # fmt: skip
STREETS = ["Queen Street", "Rue Sainte-Catherine", "High Street", "Main St", "Lambton Quay",
           "Maple Avenue", "King Road", "Elm Drive"]  # fmt: skip
DOMAINS = ["example.com", "mail.example.org", "example.co.nz", "example.ca"]
TODAY = date(2026, 3, 2)

# The category each labelled kind is (what discovery must answer).
CATEGORY = {
    "email": "contact",
    "phone": "contact",
    "postal_code": "contact",
    "address": "contact",
    "name": "identity",
    "card": "payment_card",
    "iban": "financial",
    "ip": "technical",
    "dob": "demographic",
    "nz_ird": "government_id",
    "ca_sin": "government_id",
    "uk_ni": "government_id",
    "us_ssn": "government_id",
}


# -- values --------------------------------------------------------------------------------
def _luhn_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


class Values:
    def __init__(self, rng: random.Random) -> None:
        self.r = rng

    def digits(self, n: int) -> str:
        return "".join(self.r.choice("0123456789") for _ in range(n))

    def name(self) -> str:
        return f"{self.r.choice(FIRST)} {self.r.choice(LAST)}"

    def email(self) -> str:
        f, last = self.r.choice(FIRST).lower(), self.r.choice(LAST).lower()
        return f"{f}.{last}{self.r.randint(1, 999)}@{self.r.choice(DOMAINS)}"

    def phone(self) -> str:
        region = self.r.choice(["NZ", "CA", "GB", "US"])
        while True:
            ex = phonenumbers.example_number_for_type(
                region,
                self.r.choice(
                    [phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE]
                ),
            )
            assert ex is not None
            national = str(ex.national_number)
            keep = max(3, len(national) - 4)
            cand = national[:keep] + self.digits(len(national) - keep)
            num = phonenumbers.parse("+" + str(ex.country_code) + cand, None)
            if phonenumbers.is_valid_number(num):
                break
        fmt = self.r.choice([phonenumbers.PhoneNumberFormat.E164,
                             phonenumbers.PhoneNumberFormat.INTERNATIONAL,
                             phonenumbers.PhoneNumberFormat.NATIONAL])  # fmt: skip
        return phonenumbers.format_number(num, fmt)

    def card(self, group: bool | None = None) -> str:
        prefix, n = self.r.choice([("4", 16), ("51", 16), ("55", 16), ("37", 15), ("6011", 16),
                                   ("2221", 16), ("4", 13)])  # fmt: skip
        body = prefix + self.digits(n - len(prefix) - 1)
        num = body + _luhn_digit(body)
        if group if group is not None else self.r.random() < 0.5:
            sep = self.r.choice([" ", "-"])
            return sep.join(num[i : i + 4] for i in range(0, len(num), 4))
        return num

    def not_a_card(self) -> str:
        """16 digits that start like a Visa number but fail Luhn."""
        body = "4" + self.digits(14)
        good = _luhn_digit(body)
        return body + str((int(good) + 1 + self.r.randint(0, 8)) % 10)

    def iban(self) -> str:
        cc, n = self.r.choice([("GB", 22), ("DE", 22), ("FR", 27), ("NL", 18)])
        if cc == "GB":
            bban = "NWBK" + self.digits(14)
        elif cc == "NL":
            bban = "ABNA" + self.digits(10)
        else:
            bban = self.digits(n - 4)
        moved = bban + cc + "00"
        check = 98 - int("".join(str(int(ch, 36)) for ch in moved)) % 97
        s = f"{cc}{check:02d}{bban}"
        if self.r.random() < 0.5:
            return " ".join(s[i : i + 4] for i in range(0, len(s), 4))
        return s

    def ip(self) -> str:
        if self.r.random() < 0.8:
            return ".".join(str(self.r.randint(1, 254)) for _ in range(4))
        return "2001:db8:" + ":".join(f"{self.r.randint(0, 65535):x}" for _ in range(6))

    def dob(self) -> date:
        return date(1945, 1, 1) + timedelta(days=self.r.randint(0, 365 * 60))

    def recent(self) -> date:
        return TODAY - timedelta(days=self.r.randint(0, 700))

    def stamp(self) -> datetime:
        return datetime(2025, 1, 1) + timedelta(minutes=self.r.randint(0, 600_000))

    def postcode(self, country: str) -> str:
        r = self.r
        if country == "GB":
            return (f"{r.choice('ABCDEGHKLMNPRSTW')}{r.choice('ABCDEFGHKLMNPRSTUWY')}{r.randint(1, 9)}"
                    f" {r.randint(0, 9)}{r.choice('ABDEFGHJLNPQRSTUWXYZ')}{r.choice('ABDEFGHJLNPQRSTUWXYZ')}")  # fmt: skip
        if country == "CA":
            a, b = "ABCEGHJKLMNPRSTVXY", "ABCEGHJKLMNPRSTVWXYZ"
            return f"{r.choice(a)}{r.randint(0, 9)}{r.choice(b)} {r.randint(0, 9)}{r.choice(b)}{r.randint(0, 9)}"
        if country == "US":
            return self.digits(5)
        return f"{r.randint(1000, 9999)}"

    def address(self) -> str:
        return f"{self.r.randint(1, 400)} {self.r.choice(STREETS)}"

    def nz_ird(self) -> str:
        while True:
            base = f"{self.r.randint(10_000_000, 14_999_999) // 10:08d}"
            base = base.zfill(8)
            for weights in ((3, 2, 7, 6, 5, 4, 3, 2), (7, 4, 3, 2, 5, 2, 7, 6)):
                rem = sum(int(d) * w for d, w in zip(base, weights, strict=True)) % 11
                got = 0 if rem == 0 else 11 - rem
                if got != 10:
                    break
            if got == 10:
                continue
            s = base + str(got)
            return f"{s[:3]}-{s[3:6]}-{s[6:]}"

    def ca_sin(self) -> str:
        body = self.r.choice("1234567") + self.digits(7)
        s = body + _luhn_digit(body)
        return f"{s[:3]} {s[3:6]} {s[6:]}"

    def uk_ni(self) -> str:
        a, b = "ABCEGHJKLMNOPRSTWXYZ", "ABCEGHJKLMNPRSTWXYZ"
        while True:
            p = self.r.choice(a) + self.r.choice(b)
            if p not in ("BG", "GB", "KN", "NK", "NT", "TN", "ZZ"):
                break
        return f"{p}{self.digits(6)}{self.r.choice('ABCD')}"

    def us_ssn(self) -> str:
        return f"{self.r.randint(1, 665):03d}-{self.r.randint(1, 99):02d}-{self.r.randint(1, 9999):04d}"

    def note(self, pasted: str | None) -> str:
        words = ["customer", "asked", "about", "the", "invoice", "and", "delivery", "was", "late",
                 "please", "call", "back", "refund", "approved", "by", "supervisor", "thanks"]  # fmt: skip
        text = " ".join(self.r.choice(words) for _ in range(self.r.randint(8, 25)))
        if pasted == "card":
            text += f" card {self.card(group=self.r.random() < 0.7)} exp 04/28"
        elif pasted == "decoy":
            text += f" order ref {self.not_a_card()}"
        elif pasted == "ssn":
            text += f" my ssn is {self.us_ssn()}"
        return text.capitalize()


# -- the corpus ----------------------------------------------------------------------------
@dataclass
class Col:
    name: str
    type: Any
    make: str  # a Values method, or a decoy maker below
    label: str | None  # the kind it really is (CATEGORY maps it), None for decoys
    declared: str | None = None  # the category the datasets file gives it ("-" = listed)
    arg: Any = None


@dataclass
class Tab:
    name: str
    cols: list[Col]
    declared: bool = True  # the table is in the datasets file
    notes: Col | None = None  # a free-text column: which rows get a pasted card
    rows_with_pasted: set[int] = field(default_factory=set)


def _decoy(v: Values, kind: str) -> Any:
    r = v.r
    if kind == "order_no":  # bare digits, phone-length
        return str(r.randint(2_000_000_000, 2_099_999_999))
    if kind == "ref16":
        return v.not_a_card()
    if kind == "sku":
        return f"SKU-{r.randint(10000, 99999)}"
    if kind == "version":
        return f"{r.randint(1, 9)}.{r.randint(0, 30)}.{r.randint(0, 99)}"
    if kind == "status":
        return r.choice(["open", "closed", "pending", "shipped"])
    if kind == "amount":
        return r.randint(100, 99999) / 100
    if kind == "code4":
        return f"{r.randint(1000, 9999)}"
    if kind == "product":
        return f"{r.choice(['Widget', 'Gadget', 'Router', 'Plan'])} {r.choice(['Pro', 'Lite', 'Max'])} {r.randint(1, 9000)}"
    if kind == "ref9":
        return v.digits(9)
    if kind == "tracking":
        return f"1Z{v.digits(4)}{r.choice('ABCDEFGH')}{r.choice('ABCDEFGH')}{v.digits(10)}"
    if kind == "uuid":
        return "".join(r.choice("0123456789abcdef") for _ in range(32))
    raise AssertionError(kind)


def _value(v: Values, col: Col) -> Any:
    if col.label is None:
        return _decoy(v, col.make)
    if col.make == "postcode":
        return v.postcode(col.arg)
    if col.make == "dob_text":
        return v.dob().isoformat()
    return getattr(v, col.make)()


S, T, D, DT, INT = sa.String(120), sa.Text, sa.Date, sa.DateTime, sa.Integer


def _c(name: str, make: str, label: str | None, declared: str | None = None, *,
       type_: Any = S, arg: Any = None) -> Col:  # fmt: skip
    return Col(name, type_, make, label, declared, arg)


def _d(name: str, kind: str, type_: Any = S, declared: str | None = None) -> Col:
    return Col(name, type_, kind, None, declared)


SHOP = [  # SQLite
    Tab("customers", [_c("email", "email", "email", "contact"), _c("full_name", "name", "name", "identity"),
                      _c("mobile", "phone", "phone", "contact"), _c("birth_date", "dob", "dob", type_=D),
                      _c("alt_email", "email", "email"), _d("status", "status")]),
    Tab("addresses", [_c("street", "address", "address", "contact"), _c("postcode", "postcode", "postal_code", "contact", arg="GB"),
                      _c("zip", "postcode", "postal_code", arg="US"), _d("warehouse_code", "code4")]),
    Tab("orders", [_d("order_no", "order_no"), _d("total", "amount", sa.Numeric(10, 2)), _d("placed_on", "order_no", D),
                   _c("ship_name", "name", "name", "identity"), _d("tracking_number", "tracking")]),
    Tab("payments", [_c("card_number", "card", "card", "payment_card"), _d("account_ref", "ref16"),
                     _d("amount", "amount", sa.Numeric(10, 2)), _c("iban", "iban", "iban")]),
    Tab("products", [_d("sku", "sku"), _d("product_name", "product"), _d("price", "amount", sa.Numeric(10, 2)),
                     _d("version", "version")], declared=False),
    Tab("web_sessions", [_c("client_ip", "ip", "ip"), _d("session_key", "uuid"), _d("started_at", "x", DT)], declared=False),
    Tab("newsletter", [_c("contact", "email", "email", "technical"), _d("list_code", "code4")]),
    Tab("order_notes", [_d("ticket_ref", "order_no")], notes=_c("body", "note", None, type_=T)),
]  # fmt: skip
HELPDESK = [  # PostgreSQL
    Tab("tickets", [_c("requester_email", "email", "email", "contact"), _c("requester_phone", "phone", "phone"),
                    _d("ticket_no", "order_no"), _d("state", "status")], notes=_c("description", "note", None, "support", type_=T)),
    Tab("agents", [_c("agent_name", "name", "name", "identity"), _c("extension_phone", "phone", "phone", "contact"),
                   _d("team_code", "code4")]),
    Tab("audit_ips", [_c("remote_addr", "ip", "ip", "technical"), _d("request_id", "uuid")]),
    Tab("kyc", [_c("ssn", "us_ssn", "us_ssn"), _c("sin", "ca_sin", "ca_sin"), _c("dob", "dob_text", "dob")], declared=False),
    Tab("refunds", [_c("refund_card", "card", "card"), _d("refund_ref", "ref16"), _d("amount", "amount", sa.Numeric(10, 2))]),
    Tab("satisfaction", [_d("score", "code4"), _d("survey_version", "version")], declared=False),
    Tab("callbacks", [_c("callback_number", "phone", "phone", "identity"), _d("slot", "order_no")]),
    Tab("kb_articles", [_d("slug", "sku"), _d("revision", "version")], notes=_c("body", "note", None, type_=T), declared=False),
]  # fmt: skip
TELEPHONY = [  # MariaDB
    Tab("subscribers", [_c("msisdn", "phone", "phone", "contact"), _c("email", "email", "email", "contact"),
                        _c("ird_number", "nz_ird", "nz_ird"), _c("postcode", "postcode", "postal_code", "contact", arg="CA")]),
    Tab("call_records", [_c("caller", "phone", "phone", "contact"), _c("destination", "phone", "phone"),
                         _d("duration_s", "code4", INT), _d("cdr_id", "uuid")]),
    Tab("payroll", [_c("ni_number", "uk_ni", "uk_ni"), _c("bank_iban", "iban", "iban"), _c("employee_name", "name", "name"),
                    _d("grade", "status")], declared=False),
    Tab("devices", [_c("last_ip", "ip", "ip", "technical"), _d("firmware_version", "version"), _d("imei_ref", "ref16")]),
    Tab("invoices", [_d("invoice_no", "order_no"), _c("billing_name", "name", "name", "identity"),
                     _c("billing_card", "card", "card", "payment_card"), _d("issued_on", "x", D)]),
    Tab("porting", [_c("old_number", "phone", "phone"), _d("carrier_ref", "ref9"), _d("batch", "code4")]),
    Tab("staff", [_c("staff_sin", "ca_sin", "ca_sin", "government_id"), _c("staff_email", "email", "email", "contact"),
                  _d("badge", "code4")]),
    Tab("tickets_archive", [_d("ticket_no", "order_no")], notes=_c("message", "note", None, "communications", type_=T)),
]  # fmt: skip

CORPUS = {"shop": SHOP, "helpdesk": HELPDESK, "telephony": TELEPHONY}
DIALECT = {"shop": "sqlite", "helpdesk": "postgresql", "telephony": "mariadb"}


def labels(name: str) -> dict[tuple[str, str], str | None]:
    """(table, column) -> the category it really holds (None for decoys and keys), for the
    structured columns of dataset ``name``."""
    out: dict[tuple[str, str], str | None] = {}
    for t in CORPUS[name]:
        out[(t.name, "id")] = None
        for c in t.cols:
            out[(t.name, c.name)] = CATEGORY[c.label] if c.label else None
    return out


def free_text(name: str) -> dict[tuple[str, str], bool]:
    """(table, column) -> whether a sensitive value is pasted into some of its rows."""
    return {(t.name, t.notes.name): True for t in CORPUS[name] if t.notes is not None}


def build(name: str, url: str, rows: int = 300, seed: int = 7) -> None:
    """Create dataset ``name``'s tables at ``url`` and fill them (deterministic)."""
    rng = random.Random(f"{seed}:{name}")
    v = Values(rng)
    md = sa.MetaData()
    tables = []
    for t in CORPUS[name]:
        cols = [sa.Column("id", sa.Integer, primary_key=True, autoincrement=False)]
        cols += [sa.Column(c.name, c.type) for c in t.cols]
        if t.notes is not None:
            cols.append(sa.Column(t.notes.name, sa.Text))
        tables.append((t, sa.Table(t.name, md, *cols)))
    engine = sa.create_engine(url)
    try:
        md.drop_all(engine)
        md.create_all(engine)
        with engine.begin() as conn:
            for t, table in tables:
                batch = []
                for i in range(rows):
                    row: dict[str, Any] = {"id": i + 1}
                    for c in t.cols:
                        if c.make == "x":
                            row[c.name] = v.stamp() if c.type is DT else v.recent()
                        elif c.type is D and c.label is None:
                            row[c.name] = v.recent()
                        elif c.type is INT:
                            row[c.name] = rng.randint(1, 3600)
                        else:
                            row[c.name] = _value(v, c)
                    if t.notes is not None:
                        # One row in ten has a card (or an SSN) pasted in, one in ten a decoy
                        # 16-digit reference that fails Luhn.
                        roll = rng.random()
                        kind = "card" if roll < 0.07 else "ssn" if roll < 0.1 else (
                            "decoy" if roll < 0.2 else None)  # fmt: skip
                        if i == 0:
                            kind = "card"
                        row[t.notes.name] = v.note(kind)
                    batch.append(row)
                conn.execute(table.insert(), batch)
    finally:
        engine.dispose()


def declaration(name: str, url_env: str) -> dict[str, Any]:
    """The datasets-file entry for ``name``: the declared tables with the declared columns
    (some mislabelled, some left out); every table links to nothing and is reached by its
    own ``id`` (declared as a customer id)."""
    tables: dict[str, Any] = {}
    for t in CORPUS[name]:
        if not t.declared:
            continue
        columns: dict[str, Any] = {"id": None}
        for c in t.cols:
            if c.declared:
                columns[c.name] = {"category": c.declared, "erase": "set_null"}
        if t.notes is not None and t.notes.declared:
            columns[t.notes.name] = {"category": t.notes.declared, "erase": "set_null"}
        tables[t.name] = {
            "primary_key": "id",
            "identity": {"customer_id": "id"},
            "erase": "delete_row",
            "columns": columns,
        }
    return {"name": name, "url_env": url_env, "tables": tables}
