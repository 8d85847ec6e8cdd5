"""Subject seals: each row of ``subjects`` carries a keyed MAC (HMAC-SHA256 under its own
key derived from the key file) over every column the gate, retention and erasure decide
on: the person's id, tenant, kind, jurisdiction, status, creation time, relationship end,
erasure time and legal hold (the columns of :class:`~troth.store.subjects.SubjectRow`).
A database writer without the key file cannot move a person to another tenant, un-erase
them, lift their hold or change their regime: the row no longer matches its seal and
troth refuses every read of the person (:class:`SubjectTampered`, a
:class:`~troth.store.seals.RecordTampered`, so every reader that refuses a tampered record
refuses it the same way, audited ``record_tampered``).

Every troth write to ``subjects`` seals the row: a new person (:func:`sealed_rows`), a
change (:func:`update_subjects`, which checks each row's seal before it changes it, so it
never seals over a writer's edit). The blind indexes are not covered: they only find a
person, whose row and records are then checked.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, select, update

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
from troth.store.seals import RecordTampered
from troth.store.subjects import SUBJECT_COLUMNS
from troth.store.tables import subjects

if TYPE_CHECKING:
    from troth.keys import Keyring

__all__ = [
    "SubjectChecker",
    "SubjectTampered",
    "bad_subjects",
    "check_subject",
    "reseal_subjects",
    "sealed_rows",
    "subject_matches",
    "subject_seal",
    "subject_seal_key",
    "update_subjects",
]

_LABEL = "troth:subjects:seal-key"
_NAMES = tuple(c.name for c in SUBJECT_COLUMNS)


def subject_seal_key(keys: Keyring) -> SealKey:
    """The key subject seals are made with (from the key file's token key, as records')."""
    return mac_key(keys, _LABEL)


def _seconds(at: datetime | None) -> int | None:
    return None if at is None else int(at.timestamp())


def subject_seal(key: SealKey, row: Sequence[Any]) -> bytes:
    """The seal of a subject whose columns are ``row``, in the order of
    :data:`~troth.store.subjects.SUBJECT_COLUMNS`; times in whole seconds."""
    sid, tenant, kind, juris, status, created, ended, erased, hold = row
    return mac_of(
        key,
        ["s1", sid, tenant, kind, juris, status, _seconds(created), _seconds(ended),
         _seconds(erased), hold],
    )  # fmt: skip


def subject_matches(key: SealKey, row: Sequence[Any], seal: bytes | None) -> bool:
    """Whether ``seal`` is the seal of ``row`` (a missing seal never is)."""
    return mac_matches(subject_seal, key, row, seal)


class SubjectTampered(RecordTampered):
    """A person's row in ``subjects`` does not match its seal: changed outside troth."""


def tampered_subject(subject_id: str) -> SubjectTampered:
    return SubjectTampered(
        f"person {subject_id}'s row does not match its seal: their tenant, status, erasure,"
        " legal hold or jurisdiction was changed outside troth (a database writer without"
        " the key file; or this key file is not the home's), so nothing of this person is"
        " shown. Run `troth audit verify`, then restore the row from a backup",
        record_id=None,
        subject_id=subject_id,
    )


def check_subject(key: SealKey, row: Sequence[Any], seal: bytes | None) -> None:
    """Raise :class:`SubjectTampered` unless ``seal`` is the seal of ``row``."""
    if not subject_matches(key, row, seal):
        raise tampered_subject(str(row[0]))


def sealed_rows(keys: Keyring, rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """New ``subjects`` rows (dicts naming every sealed column) with their seals."""
    key = subject_seal_key(keys)
    return [{**r, "seal": subject_seal(key, [r.get(n) for n in _NAMES])} for r in rows]


_ROWS = select(*SUBJECT_COLUMNS, subjects.c.seal)
_SET: Any = bindparam("new_seal")
_SET_SEAL = set_seal(subjects)


def update_subjects(conn: Connection, keys: Keyring, where: Any, **values: Any) -> int:
    """Set ``values`` on the people ``where`` selects, each row checked against its seal
    first (:class:`SubjectTampered`: nothing is changed, the transaction fails) and
    sealed again as it is then. Returns how many people changed."""
    key = subject_seal_key(keys)
    rows = conn.execute(_ROWS.where(where)).all()
    params = []
    for r in rows:
        check_subject(key, r[:-1], r[-1])
        new = dict(zip(_NAMES, r[:-1], strict=True)) | values
        params.append({"sid": r[0], "new_seal": subject_seal(key, [new[n] for n in _NAMES])})
    if params:
        stmt = update(subjects).where(subjects.c.id == bindparam("sid"))
        conn.execute(stmt.values(**values, seal=_SET), params)
    return len(params)


class SubjectChecker:
    """Checks people's rows against their seals, remembering the rows it has checked (the
    row and its seal, not just the person: a row changed since is checked again). A
    retention run meets the same people batch after batch; the same row and seal always
    give the same answer. It forgets everything past ``limit`` rows, to stay small."""

    def __init__(self, keys: Keyring, limit: int = 200_000) -> None:
        self.key = subject_seal_key(keys)
        self.mac = row_mac(keys, _LABEL)
        self.limit = limit
        self._seen: dict[tuple[Any, ...], bool] = {}

    def matches(self, row: Sequence[Any], seal: bytes | None) -> bool:
        known = (*row, None if seal is None else bytes(seal))
        verdict = self._seen.get(known)
        if verdict is None:
            if len(self._seen) >= self.limit:
                self._seen.clear()
            verdict = self._seen[known] = subject_matches(self.key, row, seal)
        return verdict

    def driver_row_matches(self, row: tuple[Any, ...]) -> bool:
        """As :meth:`matches`, for a row as the driver returns it
        (:func:`troth.db.driver_rows`): the columns of
        :data:`~troth.store.subjects.SUBJECT_COLUMNS`, then the seal."""
        verdict = self._seen.get(row)
        if verdict is None:
            if len(self._seen) >= self.limit:
                self._seen.clear()
            verdict = self._seen[row] = self._check(row)
        return verdict

    def _check(self, row: tuple[Any, ...]) -> bool:
        *person, seal = row
        return self.mac.matches(lambda: _message(person), seal)


def _message(row: Sequence[Any]) -> bytes:
    """What :func:`subject_seal` MACs for ``row`` as the driver returns it."""
    sid, tenant, kind, juris, status, created, ended, erased, hold = row
    j, s = json_item, driver_seconds
    return (
        f'["s1",{j(sid)},{j(tenant)},{j(kind)},{j(juris)},{j(status)},{j(s(created))},'
        f"{j(s(ended))},{j(s(erased))},{j(hold)}]"
    ).encode()


def bad_subjects(conn: Connection, keys: Keyring, ids: Iterable[str]) -> list[str]:
    """Those of the people ``ids`` whose rows do not match their seals."""
    key = subject_seal_key(keys)
    chunks = rows_of(conn, _ROWS, subjects.c.id, ids)
    return [r[0] for rows in chunks for r in rows if not subject_matches(key, r[:-1], r[-1])]


def reseal_subjects(conn: Connection, keys: Keyring, ids: Iterable[str]) -> int:
    """Seal the people ``ids`` as they now are: only where nothing can have been changed
    outside troth yet (`troth db migrate` sealing a home made before subject seals)."""
    key = subject_seal_key(keys)
    chunks = rows_of(conn, _ROWS, subjects.c.id, ids)
    return reseal_rows(conn, _SET_SEAL, chunks, lambda r: subject_seal(key, r[:-1]))
