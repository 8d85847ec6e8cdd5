"""A person's contact address: the e-mail address they gave, found in their own values.

A value is an e-mail address when the policy says so
(:meth:`troth.policy.index.PolicyIndex.email_in`: the field its collection point declares
is marked ``identifies: email`` or is of type ``email``, and it holds an ``@``).
Notices of a disclosure, of a breach and of a list send all reach people through here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from sqlalchemy import Connection

from troth.context import Context
from troth.store.values import StoredValue, read_subjects

if TYPE_CHECKING:
    from troth.policy.index import PolicyIndex

__all__ = ["contact_address", "contact_addresses", "emails_in"]


def emails_in(index: PolicyIndex, values: Iterable[StoredValue]) -> list[str]:
    """The e-mail addresses among a person's ``values``, in their order."""
    return [
        address
        for v in values
        if (address := index.email_in(v.collection_point, v.field, v.value)) is not None
    ]


def contact_addresses(
    conn: Connection, ctx: Context, subject_ids: Sequence[str]
) -> dict[str, str | None]:
    """Each person's contact address (the last e-mail address they gave; None: none, or
    no such person), only their e-mail fields read, many people at a time."""
    idx = ctx.policy
    out: dict[str, str | None] = dict.fromkeys(subject_ids)
    for sid, (_subj, values) in read_subjects(conn, ctx, subject_ids, idx.email_fields()).items():
        emails = emails_in(idx, values)
        if emails:
            out[sid] = emails[-1]
    return out


def contact_address(conn: Connection, ctx: Context, subject_id: str) -> str | None:
    """The person's contact address (the last e-mail address they gave), or None."""
    return contact_addresses(conn, ctx, [subject_id])[subject_id]
