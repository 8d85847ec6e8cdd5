"""Ids typed by people: a whole id, a unique prefix of one, or the short form a page shows
(``…`` and the id's last characters).

troth's ids are 32 hex characters whose head is the time they were made, so ids made the
same day share a long prefix; the tail is what tells them apart, and what the console
shows. Either works wherever a command takes an id: an unknown one is a NotFound, an
ambiguous one a ValidationError saying how many ids it matches.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

from sqlalchemy import Connection, Engine, func, or_, select

from troth.errors import NotFound, ValidationError

MIN_PREFIX = 4
_TYPED = re.compile(r"(?:\u2026|\.\.\.)?[0-9A-Za-z_-]{1,64}")


# Each kind of id: the module and table that hold it, its column first and then any other
# column people may type (imported when first asked for: a command reads one kind).
_ID_COLUMNS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "subject": ("troth.store.tables", "subjects", ("id",)),
    "tenant": ("troth.store.tables", "tenants", ("id", "name")),
    "request": ("troth.requests.tables", "requests", ("id",)),
    "breach": ("troth.breaches.register", "breaches", ("id",)),
    "grant": ("troth.access.tables", "support_grants", ("id",)),
    "key": ("troth.access.tables", "api_keys", ("id", "prefix")),
    "user": ("troth.access.tables", "users", ("id",)),
    "demand": ("troth.disclosures.tables", "legal_demands", ("id",)),
    "hold": ("troth.retention.service", "legal_holds", ("id",)),
    "receipt": ("troth.consent.tables", "consent_receipts", ("receipt_id",)),
}

KINDS = tuple(_ID_COLUMNS)


def _columns(kind: str) -> list[Any]:
    """The id column (and any other column people may type) of each kind of id."""
    if kind not in _ID_COLUMNS:
        raise ValueError(f"unknown kind of id {kind!r}")
    module, table, names = _ID_COLUMNS[kind]
    found = getattr(importlib.import_module(module), table)
    return [found.c[n] for n in names]


def resolve_id(conn: Connection, kind: str, typed: str) -> str:
    """The one id of ``kind`` that ``typed`` names (see the module's docstring)."""
    columns = _columns(kind)
    text = typed.strip()
    key = columns[0]
    for col in columns:  # a whole id (a key's prefix, a tenant's name) is taken as it is
        hit = conn.execute(select(key).where(col == text).limit(2)).scalars().all()
        if len(hit) == 1:
            return str(hit[0])
    if kind == "tenant":
        columns = columns[:1]  # a tenant's name is taken whole, never by a part of it
    if not _TYPED.fullmatch(text):
        raise NotFound(
            f"no {kind} {text!r}: give its id, a unique start of it, or …TAIL as shown",
            code=f"unknown_{kind}",
        )
    if text.startswith(("\u2026", "...")):
        tail = text.lstrip(".\u2026")
        if len(tail) < MIN_PREFIX:
            raise ValidationError(f"give at least {MIN_PREFIX} characters of the {kind} id")
        where = or_(*(func.substr(c, func.length(c) - len(tail) + 1) == tail for c in columns))
    else:
        if len(text) < MIN_PREFIX:
            raise ValidationError(f"give at least {MIN_PREFIX} characters of the {kind} id")
        # A range, not LIKE: every database walks the id's index for it.
        upper = text[:-1] + chr(ord(text[-1]) + 1)
        where = or_(*((c >= text) & (c < upper) for c in columns))
    found = conn.execute(select(key).where(where).limit(11)).scalars().all()
    if not found:
        raise NotFound(
            f"no {kind} {text!r}: it is not an id of any {kind}, nor the start of one",
            code=f"unknown_{kind}",
        )
    if len(found) > 1:
        many = "more than 10" if len(found) > 10 else str(len(found))
        raise ValidationError(
            f"{text!r} matches {many} {kind} ids ({', '.join(str(f) for f in found[:3])}"
            f"{', ...' if len(found) > 3 else ''}): give more characters",
            code="ambiguous_id",
        )
    return str(found[0])


def resolve_id_in(engine: Engine, kind: str, typed: str) -> str:
    """:func:`resolve_id` in its own connection to ``engine``."""
    with engine.connect() as conn:
        return resolve_id(conn, kind, typed)
