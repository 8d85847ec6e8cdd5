"""troth's own personal-data store: subjects, tenants, tagged records, encrypted where the
policy says the category is sensitive."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, and_, bindparam, delete, select, update

from troth.collection.phones import region_for
from troth.context import Context
from troth.errors import NotFound
from troth.store.crypto import decrypt_value, unwrap_key
from troth.store.keystore import shred_subject_keys
from troth.store.tables import (
    policy_notices,
    policy_versions,
    records,
    subject_keys,
    subjects,
    tenants,
)

if TYPE_CHECKING:
    from troth.keys import Keyring

__all__ = [
    "StoredValue",
    "SubjectRow",
    "blind_index_lookup",
    "decode_subject_rows",
    "erase_subject_data",
    "find_subject",
    "find_subject_id",
    "get_subject",
    "lookup_subject",
    "lookup_subject_id",
    "lookup_subject_in",
    "new_id",
    "policy_notices",
    "policy_versions",
    "read_subject",
    "read_values",
    "records",
    "short_id",
    "subject_keys",
    "subject_values_stmt",
    "subjects",
    "tenants",
]


def new_id() -> str:
    """An unguessable, time-ordered 32-hex-character id: 48 bits of Unix milliseconds,
    then 80 random bits (the layout of an RFC 9562 UUIDv7, without its version bits).

    Ids made later sort later, so inserts land at the right-hand edge of every index keyed
    by them (records by subject, keys, requests) instead of on a random page each: at
    10M people that is the difference between appending and rewriting the whole index.
    The price is that an id tells when it was made, to the millisecond."""
    return f"{time.time_ns() // 1_000_000:012x}{secrets.token_hex(10)}"


def short_id(value: str | None) -> str:
    """A short form of an id for people to read: its random tail (the head of a new_id is
    its time, the same for everything made in the same millisecond)."""
    if not value:
        return ""
    return value if len(value) <= 12 else "\u2026" + value[-10:]


@dataclass(frozen=True, slots=True)
class SubjectRow:
    id: str
    tenant_id: str | None
    kind: str | None
    jurisdiction: str
    status: str
    created_at: datetime
    relationship_ended_at: datetime | None
    erased_at: datetime | None
    legal_hold: str | None


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
        return {
            "field": self.field,
            "category": self.category,
            "value": self.value,
            "collection_point": self.collection_point,
            "purposes": list(self.purposes),
            "source": self.source,
            "supplier": self.supplier,
            "policy_version": self.policy_version,
            "location": self.location,
            "collected_at": self.collected_at.isoformat(),
            "restricted_to": self.restricted_to,
            "restricted_until": self.restricted_until.isoformat()
            if self.restricted_until
            else None,
        }


def get_subject(conn: Connection, subject_id: str) -> SubjectRow:
    row = conn.execute(
        select(
            subjects.c.id,
            subjects.c.tenant_id,
            subjects.c.kind,
            subjects.c.jurisdiction,
            subjects.c.status,
            subjects.c.created_at,
            subjects.c.relationship_ended_at,
            subjects.c.erased_at,
            subjects.c.legal_hold,
        ).where(subjects.c.id == subject_id)
    ).first()
    if row is None:
        raise NotFound(
            f"no subject {subject_id!r}: look the person up by e-mail or phone first",
            subject_id=subject_id,
        )
    return SubjectRow(*row)


def lookup_subject(ctx: Context, subject_id: str) -> SubjectRow:
    """:func:`get_subject` in its own (read-only) connection."""
    from troth.db import reading

    with reading(ctx.engine) as conn:
        return get_subject(conn, subject_id)


def blind_index_lookup(kind: str, hashes: Sequence[str]) -> Any:
    """``(hash, id, tenant_id, erased_at)`` of the people with one of ``hashes`` in the
    ``kind`` blind index (email, phone, customer_id). Selected by the blind index alone:
    callers check tenant and erasure on the few rows found, because a tenant condition in
    the SQL lets SQLite's planner walk the tenant index (every tenant-less person) instead
    of probing the blind index."""
    col = subjects.c[f"{kind}_bidx"]
    cond = col == hashes[0] if len(hashes) == 1 else col.in_(list(hashes))
    return select(col, subjects.c.id, subjects.c.tenant_id, subjects.c.erased_at).where(cond)


def find_subject_id(
    conn: Connection,
    ctx: Context,
    *,
    email: str | None = None,
    phone: str | None = None,
    customer_id: str | None = None,
    tenant_id: str | None = None,
) -> str | None:
    """Look a person up through the blind indexes (no plaintext in the query)."""
    return lookup_subject_id(
        conn,
        ctx.keys,
        email=email,
        phone=phone,
        customer_id=customer_id,
        tenant_id=tenant_id,
        # Without a country code, a number is read in the default jurisdiction's region
        # (reading it in every region could find someone else).
        phone_region=region_for(ctx.policy.policy, None) if phone else None,
    )


def lookup_subject_id(
    conn: Connection,
    keys: Keyring,
    *,
    email: str | None = None,
    phone: str | None = None,
    customer_id: str | None = None,
    tenant_id: str | None = None,
    phone_region: str | None = None,
) -> str | None:
    """:func:`find_subject_id` with the keys and the phone region given (``troth find``
    opens only those: see :func:`troth.home.open_lookup`)."""
    for field, value in (("email", email), ("phone", phone), ("customer_id", customer_id)):
        if value:
            if field == "phone":
                hashes = [keys.blind_index("phone", value, region=phone_region)]
            else:
                hashes = [keys.blind_index(field, value)]
            q = blind_index_lookup(field, hashes)
            for _h, sid, tenant, erased in conn.execute(q):
                if erased is None and (tenant_id is None or tenant == tenant_id):
                    return str(sid)
    return None


def lookup_subject_in(
    engine: Engine,
    keys: Keyring,
    *,
    email: str | None = None,
    phone: str | None = None,
    phone_region: str | None = None,
) -> str | None:
    """:func:`lookup_subject_id` in its own (read-only) connection on ``engine``."""
    from troth.db import reading

    with reading(engine) as conn:
        return lookup_subject_id(conn, keys, email=email, phone=phone, phone_region=phone_region)


def find_subject(ctx: Context, *, email: str | None = None, phone: str | None = None) -> str | None:
    """:func:`find_subject_id` in its own (read-only) connection."""
    from troth.db import reading

    with reading(ctx.engine) as conn:
        return find_subject_id(conn, ctx, email=email, phone=phone)


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
_SUBJECT_COLUMNS = (
    subjects.c.id,
    subjects.c.tenant_id,
    subjects.c.kind,
    subjects.c.jurisdiction,
    subjects.c.status,
    subjects.c.created_at,
    subjects.c.relationship_ended_at,
    subjects.c.erased_at,
    subjects.c.legal_hold,
)
_VALUE_COLUMNS = (
    records.c.id.label("rid"),
    records.c.field,
    records.c.category,
    records.c.value,
    records.c.ciphertext,
    records.c.key_version,
    records.c.collection_point,
    records.c.purposes,
    records.c.source,
    records.c.supplier,
    records.c.policy_version,
    records.c.location,
    records.c.collected_at,
    records.c.restricted_to,
    records.c.restricted_until,
    subject_keys.c.kek_version,
    subject_keys.c.wrapped,
)

_N_VALUE_COLUMNS = len(_VALUE_COLUMNS)


def _values_stmt(extra_on: Any, where: Any, *order: Any) -> Any:
    """Subjects joined to their values (``extra_on``: only some of them) and the wrapped
    keys those values need, one row per value (a subject without values: one row)."""
    on = records.c.subject_id == subjects.c.id
    if extra_on is not None:
        on = and_(on, extra_on)
    return (
        select(*_SUBJECT_COLUMNS, *_VALUE_COLUMNS)
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


_SUBJECTS_TAGS = _subjects_values_stmt(False).with_only_columns(
    *_SUBJECT_COLUMNS,
    *(c for c in _VALUE_COLUMNS if c.name not in ("value", "ciphertext", "kek_version", "wrapped")),
    subject_keys.c.subject_id.is_not(None).label("keyed"),
    records.c.ciphertext.is_not(None).label("encrypted"),
    maintain_column_froms=True,
)


def read_subjects_tags(
    conn: Connection, subject_ids: Sequence[str]
) -> dict[str, tuple[SubjectRow, list[StoredValue]]]:
    """As :func:`read_subjects` without the values themselves (``value`` is None): the
    tags an erasure decides on (category, purposes, collected_at), with nothing decoded or
    decrypted. A value whose key is shredded is absent, as there."""
    out: dict[str, tuple[SubjectRow, list[StoredValue]]] = {}
    ids = list(dict.fromkeys(subject_ids))
    n = len(_SUBJECT_COLUMNS)
    for start in range(0, len(ids), 500):
        for r in conn.execute(_SUBJECTS_TAGS, {"sids": ids[start : start + 500]}):
            sid = r[0]
            if sid not in out:
                out[sid] = (SubjectRow(*r[:n]), [])
            (rid, field, category, _kv, point, purposes, source, supplier, policy_version,
             location, collected_at, restricted_to, restricted_until, keyed,
             encrypted) = r[n:]  # fmt: skip
            if rid is None or (encrypted and not keyed):
                continue
            out[sid][1].append(
                StoredValue(
                    rid,
                    field,
                    category,
                    None,
                    point,
                    tuple(purposes or ()),
                    source,
                    supplier,
                    policy_version,
                    location,
                    collected_at,
                    restricted_to,
                    restricted_until,
                )
            )
    return out


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
        raise NotFound(
            f"no subject {subject_id!r}: look the person up by e-mail or phone first",
            subject_id=subject_id,
        )
    n = len(_SUBJECT_COLUMNS)
    subject = SubjectRow(*rows[0][:n])
    deks: dict[int, bytes] = {}
    out: list[StoredValue] = []
    kek = ctx.keys.kek
    # By position (the order of _VALUE_COLUMNS after the subject's): rows may be Core
    # rows or the plain tuples of a Prepared statement.
    for r in rows:
        (rid, field, category, value, ciphertext, key_version, point, purposes, source,
         supplier, policy_version, location, collected_at, restricted_to, restricted_until,
         kek_version, wrapped) = r[n : n + _N_VALUE_COLUMNS]  # fmt: skip
        if rid is None:
            continue
        if ciphertext is not None:
            if wrapped is None:  # shredded: the value is gone for good
                continue
            dek = deks.get(key_version)
            if dek is None:
                dek = deks[key_version] = unwrap_key(
                    kek(kek_version), kek_version, subject_id, key_version, wrapped
                )
            value = json.loads(decrypt_value(dek, subject_id, field, key_version, ciphertext))
        elif value is not None:
            value = json.loads(value)
        out.append(
            StoredValue(
                rid,
                field,
                category,
                value,
                point,
                tuple(purposes or ()),
                source,
                supplier,
                policy_version,
                location,
                collected_at,
                restricted_to,
                restricted_until,
            )
        )
    return subject, out


def erase_subject_data(
    conn: Connection,
    ctx: Context,
    subject_ids: Sequence[str],
    *,
    keep: Iterable[int] = (),
) -> dict[str, int]:
    """Delete every record of these subjects except ``keep`` (record ids kept under a
    legal obligation), shred their data keys unless something encrypted is kept, and
    clear their blind indexes. Set-based; returns counts."""
    keep_ids = list(keep)
    ids = list(subject_ids)
    deleted = 0
    shredded = 0
    now = ctx.clock.now()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        q = delete(records).where(records.c.subject_id.in_(chunk))
        if keep_ids:
            q = q.where(records.c.id.not_in(keep_ids))
        deleted += conn.execute(q).rowcount or 0
        kept_encrypted = set(
            conn.execute(
                select(records.c.subject_id)
                .where(records.c.subject_id.in_(chunk), records.c.ciphertext.is_not(None))
                .distinct()
            ).scalars()
        )
        shredded += shred_subject_keys(conn, [s for s in chunk if s not in kept_encrypted])
        conn.execute(
            update(subjects)
            .where(subjects.c.id.in_(chunk))
            .values(
                email_bidx=None,
                phone_bidx=None,
                customer_id_bidx=None,
                status="erased",
                erased_at=now,
            )
        )
    return {"records_deleted": deleted, "keys_shredded": shredded}
