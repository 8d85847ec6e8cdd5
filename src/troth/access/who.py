"""Who acted on a person's data, in the words the person reads (the privacy centre's "Who
accessed your data", the "who" of their access export's log and of their requests'
events: :func:`told_who`): the vendor's staff by their role's team, its administrators,
its own systems (an API key bound to no customer) and troth itself as "we"; a customer's
staff (its admins and members) and a customer's systems (an API key bound to it) by the
customer's name, so a person never reads that the vendor looked when their employer's HR
system did (trial #15 F2, #16 D4), nor which member of staff looked (trial #19 F6).

:func:`who_acted` builds the words from what :class:`Acting` says of an audit entry's
actor; :func:`acting_in` reads that from the access tables, each actor once."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from troth.access.seals import row_matches
from troth.access.tables import api_keys, users
from troth.context import Context
from troth.db import reading
from troth.policy.index import PolicyIndex
from troth.store.tables import tenants

_MEMBERS = ("tenant_admin", "tenant_member")


@dataclass(frozen=True, slots=True)
class Acting:
    """What the words need of an actor: a staff member's role; for a customer's member or
    an API key, whether it is bound to a customer and that customer's name (None when its
    row cannot be trusted: changed outside troth)."""

    role: str | None = None
    bound: bool = False
    customer: str | None = None


def who_acted(
    label: str, subject_id: str, index: PolicyIndex, acting: Callable[[str], Acting]
) -> str:
    """The subject of a sentence about an audit entry whose actor is ``label``
    (``kind:id``), told to the person ``subject_id``."""
    kind, _, ident = label.partition(":")
    if kind == "subject":
        return "You" if ident == subject_id else "Someone else"
    if kind == "staff":
        role = acting(label).role
        if role and role in index.roles:
            return f"Our {role.replace('_', ' ')} team"
        return "A member of our staff"
    if kind == "vendor_admin":
        return "Our administrators"
    if kind in _MEMBERS:
        return f"{_whose(acting(label).customer)} staff"
    if kind == "application":
        found = acting(label)
        return f"{_whose(found.customer)} systems" if found.bound else "Our systems"
    return "We"


def told_who(
    row: Mapping[str, Any],
    subject_id: str,
    index: PolicyIndex,
    acting: Callable[[str], Acting],
) -> dict[str, Any]:
    """A copy of ``row`` (an entry of the person's log, an event of their request) as the
    person reads it: its ``actor`` label replaced by ``who`` (:func:`who_acted`).
    Every copy a person gets says who acted this way and never by the label, which names
    the member of staff (``staff:rui@safemod``: trial #19 F6)."""
    return {
        ("who" if k == "actor" else k): (
            who_acted(str(v), subject_id, index, acting) if k == "actor" else v
        )
        for k, v in row.items()
    }


def _whose(customer: str | None) -> str:
    return f"{customer}'s" if customer else "Your organisation's"


def acting_in(ctx: Context) -> Callable[[str], Acting]:
    """:class:`Acting` for an actor's label, read from the accounts, API keys and
    customers (each label once): an account or key unknown here (an actor asserted on the
    command line, ``app:shop``) is the vendor's."""
    seen: dict[str, Acting] = {}

    def acting(label: str) -> Acting:
        if label not in seen:
            seen[label] = _read(ctx, label)
        return seen[label]

    return acting


def _read(ctx: Context, label: str) -> Acting:
    kind, _, ident = label.partition(":")
    with reading(ctx.engine) as conn:
        if kind == "application":
            row: Any = conn.execute(select(api_keys).where(api_keys.c.id == ident)).first()
            if row is None or row.tenant_id is None:
                return Acting()
            trusted = row_matches(ctx.keys, api_keys, row)
            return Acting(bound=True, customer=_name(ctx, conn, row.tenant_id, trusted))
        if kind in ("staff", *_MEMBERS):
            row = conn.execute(select(users).where(users.c.id == ident)).first()
            if row is None:
                return Acting()
            if kind == "staff":
                return Acting(role=row.role)
            trusted = row_matches(ctx.keys, users, row)
            return Acting(bound=True, customer=_name(ctx, conn, row.tenant_id, trusted))
    return Acting()


def _name(ctx: Context, conn: Any, tenant_id: str | None, trusted: bool) -> str | None:
    """The customer's name, when the credential's row and the customer's match their
    seals (a name a database writer put there is not shown)."""
    if not trusted or tenant_id is None:
        return None
    row = conn.execute(select(tenants).where(tenants.c.id == tenant_id)).first()
    if row is None or not row_matches(ctx.keys, tenants, row):
        return None
    return str(row.name)
