"""Who a breach affects (P33), computed from the data and the audit log.

A breach names the systems it hit, the categories of data involved and a time window.
A person is affected when data of a breached category about them was **held** in a
breached system during the window, or was **read through** a breached system in the
window according to the audit log. The systems are the ones troth knows:

- ``troth``: troth's own store. Held: a value of a breached category collected before
  the window ended (kept legal minimums included). Read: an allowed use, export or
  disclosure of a breached category audited in the window.
- a connected dataset (its ``name``): held: a row with a non-empty column of a breached
  category, attributed to the person through the row's own identity columns or those of
  the rows it belongs to (the declared links), matched to troth's people by blind index.
- a recipient of the policy (its ``id``): held: data of a breached category disclosed to
  it before the window ended.

The officer may scope a breach to tenants, to a list of people, or to some actors (a rogue
account): then only what those actors read counts (:mod:`troth.breaches.readers`).
Nothing here sends anything: the register computes, the officer reviews, then notifies.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, func, insert, literal, or_, select, true

from troth.audit.tables import audit_entries
from troth.breaches.tables import breach_subjects
from troth.connectors.declaration import IdentityKind
from troth.connectors.walk import Holder
from troth.context import Context
from troth.disclosures.tables import disclosures
from troth.errors import TrothError, ValidationError
from troth.store.identity_seals import live_hits
from troth.store.plain import plain_fields
from troth.store.subjects import blind_index_lookup
from troth.store.tables import records, subjects

# The store itself, as a system name.
STORE_SYSTEM = "troth"

# Audited actions that reveal a person's data to whoever performed them.
READ_ACTIONS = (
    "use",
    "export",
    "disclose",
    "tenant.export",
    "request.access",
    "request.portability",
)
_BATCH = 500


class Source(StrEnum):
    """Why a person is on a breach's list. Stored: never rename a value."""

    data = "data"  # held in troth's store
    dataset = "dataset"  # held in a breached connected dataset
    recipient = "recipient"  # disclosed to a breached recipient
    audit = "audit"  # read through troth in the window, per the audit log


class SystemKind(StrEnum):
    store = "store"
    dataset = "dataset"
    recipient = "recipient"


@dataclass(frozen=True)
class Scope:
    """Limits the officer puts on a breach: only these tenants, only these people, only
    what these actors read (then nothing else counts; as the audit log writes them,
    ``kind:id``). Empty means no limit."""

    tenants: tuple[str, ...] = ()
    subjects: tuple[str, ...] = ()
    actors: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, list[str]]:
        return plain_fields(self)


@dataclass
class Outcome:
    """What the computation found: people per source, and identities found in connected
    datasets that troth cannot match to anyone it knows (the officer must tell those
    people through that system)."""

    by_source: dict[str, int] = field(default_factory=dict)
    unmatched: dict[str, int] = field(default_factory=dict)


def known_systems(ctx: Context) -> dict[str, SystemKind]:
    """Every system a breach may name, by its canonical name: ``troth``, ``dataset:NAME``
    for each connected dataset of the home, ``recipient:ID`` for each of the policy's
    recipients (the names request reports use)."""
    from troth.requests.connected import connected_datasets

    out = {STORE_SYSTEM: SystemKind.store}
    for ds in connected_datasets(ctx):
        out[f"dataset:{ds.name}"] = SystemKind.dataset
    for r in ctx.policy.policy.recipients:
        out[f"recipient:{r.id}"] = SystemKind.recipient
    return out


def known_categories(ctx: Context) -> set[str]:
    """The categories a breach may name: the policy's, and those the home's connected
    datasets declare for their columns."""
    from troth.requests.connected import connected_datasets

    out = set(ctx.policy.categories)
    for ds in connected_datasets(ctx):
        for table in ds.tables.values():
            out |= {c.category for c in table.columns.values() if c.category}
    return out


def check_systems(ctx: Context, systems: Iterable[str]) -> list[str]:
    """The systems by canonical name, sorted and distinct. A dataset or recipient may be
    named without its prefix when no other system has that name. An unknown or ambiguous
    name is refused with the known ones listed."""
    known = known_systems(ctx)
    bare: dict[str, list[str]] = {}
    for name in known:
        bare.setdefault(name.split(":", 1)[-1], []).append(name)
    names: set[str] = set()
    unknown: list[str] = []
    for s in systems:
        if not isinstance(s, str):
            unknown.append(repr(s))
        elif s in known:
            names.add(s)
        elif len(bare.get(s, [])) == 1:
            names.add(bare[s][0])
        elif bare.get(s):
            raise ValidationError(
                f"system {s!r} is ambiguous: write one of {', '.join(sorted(bare[s]))}",
                field="systems",
            )
        else:
            unknown.append(repr(s))
    if unknown:
        raise ValidationError(
            f"unknown system{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}: a breach"
            " names troth's store, a connected dataset or a recipient of the policy:"
            f" {', '.join(sorted(known))}",
            field="systems",
        )
    if not names:
        raise ValidationError("name the systems involved", field="systems")
    return sorted(names)


def check_scope(conn: Connection, ctx: Context, scope: Scope) -> None:
    """Every tenant and person the scope names exists; otherwise say which do not."""
    from troth.store.tables import tenants

    for label, table, ids in (
        ("tenant", tenants, scope.tenants),
        ("person", subjects, scope.subjects),
    ):
        found: set[str] = set()
        for chunk in _chunks(sorted(set(ids))):
            found |= set(conn.execute(select(table.c.id).where(table.c.id.in_(chunk))).scalars())
        missing = sorted(set(ids) - found)
        if missing:
            shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
            raise ValidationError(
                f"no {label} with id {shown}: scope the breach to {label}s troth knows",
                field="tenants" if label == "tenant" else "subjects",
            )


def dataset_holders(
    ctx: Context, systems: Sequence[str], categories: Sequence[str]
) -> dict[str, list[Holder]]:
    """For each breached connected dataset, everyone it holds data of the categories
    about, as their identities. Read before troth's transaction opens (another database)."""
    from troth.requests.connected import open_connector

    known = known_systems(ctx)
    wanted = [s for s in systems if known.get(s) is SystemKind.dataset]
    if not wanted:
        return {}
    connector = open_connector(ctx)
    if connector is None:  # pragma: no cover - known_systems found datasets
        return {}
    try:
        return {
            name: connector.runner(name.split(":", 1)[1]).holders(set(categories))
            for name in wanted
        }
    finally:
        connector.close()


@dataclass(frozen=True)
class Incident:
    """What a breach hit, as :func:`compute_affected` reads it: the breach, its categories
    and systems, its window, the officer's scope, and who each breached connected
    dataset holds (:func:`dataset_holders`)."""

    breach_id: str
    categories: Sequence[str]
    systems: Sequence[str]
    since: datetime
    until: datetime
    scope: Scope
    holders: dict[str, list[Holder]]

    @property
    def cats(self) -> list[str]:
        return sorted(set(self.categories))


def compute_affected(conn: Connection, ctx: Context, incident: Incident) -> Outcome:
    """Fill ``breach_subjects`` for the incident's breach; one row a person, with the first
    source that found them (store, datasets, recipients, then the audit log). A breach by
    named actors (a rogue account) affects exactly the people whose data of a breached
    category they read, per the audit log: what the systems hold is not counted."""
    known = known_systems(ctx)
    out = Outcome()
    in_scope = _scope_condition(incident.scope)
    bid = incident.breach_id
    if incident.scope.actors:
        _add_read(conn, incident, in_scope)
        _count(conn, bid, Source.audit, out)
        return out
    if STORE_SYSTEM in incident.systems:
        _add_held(conn, incident, in_scope)
        _count(conn, bid, Source.data, out)
    for name, ids in incident.holders.items():
        people, unmatched = _match(conn, ctx, ids, incident.scope)
        _add(conn, bid, people, Source.dataset)
        # Unknown to troth, they belong to no tenant or list: reported for unscoped breaches.
        if unmatched and not (incident.scope.tenants or incident.scope.subjects):
            out.unmatched[name] = unmatched
    _count(conn, bid, Source.dataset, out)
    recipients = [
        s.split(":", 1)[1] for s in incident.systems if known.get(s) is SystemKind.recipient
    ]
    if recipients:
        _add_disclosed(conn, incident, recipients, in_scope)
        _count(conn, bid, Source.recipient, out)
    if STORE_SYSTEM in incident.systems:
        _add_read(conn, incident, in_scope)
        _count(conn, bid, Source.audit, out)
    return out


def _count(conn: Connection, breach_id: str, source: Source, out: Outcome) -> None:
    """Note how many people ``source`` put on the list (none: nothing noted)."""
    bs = breach_subjects
    n = conn.execute(
        select(func.count())
        .select_from(bs)
        .where(bs.c.breach_id == breach_id, bs.c.source == source.value)
    ).scalar_one()
    if n:
        out.by_source[source.value] = int(n)


def _add_held(conn: Connection, incident: Incident, in_scope: Any) -> None:
    """Everyone troth's store held a breached category of before the window ended."""
    held = (
        select(literal(incident.breach_id), records.c.subject_id, literal(Source.data.value))
        .where(
            records.c.category.in_(incident.cats),
            records.c.collected_at <= incident.until,
            records.c.anonymised.is_(False),
            in_scope(records.c.subject_id),
        )
        .distinct()
    )
    conn.execute(insert(breach_subjects).from_select(["breach_id", "subject_id", "source"], held))


def _add_disclosed(
    conn: Connection, incident: Incident, recipients: list[str], in_scope: Any
) -> None:
    """Everyone a breached category of was disclosed to a breached recipient about."""
    d = disclosures
    rows = conn.execute(
        select(d.c.subject_id, d.c.categories).where(
            d.c.recipient.in_(recipients), d.c.at <= incident.until, in_scope(d.c.subject_id)
        )
    )
    cats = set(incident.cats)
    people = {sid for sid, c in rows if set(c or ()) & cats}
    _add(conn, incident.breach_id, people, Source.recipient)


def _add_read(conn: Connection, incident: Incident, in_scope: Any) -> None:
    """Everyone whose data of a breached category the audit log shows read in the window
    (only by the scope's actors, when it names some)."""
    a = audit_entries
    cats = incident.cats
    q = select(a.c.subject_id, a.c.categories).where(
        a.c.at >= incident.since,
        a.c.at <= incident.until,
        a.c.subject_id.is_not(None),
        a.c.outcome == "allow",
        a.c.action.in_(READ_ACTIONS),
        or_(*[a.c.categories.contains(json.dumps(c), autoescape=True) for c in cats]),
        in_scope(a.c.subject_id),
    )
    if incident.scope.actors:
        q = q.where(a.c.actor.in_(list(incident.scope.actors)))
    read = {sid for sid, c in conn.execute(q) if set(json.loads(c)) & set(cats)}
    _add(conn, incident.breach_id, read, Source.audit)


def _scope_condition(scope: Scope) -> Any:
    """A function: subject-id column -> the condition that keeps it inside the scope."""

    def cond(col: Any) -> ColumnElement[bool]:
        parts: list[ColumnElement[bool]] = []
        if scope.subjects:
            parts.append(col.in_(list(scope.subjects)))
        if scope.tenants:
            parts.append(
                col.in_(select(subjects.c.id).where(subjects.c.tenant_id.in_(list(scope.tenants))))
            )
        return and_(*parts) if parts else true()

    return cond


def _match(
    conn: Connection, ctx: Context, people: list[Holder], scope: Scope
) -> tuple[set[str], int]:
    """troth's people behind a dataset's holders (inside the scope), and how many holders
    match no one troth knows (matched through the blind indexes, never plaintext)."""
    hashes: dict[tuple[IdentityKind, str], str] = {}
    for person in people:
        for kind, value in person:
            try:
                hashes[(kind, value)] = ctx.keys.blind_index(kind.value, value)
            except (TrothError, ValueError):
                continue  # not a well-formed address or number: matches no one
    found: dict[tuple[str, str], list[tuple[str, str | None]]] = {}
    for kind in IdentityKind:
        wanted = sorted({h for (k, _), h in hashes.items() if k is kind})
        for chunk in _chunks(wanted):
            rows = live_hits(
                ctx.keys, kind.value, conn.execute(blind_index_lookup(kind.value, chunk))
            )
            for h, sid, tenant, _erased in rows:
                found.setdefault((kind.value, h), []).append((str(sid), tenant))
    matched: set[str] = set()
    unmatched = 0
    for person in people:
        hits = [
            hit
            for ident in person
            if ident in hashes
            for hit in found.get((ident[0].value, hashes[ident]), [])
        ]
        if not hits:
            unmatched += 1
        for sid, tenant in hits:
            if scope.tenants and tenant not in scope.tenants:
                continue
            if scope.subjects and sid not in scope.subjects:
                continue
            matched.add(sid)
    return matched, unmatched


def _add(conn: Connection, breach_id: str, people: set[str], source: Source) -> None:
    bs = breach_subjects
    for chunk in _chunks(sorted(people)):
        present = set(
            conn.execute(
                select(bs.c.subject_id).where(
                    bs.c.breach_id == breach_id, bs.c.subject_id.in_(chunk)
                )
            ).scalars()
        )
        new = [s for s in chunk if s not in present]
        if new:
            conn.execute(
                insert(bs),
                [{"breach_id": breach_id, "subject_id": s, "source": source.value} for s in new],
            )


def _chunks(values: Sequence[str]) -> Iterator[list[str]]:
    for i in range(0, len(values), _BATCH):
        yield list(values[i : i + _BATCH])


__all__ = [
    "READ_ACTIONS",
    "STORE_SYSTEM",
    "Incident",
    "Outcome",
    "Scope",
    "Source",
    "SystemKind",
    "check_scope",
    "check_systems",
    "compute_affected",
    "dataset_holders",
    "known_categories",
    "known_systems",
]
