"""The identities a collection carries: the values of the fields the policy marks
``identifies`` (e-mail, phone, customer id), found through their blind indexes.

A row names its person (a subject id) or is resolved to one by these values, within the
tenant the values are filed under (the scope lookups use). Either way, a value that
already identifies a different person of that tenant refuses the whole collection
(:class:`IdentifierInUse`): storing it would merge two people, so that ``find`` and an
erasure reach the wrong one. Each identity stored onto a person is added to their
identities, beside those they gave before (each finds them), and the newest of each kind
is written to their row, as ``troth store reindex`` keeps both."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select, update

from troth.collection.phones import region_for
from troth.context import Context
from troth.driver import insert_many
from troth.errors import Conflict
from troth.policy.model import CollectionPoint
from troth.store.identity_seals import live_hits, sealed
from troth.store.ids import new_id
from troth.store.subjects import blind_index_lookup
from troth.store.tables import identities, subjects

__all__ = [
    "IdentifierInUse",
    "Identities",
    "index_identities",
    "read_identities",
    "resolve_people",
]

# Blind indexes looked up per query (an IN list under every database's parameter limit).
_CHUNK = 900


class IdentifierInUse(Conflict):
    """An identifying value that belongs to another person: names the field, never the
    value or the other person."""

    code = "identifier_in_use"


@dataclass(frozen=True)
class Identities:
    """Each row's identities (kind -> blind index), the field each kind comes from, and
    the live people of the tenant each blind index already names."""

    rows: list[dict[str, str]]
    fields: dict[str, str]
    owners: dict[tuple[str, str], set[str]]


def read_identities(
    conn: Connection,
    ctx: Context,
    cp: CollectionPoint,
    rows: Sequence[Mapping[str, Any]],
    juris: str,
    tenant_id: str | None,
) -> Identities:
    """The rows' identities and who among ``tenant_id``'s live people already has each
    (one IN query per kind and chunk; tenant and erasure checked on the rows found)."""
    fields = {spec.identifies: f for f, spec in cp.fields.items() if spec.identifies}
    region = region_for(ctx.policy.policy, juris)
    hashes = [
        {
            kind: ctx.keys.blind_index(kind, str(data[f]), region=region)
            for kind, f in fields.items()
            if data.get(f) not in (None, "")
        }
        for data in rows
    ]
    owners: dict[tuple[str, str], set[str]] = {}
    for kind in fields:
        wanted = sorted({h[kind] for h in hashes if kind in h})
        for start in range(0, len(wanted), _CHUNK):
            q = blind_index_lookup(kind, wanted[start : start + _CHUNK])
            # An identity changed outside troth names nobody (it never joins a row to
            # another person; `troth audit verify` names it).
            for h, sid, tenant, erased in live_hits(ctx.keys, kind, conn.execute(q)):
                if tenant == tenant_id and erased is None:
                    owners.setdefault((kind, h), set()).add(str(sid))
    return Identities(hashes, fields, owners)


def resolve_people(ids: Identities) -> tuple[list[str], list[dict[str, Any]]]:
    """Each row's person, found by its identities (the first kind that names someone),
    or a new id; returns the ids and the people to create. Later rows of a batch with the
    same identity are the same person."""
    known = {key: min(people) for key, people in ids.owners.items()}
    sids: list[str] = []
    new_rows: list[dict[str, Any]] = []
    for bidx in ids.rows:
        sid = next((known[(k, h)] for k, h in bidx.items() if (k, h) in known), None)
        if sid is None:
            sid = new_id()
            new_rows.append(
                {
                    "id": sid,
                    "email_bidx": bidx.get("email"),
                    "phone_bidx": bidx.get("phone"),
                    "customer_id_bidx": bidx.get("customer_id"),
                }
            )
        for k, h in bidx.items():
            known.setdefault((k, h), sid)
        sids.append(sid)
    return sids, new_rows


def other_owner(ids: Identities, sids: Sequence[str]) -> IdentifierInUse | None:
    """The refusal of the first identity stored onto one person that names only other
    people of the tenant (in the store, or in an earlier row of the batch), or None. A
    value the person already has is theirs, even where an old merge shares it."""
    owners = {key: set(people) for key, people in ids.owners.items()}
    for i, (sid, bidx) in enumerate(zip(sids, ids.rows, strict=True)):
        for kind, h in bidx.items():
            have = owners.setdefault((kind, h), set())
            if have and sid not in have:
                fname = ids.fields[kind]
                row = f" (row {i})" if len(sids) > 1 else ""
                return IdentifierInUse(
                    f"field {fname!r}{row} holds a {kind.replace('_', ' ')} that already"
                    " identifies another person: nothing was stored. Collect it onto that"
                    " person (look them up with `troth find`), or correct the value",
                    field=fname,
                )
            have.add(sid)
    return None


def index_identities(
    conn: Connection, ctx: Context, ids: Identities, sids: Sequence[str], created: set[str]
) -> None:
    """Add each identity stored onto a person that they do not have yet to their
    identities (every one they have given finds them; sealed, one HMAC a row), and write
    the batch's last value of each kind to an existing person's row (the newest)."""
    newest: dict[str, dict[str, str]] = {}
    fresh: set[tuple[str, str, str]] = set()
    for sid, bidx in zip(sids, ids.rows, strict=True):
        fresh.update(
            (kind, h, sid) for kind, h in bidx.items() if sid not in ids.owners.get((kind, h), ())
        )
        if sid not in created:
            newest.setdefault(sid, {}).update(bidx)
    known = sorted({sid for _k, _h, sid in fresh} - created)
    for start in range(0, len(known), _CHUNK):  # an erased person's, say, or another's
        held = select(identities.c.kind, identities.c.bidx, identities.c.subject_id).where(
            identities.c.subject_id.in_(known[start : start + _CHUNK])
        )
        fresh -= {(str(k), str(h), str(sid)) for k, h, sid in conn.execute(held)}
    if fresh:
        rows = [{"kind": k, "bidx": h, "subject_id": sid} for k, h, sid in sorted(fresh)]
        insert_many(conn, identities, sealed(ctx.keys, rows))
    for sid, change in newest.items():
        have = {k: h for (k, h), people in ids.owners.items() if sid in people}
        todo = {f"{k}_bidx": h for k, h in change.items() if have.get(k) != h}
        if todo:
            conn.execute(update(subjects).where(subjects.c.id == sid).values(**todo))
