"""The keyed MAC under every seal troth keeps on a table's rows (records'
:mod:`troth.store.seals`, people's :mod:`troth.store.subject_seals`): the key derived from
the key file, the MAC of a row's canonical JSON, the constant-time check, and the reads
that check or seal again a set of rows, a chunk of ids at a time."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC
from json.encoder import encode_basestring
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Select, Update, bindparam, update

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement, Row, Table

    from troth.keys import Keyring

SealKey = hmac.HMAC
# What a seal function does: the seal of a row's sealed columns under a key.
SealOf = Callable[[SealKey, Sequence[Any]], bytes]
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_CHUNK = 500


def mac_key(keys: Keyring, label: str) -> SealKey:
    """The key of the seals named ``label``: derived from the key file's token key, which
    never changes in a home (a KEK rotation leaves every seal valid). Keyed once (an
    HMAC's state, copied for each row)."""
    return hmac.new(keys.mac(label, b""), digestmod=hashlib.sha256)


class RowMac:
    """HMAC-SHA256 under one key, keyed once: the key's inner and outer hash states
    (RFC 2104), copied for each message. The same digest as ``hmac.new(key, message,
    sha256)`` at a fraction of its cost per message, for the checks of many rows
    (retention's)."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        if len(key) > _BLOCK:
            key = hashlib.sha256(key).digest()
        key = key.ljust(_BLOCK, b"\0")
        self._inner = hashlib.sha256(key.translate(hmac.trans_36))
        self._outer = hashlib.sha256(key.translate(hmac.trans_5C))

    def digest(self, message: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()

    def matches(self, message: Callable[[], bytes], seal: Any) -> bool:
        """Whether ``seal`` is the digest of ``message()`` (a missing seal never is; nor a
        row whose message cannot be made: columns not of the types troth writes)."""
        if seal is None:
            return False
        try:
            expected = self.digest(message())
        except (TypeError, ValueError, AttributeError):
            return False
        return hmac.compare_digest(expected, bytes(seal))


_BLOCK = 64  # SHA-256's block size, in bytes


def row_mac(keys: Keyring, label: str) -> RowMac:
    """The key of the seals named ``label`` (:func:`mac_key`'s) as a :class:`RowMac`."""
    return RowMac(keys.mac(label, b""))


def json_item(value: Any) -> str:
    """``value`` as :func:`mac_of`'s canonical JSON writes it in its list (a string or
    None at the cost of one C call; any other through the same encoder, which raises
    TypeError for what JSON cannot hold)."""
    if value.__class__ is str:
        return encode_basestring(value)
    if value is None:
        return "null"
    return _ENCODE(value)


def driver_seconds(at: Any) -> int | None:
    """A time as a driver returns it (naive UTC wall time on SQLite, aware on
    PostgreSQL) in whole seconds since the epoch: what a seal holds of the time
    :class:`troth.db.UtcDateTime` makes of it."""
    if at is None:
        return None
    return int((at.replace(tzinfo=UTC) if at.tzinfo is None else at).timestamp())


def mac_of(key: SealKey, payload: Sequence[Any]) -> bytes:
    """HMAC-SHA256 under ``key`` over ``payload``'s canonical JSON."""
    mac = key.copy()
    mac.update(_ENCODE(list(payload)).encode())
    return mac.digest()


def mac_matches(seal_of: SealOf, key: SealKey, row: Sequence[Any], seal: bytes | None) -> bool:
    """Whether ``seal`` is ``seal_of`` the row (a missing seal never is; nor a row whose
    columns are not even of the types troth writes)."""
    if seal is None:
        return False
    try:
        expected = seal_of(key, row)
    except (TypeError, ValueError, AttributeError):
        return False
    return hmac.compare_digest(expected, bytes(seal))


def rows_of(
    conn: Connection, query: Select[Any], column: ColumnElement[Any], ids: Iterable[Any]
) -> Iterable[Sequence[Row[Any]]]:
    """The rows ``query`` selects whose ``column`` is one of ``ids``, a chunk at a time."""
    wanted = sorted(set(ids))
    for start in range(0, len(wanted), _CHUNK):
        yield conn.execute(query.where(column.in_(wanted[start : start + _CHUNK]))).all()


def set_seal(table: Table) -> Update:
    """The update that sets a row's seal (``new_seal``), the row named by its id (``row_id``)."""
    return update(table).where(table.c.id == bindparam("row_id")).values(seal=bindparam("new_seal"))


def reseal_rows(
    conn: Connection,
    stmt: Update,
    chunks: Iterable[Sequence[Row[Any]]],
    seal: Callable[[Row[Any]], bytes],
) -> int:
    """Set each row's ``seal`` (rows whose first column is their id) with ``stmt``
    (:func:`set_seal`), a chunk at a time. Returns how many rows were sealed."""
    done = 0
    for rows in chunks:
        params = [{"row_id": r[0], "new_seal": seal(r)} for r in rows]
        if params:
            conn.execute(stmt, params)
        done += len(params)
    return done
