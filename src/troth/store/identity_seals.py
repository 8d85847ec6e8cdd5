"""Identity seals: each row of ``identities`` (a blind index that finds a person by an
e-mail address, phone number or customer id) carries a keyed MAC (HMAC-SHA256 under a key
of its own, derived from the key file) over its kind, blind index and person.

A database writer without the key file cannot re-point an address to another person (an
access request would export that person's data, an erasure erase them) nor give a person
an address they never gave: the row no longer matches its seal, and every look-up ignores
it (it finds nobody; audited ``record_tampered``, :func:`audit_tampered`), and `troth
audit verify` names it. `troth reindex` makes a person's identities again from their own
(sealed) values: it drops a row that does not match and seals the ones their values hold.

Every troth write of ``identities`` seals the row (:func:`sealed`): collection (in bulk,
one HMAC a row), correction and reindex; erasure deletes rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, select, update

from troth.store.mac import SealKey, mac_key, mac_matches, mac_of
from troth.store.tables import identities

if TYPE_CHECKING:
    from troth.audit.entry import AuditEntry
    from troth.context import Context
    from troth.keys import Keyring

__all__ = [
    "Hit",
    "audit_in_home",
    "audit_tampered",
    "bad_identities",
    "identity_matches",
    "live_hits",
    "seal_identities",
    "sealed",
    "tampered_entry",
]

_LABEL = "troth:identities:seal-key"
_PAGE = 5_000
# A row a look-up found: (blind index, person, their tenant, their erasure time).
Hit = tuple[str, str, str | None, Any]


def _key(keys: Keyring) -> SealKey:
    """The key, derived once per key ring (one HMAC per row checked after)."""
    cache: dict[str, SealKey] = keys.__dict__.setdefault("_access_seal_keys", {})
    if _LABEL not in cache:
        cache[_LABEL] = mac_key(keys, _LABEL)
    return cache[_LABEL]


def _seal(key: SealKey, row: Sequence[Any]) -> bytes:
    kind, bidx, subject_id = row
    return mac_of(key, ["i1", kind, bidx, subject_id])


def identity_matches(keys: Keyring, kind: str, bidx: str, subject_id: str, seal: Any) -> bool:
    """Whether ``seal`` is the seal of the identity (a missing seal never is)."""
    return mac_matches(_seal, _key(keys), (kind, bidx, subject_id), seal)


def sealed(keys: Keyring, rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` (kind, bidx, subject_id) with their seals, to insert."""
    key = _key(keys)
    return [{**r, "seal": _seal(key, (r["kind"], r["bidx"], r["subject_id"]))} for r in rows]


def live_hits(
    keys: Keyring, kind: str, rows: Iterable[Sequence[Any]], tampered: list[str] | None = None
) -> list[Hit]:
    """The rows of :func:`troth.store.subjects.blind_index_lookup` that match their seals,
    as ``(bidx, subject_id, tenant_id, erased_at)``; the people of those that do not are
    left out (added to ``tampered`` when given, for :func:`audit_tampered`)."""
    key = _key(keys)
    out: list[Hit] = []
    for h, sid, tenant, erased, seal in rows:
        if mac_matches(_seal, key, (kind, h, sid), seal):
            out.append((h, sid, tenant, erased))
        elif tampered is not None:
            tampered.append(f"{kind}:{sid}")
    return out


def audit_tampered(ctx: Context, action: str, found: Sequence[str]) -> None:
    """Record, once per look-up, that it ignored identities that do not match their seals
    (``record_tampered``; the kind and person of each, never the value looked up). In a
    transaction of its own: call it after the look-up's connection is closed."""
    if not found:
        return
    from troth.audit.log import append_entries, transaction

    with transaction(ctx) as conn:
        append_entries(conn, ctx.clock.now(), [tampered_entry(action, found)])


def audit_in_home(home: Any, found: Sequence[str]) -> None:
    """:func:`audit_tampered` for `troth find`, which opens only the keys and the database:
    the home opened in full (rare: only a look-up that met a tampered identity)."""
    from troth.engine import Troth
    from troth.home import open_context

    with Troth(open_context(home)) as t:  # closing signs the audit head
        audit_tampered(t.ctx, "identity.lookup", found)


def tampered_entry(action: str, found: Sequence[str]) -> AuditEntry:
    """The audit entry of a look-up that ignored the identities ``found``."""
    from troth.audit.refusals import denial
    from troth.gate import Reason

    return denial(action, "system", Reason.record_tampered, details={"identities": found[:20]})


def seal_identities(conn: Connection, keys: Keyring) -> int:
    """Seal every identity without a seal (`troth db migrate`, once per home)."""
    i = identities.c
    stmt = (
        update(identities)
        .where(i.kind == bindparam("k"), i.bidx == bindparam("b"), i.subject_id == bindparam("s"))
        .values(seal=bindparam("new_seal"))
    )
    key, done = _key(keys), 0
    q = select(i.kind, i.bidx, i.subject_id).where(i.seal.is_(None))
    while True:
        rows = conn.execute(q.limit(_PAGE)).all()
        if not rows:
            return done
        conn.execute(
            stmt, [{"k": k, "b": b, "s": s, "new_seal": _seal(key, (k, b, s))} for k, b, s in rows]
        )
        done += len(rows)


def bad_identities(conn: Connection, keys: Keyring) -> tuple[int, list[str]]:
    """How many identities there are, and ``kind:person`` of each that does not match its
    seal."""
    i = identities.c
    key, n, bad = _key(keys), 0, []
    q = select(i.kind, i.bidx, i.subject_id, i.seal).order_by(i.kind, i.bidx, i.subject_id)
    for k, b, s, seal in conn.execute(q):
        n += 1
        if not mac_matches(_seal, key, (k, b, s), seal):
            bad.append(f"{k}:{s}")
    return n, bad
