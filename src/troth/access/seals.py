"""Row seals: each row of the tables that grant access carries a keyed MAC
(HMAC-SHA256 under a key of its table's, derived from the key file) over the columns that
grant power: an account's id, kind, e-mail, login key, role, tenant, tenant role, password
hash, disabled time and TOTP secret; a key's id, hash, tenant, account, scopes and
revocation; a console session's id (its token's hash), account, times, end and CSRF
secret; a privacy-centre session's the same for its person and the address it proved; an
invitation's every column; a support grant's every column. The columns troth writes on
every request or login (last use or last seen, failed-login count, lock, last TOTP step,
display name, an account's created time) are not covered.

A database writer without the key file cannot widen a role or a key's scopes, move it to
another tenant, re-enable an account or un-revoke a key, insert, extend or un-revoke a
session, raise or move an invitation, or approve, widen or extend a support grant
unnoticed: the row no longer matches its seal, troth refuses it (a credential or session
as unauthenticated, an invitation at acceptance, a grant as absent to the gate; audited
``record_tampered``) and `troth audit verify` names it. Every troth write of these
tables goes through :func:`write_sealed` (an update: rows that matched their seals are
sealed again as they now are; a row that did not stays unmatched, never sealed over) or
:func:`seal_new` (a row troth has just inserted).

The same machinery seals two tables outside access (schema 0016): a data-subject request
(``requests``: every column that decides what it is, whom it is about, where it stands,
when it is due and how it was verified, not its counters of codes sent and tried, its
last error or its update time), and a tenant (``tenants``: its id, name, primary e-mail,
status and creation time). A tampered request is refused at every step and flagged in
lists (:mod:`troth.requests.steps`); a tampered tenant gets no notice
(:mod:`troth.access.mail`) and its pages say so.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select, update

from troth.access.tables import api_keys, invitations, sessions, support_grants, users
from troth.gate.model import CREDENTIAL_TAMPERED
from troth.requests.tables import requests
from troth.store.mac import SealKey, mac_key, mac_matches, mac_of, reseal_rows, rows_of, set_seal
from troth.store.tables import tenants
from troth.stored import tolerating

if TYPE_CHECKING:
    from sqlalchemy import Table

    from troth.keys import Keyring

__all__ = [
    "GRANT_COLUMNS",
    "INVITATION_COLUMNS",
    "KEY_COLUMNS",
    "OUTBOX_COLUMNS",
    "PRIVACY_SESSION_COLUMNS",
    "REQUEST_COLUMNS",
    "SESSION_COLUMNS",
    "TAMPERED",
    "TENANT_COLUMNS",
    "TENANT_TAMPERED",
    "USER_COLUMNS",
    "access_matches",
    "matching_ids",
    "resealing",
    "row_matches",
    "seal_new",
    "tenant_rows",
    "write_sealed",
]

USER_COLUMNS = (
    "id", "kind", "email", "login_key", "role", "tenant_id", "tenant_role",
    "password_hash", "disabled_at", "totp_secret",
)  # fmt: skip
KEY_COLUMNS = ("id", "key_hash", "tenant_id", "user_id", "scopes", "revoked_at")
SESSION_COLUMNS = ("id", "user_id", "created_at", "expires_at", "revoked_at", "csrf_secret")
PRIVACY_SESSION_COLUMNS = (
    "id",
    "subject_id",
    "created_at",
    "ended_at",
    "email_bidx",
    "csrf_secret",
)
INVITATION_COLUMNS = (
    "id", "token_hash", "tenant_id", "email", "role", "member_role", "invited_by",
    "created_at", "expires_at", "accepted_at", "revoked_at", "user_id",
)  # fmt: skip
GRANT_COLUMNS = (
    "id", "tenant_id", "requested_by", "reason", "ticket", "categories", "subject_ids",
    "duration_seconds", "status", "requested_at", "decided_by", "decided_at", "starts_at",
    "expires_at", "revoked_at", "emergency",
)  # fmt: skip
REQUEST_COLUMNS = (
    "id", "kind", "state", "subject_id", "tenant_id", "email_bidx", "contact", "regime",
    "channel", "on_behalf", "on_behalf_of", "agent_contact", "source_ref", "received_at",
    "acknowledged_at", "acknowledge_by", "due_at", "extended_due_at", "extension_reason",
    "verified_at", "verified_by", "verification", "code_hash", "code_expires_at", "details",
    "result", "closed_at",
)  # fmt: skip
TENANT_COLUMNS = ("id", "name", "primary_email", "status", "created_at")
OUTBOX_COLUMNS = (
    "id", "idempotency_key", "to_addr", "subject_id", "list_id", "purpose", "kind",
    "headers", "subject", "body_text", "body_html", "content", "message_id", "created_at",
)  # fmt: skip
_COLUMNS = {
    "outbox": OUTBOX_COLUMNS,
    "requests": REQUEST_COLUMNS,
    "tenants": TENANT_COLUMNS,
    "users": USER_COLUMNS,
    "api_keys": KEY_COLUMNS,
    "sessions": SESSION_COLUMNS,
    "privacy_sessions": PRIVACY_SESSION_COLUMNS,
    "invitations": INVITATION_COLUMNS,
    "support_grants": GRANT_COLUMNS,
}
_LABELS = {name: f"troth:{name}:seal-key" for name in _COLUMNS}
TAMPERED = CREDENTIAL_TAMPERED


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return int(value.timestamp())
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (dict, list)):  # a document: its keys in order, whatever the backend
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    return value


def _seal_of(table: str) -> Any:
    def seal(key: SealKey, row: Sequence[Any]) -> bytes:
        return mac_of(key, [f"{table}:1", *(_plain(v) for v in row)])

    return seal


_SEALS = {name: _seal_of(name) for name in _COLUMNS}


def _key(keys: Keyring, table: str) -> SealKey:
    """The table's key, derived once per key ring (one HMAC per row checked after)."""
    cache: dict[str, SealKey] = keys.__dict__.setdefault("_access_seal_keys", {})
    if table not in cache:
        cache[table] = mac_key(keys, _LABELS[table])
    return cache[table]


def _query(table: Table) -> Any:
    return select(*(table.c[n] for n in _COLUMNS[table.name]), table.c.seal)


def access_matches(keys: Keyring, table: Table, row: Sequence[Any], seal: Any) -> bool:
    """Whether ``seal`` is the seal of ``row`` (the sealed columns of ``table``, in order)."""
    return mac_matches(_SEALS[table.name], _key(keys, table.name), row, seal)


def row_matches(keys: Keyring, table: Table, row: Any) -> bool:
    """Whether a row read with (at least) every sealed column and ``seal`` matches."""
    m = row._mapping
    cols = [m[table.c[n]] if table.c[n] in m else m[n] for n in _COLUMNS[table.name]]
    return access_matches(keys, table, cols, m["seal"])


def seal_new(conn: Connection, keys: Keyring, table: Table, ids: Iterable[Any]) -> int:
    """Seal rows troth has just written in this transaction (a new account or key), or
    rows stored before seals existed (`troth db migrate`, once)."""
    key, seal = _key(keys, table.name), _SEALS[table.name]
    chunks = rows_of(conn, _query(table), table.c.id, ids)
    return reseal_rows(conn, set_seal(table), chunks, lambda r: seal(key, r[:-1]))


def write_sealed(conn: Connection, keys: Keyring, table: Table, where: Any, **values: Any) -> int:
    """Set ``values`` on the rows of ``table`` that ``where`` selects; each row that
    matched its seal is sealed again as it now is, one that did not keeps its broken seal
    (still refused, still named by `troth audit verify`). Returns how many rows changed."""
    key, seal = _key(keys, table.name), _SEALS[table.name]
    rows = conn.execute(_query(table).where(where)).all()
    if not rows:
        return 0
    good = [r[0] for r in rows if mac_matches(seal, key, r[:-1], r[-1])]
    ids = [r[0] for r in rows]
    done = conn.execute(update(table).where(where, table.c.id.in_(ids)).values(**values))
    seal_new(conn, keys, table, good)
    return int(done.rowcount or 0)


def tenant_rows(
    conn: Connection, keys: Keyring, ids: Iterable[str]
) -> tuple[dict[str, Any], list[str]]:
    """The tenants ``ids`` that match their seals (by id), and the ids of those that do
    not (changed outside troth: their primary address, name or status is not trusted)."""
    good: dict[str, Any] = {}
    bad: list[str] = []
    with tolerating():  # a value troth never writes matches no seal (troth.stored)
        found = list(rows_of(conn, select(tenants), tenants.c.id, ids))
    for rows in found:
        for r in rows:
            if row_matches(keys, tenants, r):
                good[r.id] = r
            else:
                bad.append(r.id)
    return good, bad


TENANT_TAMPERED = (
    "this tenant's row was changed outside troth (its primary e-mail, name or status edited"
    " in the database by a writer without the key file): no notice goes to its address;"
    " run `troth audit verify`, then restore the row from a backup"
)


def matching_ids(conn: Connection, keys: Keyring, table: Table, ids: Iterable[Any]) -> list[Any]:
    """Those of ``ids`` whose rows of ``table`` match their seals."""
    key, seal = _key(keys, table.name), _SEALS[table.name]
    return [
        r[0]
        for rows in rows_of(conn, _query(table), table.c.id, ids)
        for r in rows
        if mac_matches(seal, key, r[:-1], r[-1])
    ]


@contextmanager
def resealing(conn: Connection, keys: Keyring, table: Table, ids: Iterable[Any]) -> Iterator[None]:
    """Around a write of the rows ``ids`` of ``table`` that :func:`write_sealed` cannot
    make (one statement run for many rows): those that matched their seals before are
    sealed again after; one that did not stays unmatched."""
    good = matching_ids(conn, keys, table, ids)
    yield
    seal_new(conn, keys, table, good)


def bad_rows(conn: Connection, keys: Keyring, table: Table) -> tuple[int, list[str]]:
    """How many rows ``table`` has, and the ids of those that do not match their seals."""
    key, seal = _key(keys, table.name), _SEALS[table.name]
    rows = conn.execute(_query(table).order_by(table.c.id)).all()
    return len(rows), [r[0] for r in rows if not mac_matches(seal, key, r[:-1], r[-1])]


def sealed_tables() -> tuple[Table, Table]:
    """The tables :data:`troth.store.sealing.ACCESS_SEALED_ACTION` sealed (0014)."""
    return users, api_keys


def row_tables() -> tuple[Table, ...]:
    """The tables sealed since 0016 (:data:`troth.store.sealing.ROWS_SEALED_ACTION`):
    requests and tenants (identities: :mod:`troth.store.identity_seals`)."""
    return requests, tenants


def grant_tables() -> tuple[Table, ...]:
    """The tables sealed since 0015 (:data:`troth.store.sealing.GRANTS_SEALED_ACTION`):
    sessions, privacy-centre sessions, invitations and support grants."""
    from troth.access.signin import privacy_sessions

    return sessions, privacy_sessions, invitations, support_grants
