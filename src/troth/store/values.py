"""The values troth stores about people, each tagged with its category, collection point,
purposes, source, policy version, location and time; read back (decrypted where the
policy made them sensitive) a subject at a time or in batches. Every row read is checked
against its seal first (:mod:`troth.store.seals`): one that does not match refuses the
whole read of its person with :class:`~troth.store.seals.RecordTampered`."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, select

from troth.context import Context
from troth.errors import NotFound
from troth.store.crypto import decrypt_value, unwrap_key
from troth.store.plain import plain_fields
from troth.store.seals import RecordTampered, check_row, seal_key, seal_matches, tampered
from troth.store.subject_seals import (
    check_subject,
    subject_matches,
    subject_seal_key,
    tampered_subject,
)
from troth.store.subjects import SUBJECT_COLUMNS, SubjectRow, no_such_subject
from troth.store.tables import RECORD_TAGS, records, subject_keys, subjects

__all__ = [
    "StoredValue",
    "decode_subject_rows",
    "read_subject",
    "read_subjects",
    "read_subjects_tags",
    "read_values",
    "subject_values_stmt",
]


@dataclass(frozen=True, slots=True)
class StoredValue:
    """One value as read back: plaintext (decrypted where needed) with its tags."""

    id: int
    field: str
    category: str
    value: Any
    collection_point: str | None
    purposes: tuple[str, ...]
    source: str
    supplier: str | None
    policy_version: str
    location: str
    collected_at: datetime
    restricted_to: str | None
    restricted_until: date | None

    def to_dict(self) -> dict[str, Any]:
        return plain_fields(self, omit=("id",), verbatim=("value",))


def read_values(
    conn: Connection,
    ctx: Context,
    subject_id: str,
    categories: Iterable[str] | None = None,
) -> list[StoredValue]:
    """Every value of a subject (optionally only some categories), decrypted; none for an
    unknown subject."""
    try:
        return read_subject(conn, ctx, subject_id, categories)[1]
    except NotFound:
        return []


# One statement reads a subject, their values and the wrapped keys those values need:
# the hot path of every use (built once, compiled once).
_VALUE_COLUMNS = (
    records.c.id.label("rid"),
    records.c.field,
    records.c.category,
    records.c.value,
    records.c.ciphertext,
    records.c.key_version,
    *RECORD_TAGS,
    subject_keys.c.kek_version,
    subject_keys.c.wrapped,
    # What the seal covers besides the above, and the seal (troth.store.seals).
    records.c.tenant_id.label("r_tenant_id"),
    records.c.anonymised,
    records.c.seal,
    # The person's own seal (troth.store.subject_seals), on every row.
    subjects.c.seal.label("s_seal"),
)

_N_SUBJECT_COLUMNS = len(SUBJECT_COLUMNS)
_N_VALUE_COLUMNS = len(_VALUE_COLUMNS)
_N_RECORD = _N_VALUE_COLUMNS - 1  # a value's columns: the last is its person's seal


def _values_stmt(extra_on: Any, where: Any, *order: Any) -> Any:
    """Subjects joined to their values (``extra_on``: only some of them) and the wrapped
    keys those values need, one row per value (a subject without values: one row)."""
    on = records.c.subject_id == subjects.c.id
    if extra_on is not None:
        on = and_(on, extra_on)
    return (
        select(*SUBJECT_COLUMNS, *_VALUE_COLUMNS)
        .select_from(
            subjects.outerjoin(records, on).outerjoin(
                subject_keys,
                and_(
                    subject_keys.c.subject_id == records.c.subject_id,
                    subject_keys.c.version == records.c.key_version,
                ),
            )
        )
        .where(where)
        .order_by(*order)
    )


def _subject_values_stmt(filtered: bool) -> Any:
    cats = records.c.category.in_(bindparam("cats", expanding=True)) if filtered else None
    return _values_stmt(cats, subjects.c.id == bindparam("sid"), records.c.id)


_SUBJECT_VALUES = {False: _subject_values_stmt(False), True: _subject_values_stmt(True)}


def read_subject(
    conn: Connection, ctx: Context, subject_id: str, categories: Iterable[str] | None = None
) -> tuple[SubjectRow, list[StoredValue]]:
    """A subject and their values (optionally only some categories), decrypted, in one
    query. NotFound when there is no such subject."""
    params: dict[str, Any] = {"sid": subject_id}
    if categories is not None:
        params["cats"] = list(categories)
    rows = conn.execute(_SUBJECT_VALUES[categories is not None], params).all()
    return decode_subject_rows(ctx, subject_id, rows)


def _subjects_values_stmt(by_field: bool) -> Any:
    fields = records.c.field.in_(bindparam("fields", expanding=True)) if by_field else None
    sids = subjects.c.id.in_(bindparam("sids", expanding=True))
    return _values_stmt(fields, sids, subjects.c.id, records.c.id)


_SUBJECTS_VALUES = {False: _subjects_values_stmt(False), True: _subjects_values_stmt(True)}


def read_subjects(
    conn: Connection,
    ctx: Context,
    subject_ids: Sequence[str],
    fields: Iterable[str] | None = None,
) -> dict[str, tuple[SubjectRow, list[StoredValue]]]:
    """Many subjects and their values (optionally only the named fields), decrypted, a
    query per 500 (bulk work); subjects that do not exist are absent from the result."""
    out: dict[str, tuple[SubjectRow, list[StoredValue]]] = {}
    ids = list(dict.fromkeys(subject_ids))
    extra: dict[str, Any] = {} if fields is None else {"fields": sorted(set(fields))}
    for start in range(0, len(ids), 500):
        params = {"sids": ids[start : start + 500], **extra}
        rows = conn.execute(_SUBJECTS_VALUES[fields is not None], params).all()
        by: dict[str, list[Any]] = {}
        for r in rows:
            by.setdefault(r[0], []).append(r)
        for sid, group in by.items():
            out[sid] = decode_subject_rows(ctx, sid, group)
    return out


def read_subjects_tags(
    conn: Connection, ctx: Context, subject_ids: Sequence[str]
) -> dict[str, tuple[SubjectRow, list[StoredValue]]]:
    """As :func:`read_subjects` without the values themselves (``value`` is None): the
    tags an erasure decides on (category, purposes, collected_at), each row checked
    against its seal, nothing decoded or decrypted. A value whose key is shredded is
    absent, as there."""
    out: dict[str, tuple[SubjectRow, list[StoredValue]]] = {}
    ids = list(dict.fromkeys(subject_ids))
    n = _N_SUBJECT_COLUMNS
    key, s_key = seal_key(ctx.keys), subject_seal_key(ctx.keys)
    for start in range(0, len(ids), 500):
        for r in conn.execute(_SUBJECTS_VALUES[False], {"sids": ids[start : start + 500]}):
            sid = r[0]
            if sid not in out:
                check_subject(s_key, r[:n], r[n + _N_RECORD])
                out[sid] = (SubjectRow(*r[:n]), [])
            (rid, field, category, value, ciphertext, key_version, point, purposes, source,
             supplier, policy_version, location, collected_at, restricted_to, restricted_until,
             _kek, wrapped, tenant, anonymised, seal) = r[n : n + _N_RECORD]  # fmt: skip
            if rid is None:
                continue
            if tenant != r[1]:  # sealed with another tenant than the person's
                raise tampered(rid, sid)
            check_row(key, rid, (sid, tenant, category, field, value, ciphertext, key_version,
                                 point, purposes, source, supplier, policy_version, location,
                                 collected_at, restricted_to, restricted_until, anonymised),
                      seal)  # fmt: skip
            if ciphertext is not None and wrapped is None:
                continue
            tags = (source, supplier, policy_version, location, collected_at, restricted_to)
            value = StoredValue(rid, field, category, None, point, tuple(purposes or ()),
                                *tags, restricted_until)  # fmt: skip
            out[sid][1].append(value)
    return out


def _tampered(ctx: Context, subject_id: str, rid: int, rows: Sequence[Any]) -> RecordTampered:
    """The error of a row that does not match its seal, unless the person's data keys say
    the key file is another home's (CryptoError ``wrong key file``, raised here): with
    another home's key file, no row matches."""
    m = _N_SUBJECT_COLUMNS
    wrapped = {(r[m + 15], r[m + 5]): r[m + 16] for r in rows if r[m + 16] is not None}
    for (kek_version, key_version), blob in wrapped.items():
        unwrap_key(ctx.keys.kek(kek_version), kek_version, subject_id, key_version, blob)
    return tampered(rid, subject_id)


def subject_values_stmt(filtered: bool) -> Any:
    """The statement behind :func:`read_subject` (bind ``sid``, and ``cats`` when
    ``filtered``), for callers that add columns of their own to the same round trip."""
    return _subject_values_stmt(filtered)


def decode_subject_rows(
    ctx: Context, subject_id: str, rows: Sequence[Any]
) -> tuple[SubjectRow, list[StoredValue]]:
    """Turn the rows of :func:`subject_values_stmt` into the subject and their values,
    decrypting what is encrypted (a shredded key means the value is gone)."""
    if not rows:
        raise no_such_subject(subject_id)
    n = _N_SUBJECT_COLUMNS
    # The person's row first: moved to another tenant, un-erased or unheld outside troth,
    # nothing of them is shown (troth.store.subject_seals).
    if not subject_matches(subject_seal_key(ctx.keys), rows[0][:n], rows[0][n + _N_RECORD]):
        _tampered(ctx, subject_id, 0, rows)  # another home's key file: CryptoError, said so
        raise tampered_subject(subject_id)
    subject = SubjectRow(*rows[0][:n])
    owner = subject.tenant_id
    deks: dict[int, bytes] = {}
    out: list[StoredValue] = []
    kek = ctx.keys.kek
    key = seal_key(ctx.keys)
    # By position (the order of _VALUE_COLUMNS after the subject's): rows may be Core
    # rows or the plain tuples of a Prepared statement. Unpacked and built inline: this
    # loop runs for every value of every use.
    for r in rows:
        (rid, field, category, value, ciphertext, key_version, point, purposes, source,
         supplier, policy_version, location, collected_at, restricted_to, restricted_until,
         kek_version, wrapped, tenant, anonymised, seal) = r[n : n + _N_RECORD]  # fmt: skip
        if rid is None:
            continue
        # Nothing of the person is shown when one of their rows was changed outside troth,
        # or was sealed with another tenant than the person's.
        if tenant != owner or not seal_matches(key, (subject_id, tenant, category, field,
                                  value, ciphertext, key_version, point, purposes, source, supplier,
                                  policy_version, location, collected_at, restricted_to,
                                  restricted_until, anonymised), seal):  # fmt: skip
            raise _tampered(ctx, subject_id, rid, rows)
        if ciphertext is not None:
            if wrapped is None:  # shredded: the value is gone for good
                continue
            dek = deks.get(key_version)
            if dek is None:
                dek = deks[key_version] = unwrap_key(
                    kek(kek_version), kek_version, subject_id, key_version, wrapped
                )
            plain = decrypt_value(
                dek, subject_id, field, key_version, ciphertext, category=category, point=point
            )
            value = json.loads(plain)
        elif value is not None:
            value = json.loads(value)
        out.append(StoredValue(rid, field, category, value, point, tuple(purposes or ()),
                               source, supplier, policy_version, location, collected_at,
                               restricted_to, restricted_until))  # fmt: skip
    return subject, out
