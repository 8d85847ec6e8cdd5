"""Ids typed by people: a whole id, a unique prefix of one, or the short form a page shows
(``…`` and the id's last characters).

troth's ids are 32 hex characters whose head is the time they were made, so ids made the
same day share a long prefix; the tail is what tells them apart, and what the console
shows. Either works wherever a command takes an id: an unknown one is a NotFound, an
ambiguous one a ValidationError saying how many ids it matches.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Connection, Engine, func, or_, select

from troth.errors import NotFound, ValidationError

MIN_PREFIX = 4
_TYPED = re.compile(r"(?:\u2026|\.\.\.)?[0-9A-Za-z_-]{1,64}")


def _columns(kind: str) -> list[Any]:
    """The id column (and any other column people may type) of each kind of id."""
    if kind == "subject":
        from troth.store.tables import subjects

        return [subjects.c.id]
    if kind == "tenant":
        from troth.store.tables import tenants

        return [tenants.c.id, tenants.c.name]
    if kind == "request":
        from troth.requests.tables import requests

        return [requests.c.id]
    if kind == "breach":
        from troth.breaches.tables import breaches

        return [breaches.c.id]
    if kind == "grant":
        from troth.access.tables import support_grants

        return [support_grants.c.id]
    if kind == "key":
        from troth.access.tables import api_keys

        return [api_keys.c.id, api_keys.c.prefix]
    if kind == "user":
        from troth.access.tables import users

        return [users.c.id]
    if kind == "demand":
        from troth.disclosures.tables import legal_demands

        return [legal_demands.c.id]
    if kind == "hold":
        from troth.retention.tables import legal_holds

        return [legal_holds.c.id]
    if kind == "receipt":
        from troth.consent.tables import consent_receipts

        return [consent_receipts.c.receipt_id]
    raise ValueError(f"unknown kind of id {kind!r}")


KINDS = (
    "subject",
    "tenant",
    "request",
    "breach",
    "grant",
    "key",
    "user",
    "demand",
    "hold",
    "receipt",
)


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
