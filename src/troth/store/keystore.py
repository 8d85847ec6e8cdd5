"""Subjects' data keys: created in bulk, unwrapped on read, shredded on erasure, re-wrapped
on rotation."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, func, select, update

from troth.context import Context
from troth.driver import insert_many
from troth.errors import CryptoError
from troth.keys import REFRESH_SECONDS
from troth.store.crypto import decrypt_value, encrypt_value, new_data_key, unwrap_key, wrap_key
from troth.store.seals import SEAL_COLUMNS, check_row, record_seal, seal_key
from troth.store.tables import records, subject_keys

# Wrapped data keys, ``(subject_id, version, kek_version, wrapped)``, in version order.
_WRAPPED = select(
    subject_keys.c.subject_id,
    subject_keys.c.version,
    subject_keys.c.kek_version,
    subject_keys.c.wrapped,
).order_by(subject_keys.c.subject_id, subject_keys.c.version)


def ensure_data_keys(
    conn: Connection, ctx: Context, subject_ids: Iterable[str], new: Collection[str] = ()
) -> dict[str, tuple[int, bytes]]:
    """The current (version, data key) of each subject, creating missing ones in one insert.
    ``new`` names subjects created in this transaction: they have no key to look up."""
    ids = list(dict.fromkeys(subject_ids))
    out: dict[str, tuple[int, bytes]] = {}
    known = [sid for sid in ids if sid not in new] if new else ids
    for start in range(0, len(known), 900):
        chunk = known[start : start + 900]
        rows = conn.execute(_WRAPPED.where(subject_keys.c.subject_id.in_(chunk))).all()
        for sid, version, kek_version, wrapped in rows:
            # Rows come in version order: the last one is the current key.
            out[sid] = (
                version,
                unwrap_key(ctx.keys.kek(kek_version), kek_version, sid, version, wrapped),
            )
    missing = [sid for sid in ids if sid not in out]
    if missing:
        kv = ctx.keys.current_kek_version
        kek = ctx.keys.kek(kv)
        now = ctx.clock.now()
        new_rows = []
        for sid in missing:
            dek = new_data_key()
            out[sid] = (1, dek)
            new_rows.append({"subject_id": sid, "wrapped": wrap_key(kek, kv, sid, 1, dek)})
        insert_many(
            conn,
            subject_keys,
            new_rows,
            common={"version": 1, "kek_version": kv, "created_at": now},
        )
    return out


def load_data_keys(conn: Connection, ctx: Context, subject_id: str) -> dict[int, bytes]:
    """Every data-key version of one subject (empty when shredded)."""
    rows = conn.execute(
        select(subject_keys.c.version, subject_keys.c.kek_version, subject_keys.c.wrapped).where(
            subject_keys.c.subject_id == subject_id
        )
    ).all()
    return {v: unwrap_key(ctx.keys.kek(kv), kv, subject_id, v, w) for v, kv, w in rows}


def shred_subject_keys(conn: Connection, subject_ids: Iterable[str]) -> int:
    """Crypto-shredding: delete the wrapped data keys; every ciphertext becomes unreadable."""
    ids = list(subject_ids)
    total = 0
    for start in range(0, len(ids), 900):
        res = conn.execute(
            delete(subject_keys).where(subject_keys.c.subject_id.in_(ids[start : start + 900]))
        )
        total += res.rowcount or 0
    return total


_REWRAP = (
    update(subject_keys)
    .where(
        and_(
            subject_keys.c.subject_id == bindparam("sid"),
            subject_keys.c.version == bindparam("ver"),
        )
    )
    .values(kek_version=bindparam("new_kv"), wrapped=bindparam("new_wrapped"))
)


_REENCRYPT = (
    update(records)
    .where(records.c.id == bindparam("rid"))
    .values(
        ciphertext=bindparam("new_blob"),
        key_version=bindparam("new_ver"),
        seal=bindparam("new_seal"),
    )
)


@dataclass
class RotationReport:
    kek_version: int
    rewrapped: int
    reencrypted_values: int
    retired: list[int]


def rotate_keys(
    ctx: Context,
    *,
    reencrypt: bool = False,
    retire_old: bool = False,
    batch: int = 500,
    progress: Callable[[int, int], None] | None = None,
    pause: Callable[[float], None] = time.sleep,
) -> RotationReport:
    """Make a new KEK version and re-wrap every data key under it, batch by batch, each
    batch in its own short transaction so the system keeps serving. With ``reencrypt``,
    each subject also gets a new data key and its values are re-encrypted with it. With
    ``retire_old``, ``pause`` waits (outside any transaction) for the other processes to
    see the new version before a last pass and the retirement."""
    from troth.audit.log import transaction

    new_kv = ctx.keys.add_kek_version()
    kek = ctx.keys.kek(new_kv)
    with ctx.engine.connect() as conn:
        total = conn.execute(
            select(func.count())
            .select_from(subject_keys)
            .where(subject_keys.c.kek_version != new_kv)
        ).scalar_one()
    done = 0
    values = 0
    # Before old versions are retired, a second pass after every other process has seen
    # the new version (each looks at the key file at least once a second): a data key
    # one of them wrapped under the old version meanwhile is re-wrapped, never lost.
    passes = 2 if retire_old else 1
    while passes:
        with transaction(ctx) as conn:
            rows = conn.execute(
                _WRAPPED.where(subject_keys.c.kek_version != new_kv).limit(batch)
            ).all()
            if rows:
                done += _rewrap_batch(conn, ctx, rows, new_kv, kek)
                if reencrypt:
                    values += _reencrypt(conn, ctx, sorted({r[0] for r in rows}), new_kv, kek)
        if not rows:
            passes -= 1
            if passes:
                pause(2 * REFRESH_SECONDS)
            continue
        if progress:
            progress(done, total)
    retired: list[int] = []
    if retire_old:
        for v in ctx.keys.kek_versions:
            if v != new_kv:
                ctx.keys.retire_kek_version(v)
                retired.append(v)
    return RotationReport(new_kv, done, values, retired)


def _rewrap_batch(
    conn: Connection, ctx: Context, rows: Sequence[Any], new_kv: int, kek: bytes
) -> int:
    """Re-wrap a batch of data keys under ``kek`` (version ``new_kv``) and audit it."""
    from troth.audit.entry import AuditEntry
    from troth.audit.log import append_entries

    # Unwrapping and re-wrapping is per key (crypto); the write is one executemany.
    params = []
    for sid, version, kv, wrapped in rows:
        dek = unwrap_key(ctx.keys.kek(kv), kv, sid, version, wrapped)
        params.append(
            {
                "sid": sid,
                "ver": version,
                "new_kv": new_kv,
                "new_wrapped": wrap_key(kek, new_kv, sid, version, dek),
            }
        )
    conn.execute(_REWRAP, params)
    append_entries(
        conn,
        ctx.clock.now(),
        [
            AuditEntry(
                action="keys.rotate",
                actor="system",
                details={"kek_version": new_kv, "rewrapped": len(rows)},
            )
        ],
    )
    return len(rows)


def _reencrypt(conn: Connection, ctx: Context, subject_ids: list[str], kv: int, kek: bytes) -> int:
    """Give each subject a new data-key version and re-encrypt their values with it."""
    count = 0
    now = ctx.clock.now()
    for sid in subject_ids:
        keys = load_data_keys(conn, ctx, sid)
        if not keys:
            continue
        new_version = max(keys) + 1
        dek = new_data_key()
        conn.execute(
            subject_keys.insert().values(
                subject_id=sid,
                version=new_version,
                kek_version=kv,
                wrapped=wrap_key(kek, kv, sid, new_version, dek),
                created_at=now,
            )
        )
        params = _reencrypted(conn, ctx, sid, keys, new_version, dek)
        if params:
            conn.execute(_REENCRYPT, params)
        count += len(params)
        # Old versions are no longer needed once nothing refers to them.
        conn.execute(
            delete(subject_keys).where(
                subject_keys.c.subject_id == sid, subject_keys.c.version != new_version
            )
        )
    return count


def _reencrypted(
    conn: Connection,
    ctx: Context,
    sid: str,
    keys: dict[int, bytes],
    new_version: int,
    dek: bytes,
) -> list[dict[str, Any]]:
    """The subject's encrypted values under ``dek`` (version ``new_version``), each with
    its new seal. A row that does not match its seal stops the rotation (nothing of the
    batch is written): re-encrypting and re-sealing it would accept what was done to it."""
    key = seal_key(ctx.keys)
    rows = conn.execute(
        select(records.c.id, *SEAL_COLUMNS, records.c.seal).where(
            records.c.subject_id == sid, records.c.ciphertext.is_not(None)
        )
    ).all()
    params = []
    for r in rows:
        rid, cols, seal = r[0], tuple(r[1:-1]), r[-1]
        check_row(key, rid, cols, seal)
        _sid, _tenant, category, field, _value, blob, ver, point = cols[:8]
        old = keys.get(ver)
        if old is None:
            raise CryptoError(f"subject {sid}: data key version {ver} is missing")
        tags = {"category": category, "point": point}
        plain = decrypt_value(old, sid, field, ver, blob, **tags)
        new_blob = encrypt_value(dek, sid, field, new_version, plain, **tags)
        new_cols = (*cols[:5], new_blob, new_version, *cols[7:])
        params.append(
            {
                "rid": rid,
                "new_blob": new_blob,
                "new_ver": new_version,
                "new_seal": record_seal(key, new_cols),
            }
        )
    return params


@dataclass(eq=False)
class KeyService:
    """One home's keys as an application reaches them: ``t.keys``."""

    ctx: Context

    def rotate(
        self,
        *,
        reencrypt: bool = False,
        retire_old: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> RotationReport:
        """A new KEK version with every data key re-wrapped under it, the home serving
        throughout (:func:`rotate_keys`); ``reencrypt`` also gives every subject a new
        data key, ``retire_old`` retires the old KEK versions once all are re-wrapped."""
        return rotate_keys(self.ctx, reencrypt=reencrypt, retire_old=retire_old, progress=progress)
