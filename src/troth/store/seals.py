"""Record seals: every stored value's row carries a keyed MAC (HMAC-SHA256 under a key
derived from the key file) over the subject, tenant, category, field, the value (plain
text, or the ciphertext and its key version) and every tag the gate, retention and
erasure decide on. A database writer without the key file cannot relabel a value (make a
health record ``identity``, widen its purposes, lift a restriction, move it to another
tenant or person, swap two values, clear the seal): the row no longer matches its seal,
and troth refuses to show anything of the person it belongs to (fail closed).

:func:`record_seal` is the one function that computes a seal; every write to ``records``
uses it, directly (collection, re-encryption) or through :func:`reseal` after a
set-based update. :func:`check_row` is what every reader calls.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

from sqlalchemy import Connection, select

from troth.errors import IntegrityError
from troth.store.mac import (
    SealKey,
    driver_seconds,
    json_item,
    mac_key,
    mac_matches,
    mac_of,
    reseal_rows,
    row_mac,
    rows_of,
    set_seal,
)
from troth.store.tables import RECORD_TAGS, records
from troth.stored import Unreadable, is_unreadable

if TYPE_CHECKING:
    from troth.context import Context
    from troth.gate import Actor
    from troth.keys import Keyring

# The columns a seal covers, in the order :func:`record_seal` reads them: every column
# of the row but its id, its updated_at and the seal itself.
SEAL_COLUMNS = (
    records.c.subject_id,
    records.c.tenant_id,
    records.c.category,
    records.c.field,
    records.c.value,
    records.c.ciphertext,
    records.c.key_version,
    *RECORD_TAGS,
    records.c.anonymised,
)
_LABEL = "troth:records:seal-key"


def seal_key(keys: Keyring) -> SealKey:
    """The key record seals are made with: derived from the key file's token key, which
    never changes in a home (a KEK rotation leaves every seal valid). Keyed once (an
    HMAC's state, copied for each row)."""
    return mac_key(keys, _LABEL)


def record_seal(key: SealKey, row: Sequence[Any]) -> bytes:
    """The seal of a row whose columns are ``row``, in the order of :data:`SEAL_COLUMNS`:
    HMAC-SHA256 over their canonical JSON. Times count in whole seconds since the epoch
    (MariaDB keeps no fractions); the purposes as stored (a list, in its order: troth
    writes them sorted)."""
    (sid, tenant, category, field, value, ciphertext, key_version, point, purposes, source,
     supplier, policy_version, location, collected_at, restricted_to, restricted_until,
     anonymised) = row  # fmt: skip
    return mac_of(
        key,
        [
            "v1",
            sid,
            tenant,
            category,
            field,
            value,
            None if ciphertext is None else bytes(ciphertext).hex(),
            key_version,
            point,
            purposes,
            source,
            supplier,
            policy_version,
            location,
            None if collected_at is None else int(collected_at.timestamp()),
            restricted_to,
            None if restricted_until is None else restricted_until.isoformat(),
            bool(anonymised),
        ],
    )


def seal_matches(key: SealKey, row: Sequence[Any], seal: bytes | None) -> bool:
    """Whether ``seal`` is the seal of ``row`` (a missing seal never is; nor a row whose
    columns are not even of the types troth writes)."""
    return mac_matches(record_seal, key, row, seal)


class RecordChecker:
    """Checks rows of records as the driver returns them (:func:`troth.db.driver_rows`)
    against their seals: the bytes :func:`record_seal` MACs, made from the driver's
    values at a fraction of the cost per row (retention checks every value it removes).
    Each distinct purposes text is parsed and encoded once."""

    def __init__(self, keys: Keyring) -> None:
        self.mac = row_mac(keys, _LABEL)
        self._purposes: dict[str | None, tuple[Any, str]] = {}

    def purposes(self, text: str | None) -> tuple[Any, str]:
        """The purposes stored as ``text`` (JSON), parsed, and as a seal writes them."""
        known = self._purposes.get(text)
        if known is None:
            try:
                parsed = json.loads(text) if text is not None else None
            except ValueError:  # not JSON: changed outside troth, so no seal matches it
                parsed = Unreadable("records.purposes")
            encoded = json_item(parsed) if not is_unreadable(parsed) else '"unreadable"'
            known = self._purposes[text] = (parsed, encoded)
        return known

    def matches(self, row: Sequence[Any], purposes: str, seal: Any) -> bool:
        """Whether ``seal`` is the seal of ``row`` (the columns of :data:`SEAL_COLUMNS`
        as the driver returns them; the purposes' place is not read: ``purposes`` is
        their encoding, from :meth:`purposes`). As :func:`seal_matches`: a missing seal
        never matches, nor a row whose columns are not of the types troth writes."""
        return self.mac.matches(lambda: _message(row, purposes), seal)


def _message(row: Sequence[Any], purposes: str) -> bytes:
    """What :func:`record_seal` MACs for ``row``: ``mac_of``'s canonical JSON, item by
    item (the purposes given already encoded)."""
    (sid, tenant, category, field, value, ciphertext, key_version, point, _, source,
     supplier, policy_version, location, collected_at, restricted_to, restricted_until,
     anonymised) = row  # fmt: skip
    j = json_item
    return (
        '["v1",'
        f"{j(sid)},{j(tenant)},{j(category)},{j(field)},{j(value)},"
        f"{'null' if ciphertext is None else j(bytes(ciphertext).hex())},{j(key_version)},"
        f"{j(point)},{purposes},{j(source)},{j(supplier)},{j(policy_version)},{j(location)},"
        f"{j(driver_seconds(collected_at))},{j(restricted_to)},"
        f"{'null' if restricted_until is None else j(restricted_until.isoformat())},"
        f"{'true' if anonymised else 'false'}]"
    ).encode()


class RecordTampered(IntegrityError, code="record_tampered", status=409):
    """A stored value's row does not match its seal: it was changed outside troth (409,
    as a value troth never writes is: troth.errors.TamperedValue; never a 500)."""


def tampered(record_id: int, subject_id: str | None) -> RecordTampered:
    return RecordTampered(
        f"record {record_id} does not match its seal: its value or tags were changed outside"
        " troth (a database writer without the key file; or this key file is not the"
        " home's), so nothing of this person is shown. Run `troth audit verify` for every"
        " such record, then restore them from a backup or delete them",
        record_id=record_id,
        subject_id=subject_id,
    )


def refuse_tampered(
    ctx: Context, action: str, actor: Actor | str, exc: RecordTampered, **where: Any
) -> NoReturn:
    """Audit the refusal of ``action`` because a record was changed outside troth (reason
    ``record_tampered``, the record's id, never its value), then raise ``exc``."""
    from troth.audit.refusals import refuse
    from troth.gate import Reason

    record = exc.details.get("record_id")
    where.pop("subject_id", None)  # the tampered row's person, named by ``exc``
    refuse(
        ctx,
        action,
        actor,
        Reason.record_tampered,
        error=exc,
        subject_id=exc.details.get("subject_id"),
        details={"record": record, **where.pop("details", {})},
        **where,
    )


@contextmanager
def refusing_tampered(
    ctx: Context, action: str, actor: Actor | str, **where: Any
) -> Iterator[None]:
    """Around a read of a person's values: a record that does not match its seal refuses
    ``action`` audited (:func:`refuse_tampered`), as every read of a person's data does."""
    try:
        yield
    except RecordTampered as exc:
        refuse_tampered(ctx, action, actor, exc, **where)


def check_row(key: SealKey, record_id: int, row: Sequence[Any], seal: bytes | None) -> None:
    """Raise :class:`RecordTampered` naming the record (never its value) unless ``seal``
    is the seal of ``row``."""
    if not seal_matches(key, row, seal):
        raise tampered(record_id, row[0])


_ROWS = select(records.c.id, *SEAL_COLUMNS, records.c.seal)
_SET_SEAL = set_seal(records)


def bad_seals(conn: Connection, keys: Keyring, ids: Iterable[int]) -> list[int]:
    """Those of the records ``ids`` that do not match their seals."""
    key = seal_key(keys)
    chunks = rows_of(conn, _ROWS, records.c.id, ids)
    return [r[0] for rows in chunks for r in rows if not seal_matches(key, r[1:-1], r[-1])]


def reseal(conn: Connection, keys: Keyring, ids: Iterable[int]) -> int:
    """Seal the records ``ids`` again as they now are, after a set-based update troth made
    to them (a restriction, retention's generalising). Only for rows whose seals the
    caller checked in this transaction before it changed them (:func:`bad_seals`, or a
    read of :mod:`troth.store.values`): resealing a row nobody checked would accept what
    a database writer did to it."""
    key = seal_key(keys)
    chunks = rows_of(conn, _ROWS, records.c.id, ids)
    return reseal_rows(conn, _SET_SEAL, chunks, lambda r: record_seal(key, r[1:-1]))
