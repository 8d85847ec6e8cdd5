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
    "hold": ("troth.retention.tables", "legal_holds", ("id",)),
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


def resolve_id(conn: Connection, kind: str, typed: str, *, tenant_id: str | None = None) -> str:
    """The one id of ``kind`` that ``typed`` names (see the module's docstring). A tenant
    is also named by its whole name; a name two tenants share, or one tenant's name that is
    also the start of another's id, names no one (``ambiguous_id``), never one of them.
    With ``tenant_id`` (a person, for a caller bound to that tenant): only that tenant's
    people are weighed, so that another tenant's ids are never matched nor listed; a tenant,
    for a caller bound to ``tenant_id``: only that one (another is answered as an unknown
    one, word for word)."""
    columns = _columns(kind)
    text = typed.strip()
    key = columns[0]
    scope = []
    if tenant_id is not None:
        scope = [(key if kind == "tenant" else key.table.c.tenant_id) == tenant_id]
    named: list[str] = []
    for col in columns:  # a whole id (a key's prefix) is taken as it is
        hit = conn.execute(select(key).where(col == text, *scope).limit(11)).scalars().all()
        if kind == "tenant" and col is not key:
            named = [str(h) for h in hit]  # names are not unique: weighed with the rest
        elif len(hit) == 1:
            return str(hit[0])
    if kind == "tenant":
        columns = columns[:1]  # a tenant's name is taken whole, never by a part of it
    if kind == "tenant" and not named and not _could_be_id(text):
        raise NotFound(
            f"no tenant {text!r}: no tenant has that name (a name is taken whole and exactly),"
            f" nor is it an id or a start of one (at least {MIN_PREFIX} characters);"
            " `troth tenants list` shows them",
            code="unknown_tenant",
        )
    found = list(named)
    if not named or _could_be_id(text):
        found += [f for f in _started(conn, kind, columns, text, scope) if f not in found]
    if not found:
        raise NotFound(
            f"no {kind} {text!r}: it is not an id of any {kind}, nor the start of one",
            code=f"unknown_{kind}",
        )
    if len(found) > 1:
        many = "more than 10" if len(found) > 10 else str(len(found))
        ids = ", ".join(found[:3]) + (", ..." if len(found) > 3 else "")
        raise ValidationError(
            f"{text!r} names {many} {kind}s ({ids}), by name or by the start of the id:"
            f" give one {kind}'s id or a unique start of it (`troth tenants list` shows them)"
            if named
            else f"{text!r} matches {many} {kind} ids ({ids}): give more characters",
            code="ambiguous_id",
        )
    return found[0]


def _could_be_id(text: str) -> bool:
    """Whether ``text`` has the shape of a start (or ``…tail``) of an id."""
    return bool(_TYPED.fullmatch(text)) and len(text.lstrip(".\u2026")) >= MIN_PREFIX


def _started(
    conn: Connection, kind: str, columns: list[Any], text: str, scope: list[Any]
) -> list[str]:
    """The ids (at most 11) whose ``columns`` start (or, for ``…TAIL``, end) with ``text``;
    a text of another shape is a NotFound, one too short a ValidationError."""
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
    found = conn.execute(select(columns[0]).where(where, *scope).limit(11)).scalars()
    return [str(f) for f in found]


def resolve_id_in(engine: Engine, kind: str, typed: str, *, tenant_id: str | None = None) -> str:
    """:func:`resolve_id` in its own connection to ``engine``."""
    with engine.connect() as conn:
        return resolve_id(conn, kind, typed, tenant_id=tenant_id)
