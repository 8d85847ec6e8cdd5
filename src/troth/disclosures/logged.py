"""A legal demand's gag as the audit log recorded it, where troth decides what a person may
be told (P20), so that a gag changed outside troth never lifts early.

``legal_demands`` is not sealed row by row: a database writer without the key file could
move a ``gag_until`` into the past (the person, a suspect under a live non-disclosure
order, is tipped off) or later (the person is never told). The log is append-only and
signed, and every demand's entry (``legal_demand.record``) is written at its
``recorded_at`` with its gag; a gag lifted through troth has its entry
(``legal_demand.lift_gag``) at the new ``gag_until``. So where troth reads a gag to decide
(the privacy centre, the access export, the tenant's log, the disclosure lists, notices
due, a disclosure under the demand), it finds those entries through the log's index on
time, compares, and honours **the gag the log recorded** when the row differs; a demand
whose entry cannot be found at all (its ``recorded_at`` edited, or the row inserted) is
treated as gagged until it is repaired. Either is audited once per process
(``legal_demand.gag``, reason ``record_tampered``). ``troth audit verify`` names every such
row (:mod:`troth.disclosures.crosscheck`).

The answer for one row's values is kept per process (log entries never change), so a
view reads the demands' rows (few) and, for a row not seen before, one indexed query.
An edit of the log itself is not caught here but by ``troth audit verify`` (its hashes).
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, literal, or_, select, union_all

from troth.audit.entries import details_of
from troth.audit.entry import AuditEntry
from troth.audit.log import append_entries, transaction
from troth.audit.refusals import denial
from troth.audit.tables import audit_entries, audit_pending
from troth.context import Context
from troth.disclosures.tables import legal_demands
from troth.stored import is_unreadable, parsed, tolerating

RECORD, LIFT, NOTIFY = "legal_demand.record", "legal_demand.lift_gag", "legal_demand.notify"
# Times compared within this (a backend keeping whole seconds rounds where the log truncates).
SLACK = timedelta(seconds=1)
# The gag of a demand whose entry the log does not hold: until the row is repaired.
UNTIL_REPAIRED = datetime.max.replace(tzinfo=UTC)
_CHUNK = 100


@dataclass(frozen=True)
class DemandRow:
    """What troth decides on in a demand's row; ``recorded_at`` None: the row is missing
    (a disclosure names a demand no row holds)."""

    id: str
    authority: str | None
    recipient: str | None
    gag_until: datetime | None
    recorded_at: datetime | None
    received_at: datetime | None


@dataclass(frozen=True)
class Honoured:
    """The gag troth honours for a demand, what of its row differs from the log (None:
    nothing), the seq of its ``legal_demand.record`` entry (0: not known) and that entry's
    details (what the demand asks for: troth.disclosures.scope)."""

    gag_until: datetime | None
    tampered: str | None = None
    record_seq: int = 0
    recorded: Mapping[str, Any] = field(default_factory=dict)

    def gagged(self, now: datetime) -> bool:
        return self.gag_until is not None and self.gag_until > now

    def refusal(self, demand_id: str) -> str:
        """Why nothing is disclosed under a demand whose row differs from the log."""
        return (
            f"legal demand {demand_id} differs from what the audit log recorded"
            f" ({self.tampered}): changed outside troth, so nothing is disclosed under it."
            " Run `troth audit verify`, then restore the row from a backup"
        )


@dataclass
class Checked:
    """Each demand's :class:`Honoured` gag, and the tampered rows not audited yet."""

    gags: dict[str, Honoured] = field(default_factory=dict)
    unaudited: list[tuple[DemandRow, Honoured]] = field(default_factory=list)

    def live_gag(self, demand_id: str | None, now: datetime) -> datetime | None:
        """The end of ``demand_id``'s gag if it runs at ``now``, else None."""
        h = self.gags.get(demand_id or "")
        return h.gag_until if h is not None and h.gagged(now) else None

    def merge(self, other: Checked) -> None:
        self.gags.update(other.gags)
        self.unaudited += other.unaudited

    def audit(self, ctx: Context, conn: Connection | None = None) -> None:
        """Audit each tampered row once (``conn``: in the caller's transaction; else in one
        of its own, so call it after any read connection is closed)."""
        if not self.unaudited:
            return
        entries = [_tampered_entry(row, h) for row, h in self.unaudited]
        if conn is not None:
            append_entries(conn, ctx.clock.now(), entries)
        else:
            with transaction(ctx) as own:
                append_entries(own, ctx.clock.now(), entries)
        audited = _AUDITED.setdefault(ctx.engine, set())
        audited.update(row for row, _ in self.unaudited)
        self.unaudited = []


_CACHE: weakref.WeakKeyDictionary[Engine, dict[DemandRow, Honoured]] = weakref.WeakKeyDictionary()
_AUDITED: weakref.WeakKeyDictionary[Engine, set[DemandRow]] = weakref.WeakKeyDictionary()


def demand_rows(conn: Connection, ids: Iterable[str] | None = None) -> list[DemandRow]:
    """The rows of the demands ``ids`` (None: every demand; there are few), a
    :class:`DemandRow` with ``recorded_at`` None for an id no row holds. A time troth
    never writes (an empty or garbled gag) comes back as troth.stored.Unreadable: it
    matches no entry, so the log's gag is honoured."""
    d = legal_demands.c
    stmt = select(d.id, d.authority, d.recipient, d.gag_until, d.recorded_at, d.received_at)
    with tolerating():
        if ids is None:
            return [DemandRow(*r) for r in conn.execute(stmt)]
        wanted = sorted(set(ids))
        out = {i: DemandRow(i, None, None, None, None, None) for i in wanted}
        for start in range(0, len(wanted), 500):
            for r in conn.execute(stmt.where(d.id.in_(wanted[start : start + 500]))):
                out[r.id] = DemandRow(*r)
    return list(out.values())


def check_demands(conn: Connection, rows: Iterable[DemandRow]) -> Checked:
    """The gag to honour for each row (:class:`Honoured`), from the log."""
    rows = list(rows)
    engine = conn.engine
    cache = _CACHE.setdefault(engine, {})
    unknown = [r for r in dict.fromkeys(rows) if r not in cache]
    for start in range(0, len(unknown), _CHUNK):
        chunk = unknown[start : start + _CHUNK]
        found = _logged(conn, chunk)
        cache.update((r, _verdict(r, found.get(r.id, []))) for r in chunk)
    audited = _AUDITED.get(engine, set())
    checked = Checked()
    for r in rows:
        h = checked.gags[r.id] = cache[r]
        if h.tampered and r not in audited:
            checked.unaudited.append((r, h))
    return checked


def honoured_of(conn: Connection, demand_id: str) -> tuple[Honoured, Checked]:
    """One demand's :class:`Honoured` gag (and the :class:`Checked` to audit)."""
    checked = check_demands(conn, demand_rows(conn, [demand_id]))
    return checked.gags[demand_id], checked


def parse_time(value: Any) -> datetime | None:
    """A time as an entry's details write it (ISO 8601), or None."""
    if not isinstance(value, str):
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def same_time(a: datetime | None, b: datetime | None) -> bool:
    """Whether ``a`` and ``b`` are the same time (within :data:`SLACK`), or both None; a
    value that is no time (troth.stored.Unreadable: changed outside troth) never is."""
    if a is None or b is None:
        return a is b
    if not isinstance(a, datetime) or not isinstance(b, datetime):
        return False
    return abs(_utc(a) - _utc(b)) < SLACK


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


@dataclass(frozen=True)
class _Found:
    seq: int
    at: datetime
    action: str
    details: Mapping[str, Any]


def _logged(conn: Connection, rows: list[DemandRow]) -> dict[str, list[_Found]]:
    """The ``legal_demand.record`` and ``lift_gag`` entries near the rows' times (pending
    entries too: one statement, one snapshot), by the demand they name."""
    times = [t for r in rows for t in (r.recorded_at, r.gag_until) if isinstance(t, datetime)]
    out: dict[str, list[_Found]] = {}
    if not times:
        return out
    parts = []
    for table, seq in ((audit_entries, audit_entries.c.seq), (audit_pending, literal(0))):
        near = or_(*(table.c.at.between(_utc(t) - SLACK, _utc(t) + SLACK) for t in times))
        parts.append(
            select(seq.label("seq"), table.c.at, table.c.action, table.c.details).where(
                near, table.c.action.in_((RECORD, LIFT)), table.c.subject_id.is_(None)
            )
        )
    with tolerating():  # an entry whose time troth never wrote: no record (verify names it)
        entries = [r for r in conn.execute(union_all(*parts)) if not is_unreadable(r[1])]
    for seq_, at, action, details in entries:
        parsed = details_of(details)
        demand = parsed.get("demand")
        if isinstance(demand, str):
            out.setdefault(demand, []).append(_Found(int(seq_), _utc(at), action, parsed))
    return out


def _verdict(row: DemandRow, found: list[_Found]) -> Honoured:
    """Compare a row with its entries: the gag the log recorded, and what differs."""
    if row.recorded_at is None:
        return Honoured(UNTIL_REPAIRED, "the demand's row is missing")
    if is_unreadable(row.recorded_at):
        return Honoured(UNTIL_REPAIRED, "recorded_at holds a value troth never writes")
    record = next(
        (f for f in found if f.action == RECORD and same_time(f.at, row.recorded_at)), None
    )
    if record is None:
        return Honoured(UNTIL_REPAIRED, "no entry of the log recorded this demand")
    d = record.details
    gag = parse_time(d.get("gag_until"))
    differs = [name for name in _FIELDS if name in d and d[name] != getattr(row, name)]
    if "received_at" in d and not same_time(parse_time(d["received_at"]), row.received_at):
        differs.append("received_at")
    if not same_time(row.gag_until, gag):
        lifted = any(
            f.action == LIFT
            and same_time(f.at, row.gag_until)
            and same_time(parse_time(f.details.get("gag_until_was")), gag)
            for f in found
        )
        if lifted:
            gag = row.gag_until
        else:
            differs.append("gag_until")
    return Honoured(gag, ", ".join(differs) or None, record.seq, d)


_FIELDS = ("authority", "recipient")


def _tampered_entry(row: DemandRow, h: Honoured) -> AuditEntry:
    from troth.gate import SYSTEM, Reason

    honoured = (
        "until repaired"
        if h.gag_until == UNTIL_REPAIRED
        else (h.gag_until.isoformat() if h.gag_until else None)
    )
    return denial(
        "legal_demand.gag",
        SYSTEM,
        Reason.record_tampered,
        details={"demand": row.id, "differs": h.tampered, "gag_honoured": honoured},
    )


def logged_disclosures(
    conn: Connection, demand_id: str, after_seq: int
) -> Iterator[tuple[str, _Found, str | None, str | None, tuple[str, ...]]]:
    """The disclosures the log recorded under ``demand_id`` (entries after ``after_seq``)
    and not told since: (id, entry, person, purpose, categories). Read once, when the
    demand's gag ends: it scans the log from the demand's entry on."""
    parts = []
    for table, seq in ((audit_entries, audit_entries.c.seq), (audit_pending, literal(0))):
        cols = (table.c.subject_id, table.c.purpose, table.c.categories, table.c.outcome)
        stmt = select(seq.label("seq"), table.c.at, table.c.action, table.c.details, *cols)
        stmt = stmt.where(
            table.c.action.in_(("disclose", NOTIFY)),
            table.c.details.contains(json.dumps(demand_id), autoescape=True),
        )
        parts.append(stmt.where(table.c.seq > after_seq) if table is audit_entries else stmt)
    made: dict[str, tuple[str, _Found, str | None, str | None, tuple[str, ...]]] = {}
    told: set[str] = set()
    with tolerating():
        found = [r for r in conn.execute(union_all(*parts)) if not is_unreadable(r[1])]
    for seq_, at, action, details, sid, purpose, cats, outcome in found:
        d = details_of(details)
        did = d.get("disclosure")
        if not isinstance(did, str):
            continue
        if action == NOTIFY and d.get("demand") == demand_id:
            told.add(did)
        elif outcome == "allow" and d.get("legal_demand") == demand_id:
            categories = tuple(
                str(c) for c in parsed(cats or "[]", "audit_entries.categories", list)
            )
            made[did] = (did, _Found(int(seq_), _utc(at), action, d), sid, purpose, categories)
    for did, item in made.items():
        if did not in told:
            yield item


def demand_of(row: Any) -> DemandRow:
    """The :class:`DemandRow` of a disclosure's row joined to its demand's
    (``legal_demand_id``, ``authority``, ``demand_recipient``, ``gag_until``,
    ``recorded_at``, ``received_at``; all None past the id when no row holds it)."""
    return DemandRow(
        row.legal_demand_id,
        row.authority,
        row.demand_recipient,
        row.gag_until,
        row.recorded_at,
        row.received_at,
    )
