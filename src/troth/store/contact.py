"""A person's contact address: the e-mail address they gave, found in their own values.

A value is an e-mail address when the field its collection point declares is marked
``identifies: email`` or is of type ``email``, and it looks like one (holds an ``@``).
Notices of a disclosure, of a breach and of a list send all reach people through here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from sqlalchemy import Connection

from troth.context import Context
from troth.store import StoredValue, read_subjects

if TYPE_CHECKING:
    from troth.policy.index import PolicyIndex
    from troth.policy.model import CollectedField

__all__ = ["contact_address", "contact_addresses", "email_fields", "emails_in", "is_email_field"]


def is_email_field(spec: CollectedField | None) -> bool:
    """Whether a collected field holds the person's e-mail address."""
    return spec is not None and (spec.identifies == "email" or spec.type.value == "email")


def email_fields(index: PolicyIndex) -> set[str]:
    """The names of the fields any collection point marks as an e-mail address."""
    return {
        name
        for per in index.point_fields.values()
        for name, spec in per.items()
        if is_email_field(spec)
    }


def emails_in(index: PolicyIndex, values: Iterable[StoredValue]) -> list[str]:
    """The e-mail addresses among a person's ``values``, in their order."""
    found = []
    for v in values:
        spec = index.point_fields.get(v.collection_point or "", {}).get(v.field)
        if is_email_field(spec) and isinstance(v.value, str) and "@" in v.value:
            found.append(v.value)
    return found


def contact_addresses(
    conn: Connection, ctx: Context, subject_ids: Sequence[str]
) -> dict[str, str | None]:
    """Each person's contact address (the last e-mail address they gave; None: none, or
    no such person), only their e-mail fields read, many people at a time."""
    idx = ctx.policy
    out: dict[str, str | None] = dict.fromkeys(subject_ids)
    for sid, (_subj, values) in read_subjects(conn, ctx, subject_ids, email_fields(idx)).items():
        emails = emails_in(idx, values)
        if emails:
            out[sid] = emails[-1]
    return out


def contact_address(conn: Connection, ctx: Context, subject_id: str) -> str | None:
    """The person's contact address (the last e-mail address they gave), or None."""
    return contact_addresses(conn, ctx, [subject_id])[subject_id]
