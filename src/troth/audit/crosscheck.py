"""What the audit log recorded about legal holds, consent events, restrictions, disclosures
and legal demands, checked against the tables troth decides on (part of ``troth audit
verify``).

Those tables are not sealed row by row: a database writer without the key file can delete
a hold, an unsubscribe or a restriction, or edit the consent state, and every decision
after it would follow. The log is append-only and signed, so it is the reference:

- **legal holds**: every hold the log says was placed and not lifted (``legal_hold.place``,
  ``legal_hold.lift``) must be active in ``legal_holds``, and every active hold there must
  have been placed; a person whose own sealed row says they are held must have an active
  hold, and the reverse (troth honours the person's mark anyway, fail closed:
  :func:`troth.requests.deferral.holds_on`);
- **consent**: every event the log recorded (``consent.<kind>``, its ``event_id``) must be
  in the ledger as recorded (person, purpose, kind, yes or no), every event of the ledger
  must be in the log (one by one, or inside the id range of an import), and the stored
  state must be the ledger's replay (``troth consent check``);
- **restrictions**: every restriction the log says was placed (``restriction.placed``) and
  not lifted (``request.restriction_lifted``) must be in ``restrictions``, unless the
  person was erased since (erasure ends them);
- **disclosures and legal demands** (their gags): :mod:`troth.disclosures.crosscheck`;
- **published policy versions** (their dates, digests and notices):
  :mod:`troth.policy.crosscheck`.

Not detected: holds, consent events and restrictions recorded before the log named them
(a home older than this check), and entries pending (PostgreSQL) are read with the rest.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, exists, select

from troth.audit.leaves import entry_columns, leaves_of
from troth.audit.tables import audit_entries, audit_pending
from troth.consent.events import ConsentKind
from troth.dialects import dialect_for
from troth.errors import TamperedValue
from troth.stored import is_unreadable

if TYPE_CHECKING:
    from troth.audit.verify import VerifyReport
    from troth.context import Context

# At most this many are named per finding (the count says how many there are).
NAMED = 20
HOLD_PLACE, HOLD_LIFT = "legal_hold.place", "legal_hold.lift"
RESTRICTION_PLACED = "restriction.placed"
RESTRICTION_LIFTED = "request.restriction_lifted"
CONSENT_ACTIONS = tuple(f"consent.{k.value}" for k in ConsentKind)
_WATCHED = (HOLD_PLACE, HOLD_LIFT, RESTRICTION_PLACED, RESTRICTION_LIFTED, *CONSENT_ACTIONS)
# What troth.disclosures.crosscheck reads.
_DISCLOSURE_ACTIONS = (
    "disclose",
    "legal_demand.record",
    "legal_demand.lift_gag",
    "legal_demand.notify",
)
_WATCHED += _DISCLOSURE_ACTIONS
# What troth.policy.crosscheck reads.
_VERSION_ACTIONS = ("policy.publish",)
_WATCHED += _VERSION_ACTIONS


@dataclass(frozen=True)
class AlteredEntry:
    """A watched entry whose contents no longer match its leaf hash: changed outside
    troth, so what it says is not evidence (the walk names the first such entry). Its
    details as stored, for a check to find the rows it named."""

    seq: int
    action: str
    details: str


@dataclass
class CrossReport:
    """What :func:`crosscheck` found: the ids it names per table, and what is wrong;
    ``altered``, the watched entries changed outside troth (:class:`AlteredEntry`)."""

    altered: list[AlteredEntry] = field(default_factory=list)
    bad_holds: list[str] = field(default_factory=list)
    bad_consents: list[str] = field(default_factory=list)
    bad_restrictions: list[str] = field(default_factory=list)
    bad_disclosures: list[str] = field(default_factory=list)
    bad_demands: list[str] = field(default_factory=list)
    bad_versions: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def add(self, names: list[str], found: Iterable[Any], problem: str) -> None:
        """Record ``found`` (ids or pairs) under ``names`` with ``problem`` (it gets the
        count and the first :data:`NAMED`), when there are any."""
        items = [str(x) for x in found]
        if not items:
            return
        names.extend(items[: max(0, NAMED - len(names))])
        shown = ", ".join(items[:NAMED]) + (" ..." if len(items) > NAMED else "")
        self.problems.append(problem.format(n=len(items), names=shown))


def crosscheck(ctx: Context) -> CrossReport:
    """Check holds, consent and restrictions against the log, in one snapshot."""
    report = CrossReport()
    conn = ctx.engine.connect()
    isolation = dialect_for(conn).snapshot_isolation
    if isolation is not None:
        conn = conn.execution_options(isolation_level=isolation)
    with conn:
        read = list(_entries(conn, report.altered))
        entries = [e for e, _ in read]
        for check in (_check_holds, _check_consent, _check_restrictions):
            _each(check, conn, entries, report)
        # The register's check leaves out the entries changed outside troth: an entry
        # edited to say "deny" never makes a genuine disclosure look inserted.
        _each(_check_disclosures, conn, [e for e, sound in read if sound], report)
        _each(_check_versions, conn, entries, report)
    return report


def _each(check: Any, conn: Connection, entries: list[Any], report: CrossReport) -> None:
    """One check; one that meets a value troth never writes (troth.stored) says so and
    the others go on (troth.audit.unreadable names the row)."""
    try:
        check(conn, entries, report)
    except TamperedValue as exc:
        what = check.__name__.removeprefix("_check_")
        report.problems.append(
            f"the {what} could not all be checked against the audit log: {exc.details['table']}"
            f".{exc.details['column']} holds a value troth never writes (its row is named below)"
        )


def with_crosscheck(ctx: Context, report: VerifyReport) -> VerifyReport:
    """``report`` with :func:`crosscheck`'s findings: any fails it, named and said."""
    found = crosscheck(ctx)
    report.bad_holds = found.bad_holds
    report.bad_consents = found.bad_consents
    report.bad_restrictions = found.bad_restrictions
    report.bad_disclosures = found.bad_disclosures + found.bad_demands
    report.bad_versions = found.bad_versions
    if found.problems:
        report.ok = False
        report.problem = "; ".join(p for p in (report.problem, *found.problems) if p)
    return report


def _entries(
    conn: Connection, altered: list[AlteredEntry]
) -> Iterator[tuple[tuple[Any, ...], bool]]:
    """(action, person, purpose, details, outcome, at) of every entry :data:`_WATCHED`
    names, in the tree (seq order) and pending (PostgreSQL), each with whether it is
    sound: an entry of the tree whose contents no longer match its leaf hash is not (it
    is added to ``altered``). Pending entries are checked by their MACs
    (:func:`troth.audit.pending.check_pending`)."""
    sqlite = dialect_for(conn).times_as_text
    c = audit_entries.c
    stmt = select(*entry_columns(sqlite), c.at.label("at_value"))
    rows = conn.execute(stmt.where(c.action.in_(_WATCHED)).order_by(c.seq)).all()
    for row, leaf in zip(rows, leaves_of(rows, sqlite), strict=True):
        sound = leaf == row.leaf_hash
        if not sound:
            altered.append(AlteredEntry(int(row.seq), str(row.action), str(row.details)))
        entry = _entry(row.action, row.subject_id, row.purpose, row.details, row.outcome)
        if not is_unreadable(row.at_value):  # an entry changed outside troth: the walk names it
            yield (*entry, row.at_value), sound
    p = audit_pending.c
    stmt = select(p.action, p.subject_id, p.purpose, p.details, p.outcome, p.at)
    for r in conn.execute(stmt.where(p.action.in_(_WATCHED)).order_by(*_PENDING_ORDER)):
        if not is_unreadable(r.at):
            yield (*_entry(r.action, r.subject_id, r.purpose, r.details, r.outcome), r.at), True


def _entry(action: Any, sid: Any, purpose: Any, details: Any, outcome: Any) -> tuple[Any, ...]:
    """(action, person, purpose, details parsed ({} if not a JSON object), outcome)."""
    try:
        parsed = json.loads(details)
    except (TypeError, ValueError):
        parsed = {}
    d = parsed if isinstance(parsed, dict) else {}
    return str(action), sid, purpose, d, outcome


_PENDING_ORDER = (audit_pending.c.at, audit_pending.c.id)


def _check_holds(conn: Connection, entries: list[Any], report: CrossReport) -> None:
    from troth.retention.tables import legal_holds
    from troth.store.tables import subjects

    placed: dict[str, Any] = {}
    for action, _sid, _purpose, d, *_ in entries:
        if action == HOLD_PLACE and d.get("hold"):
            placed[str(d["hold"])] = d.get("subject")
        elif action == HOLD_LIFT and d.get("hold"):
            placed.pop(str(d["hold"]), None)
    h, s = legal_holds.c, subjects.c
    active = set(conn.execute(select(h.id).where(h.lifted_at.is_(None))).scalars())
    report.add(
        report.bad_holds,
        sorted(set(placed) - active),
        "{n} legal hold(s) the audit log records as placed and never lifted are missing"
        " from legal_holds or marked lifted there (holds {names}): deleted or lifted"
        " outside troth. troth still holds anyone whose own sealed row says so; restore"
        " the rows from a backup, or place the holds again",
    )
    report.add(
        report.bad_holds,
        sorted(active - set(placed)),
        "{n} active legal hold(s) in legal_holds were never placed by troth, or were lifted"
        " (holds {names}): inserted or revived outside troth; check them, then lift them"
        " with `troth retention lift`",
    )
    live = exists(select(h.id).where(h.subject_id == s.id, h.lifted_at.is_(None)))
    marked = select(s.id).where(s.legal_hold.is_not(None), ~live).order_by(s.id)
    report.add(
        report.bad_holds,
        conn.execute(marked).scalars(),
        "{n} people's sealed rows say they are on legal hold but no active hold in"
        " legal_holds holds them (subjects {names}): a hold's row was deleted outside"
        " troth; troth keeps holding them (erasure and retention wait); restore the hold"
        " from a backup",
    )
    unmarked = (
        select(h.subject_id)
        .where(
            h.lifted_at.is_(None),
            h.subject_id.is_not(None),
            exists(select(s.id).where(s.id == h.subject_id, s.legal_hold.is_(None))),
        )
        .distinct()
        .order_by(h.subject_id)
    )
    report.add(
        report.bad_holds,
        conn.execute(unmarked).scalars(),
        "{n} people held in legal_holds have no hold on their own sealed row (subjects"
        " {names}): the hold's row was inserted outside troth",
    )


def _check_consent(conn: Connection, entries: list[Any], report: CrossReport) -> None:
    from troth.consent.state import mismatches
    from troth.consent.tables import consent_events

    logged: dict[int, tuple[Any, ...]] = {}
    imports: list[tuple[int, int]] = []
    for action, sid, purpose, d, *_ in entries:
        if not action.startswith("consent."):
            continue
        if d.get("event_id") is not None:
            kind = action.removeprefix("consent.")
            logged[int(d["event_id"])] = (sid, purpose, bool(d.get("granted")), kind)
        elif d.get("after_event_id") is not None:
            after = int(d["after_event_id"])
            last = d.get("last_event_id")
            imports.append((after, int(last) if last is not None else after + int(d["events"])))
    e = consent_events.c
    edited: list[int] = []
    unlogged: list[int] = []
    rows = conn.execution_options(yield_per=10_000).execute(
        select(e.id, e.subject_id, e.purpose, e.granted, e.kind).order_by(e.id)
    )
    for eid, sid, purpose, granted, kind in rows:
        was = logged.pop(int(eid), None)
        if was is None:
            if not any(lo < eid <= hi for lo, hi in imports):
                unlogged.append(int(eid))
        elif was != (sid, purpose, bool(granted), kind):
            edited.append(int(eid))
    report.add(
        report.bad_consents,
        sorted(logged),
        "{n} consent event(s) the audit log recorded are missing from the consent ledger"
        " (events {names}): deleted outside troth (a withdrawal or an unsubscribe undone);"
        " restore them from a backup, then run `troth consent rebuild`",
    )
    report.add(
        report.bad_consents,
        edited,
        "{n} consent event(s) in the ledger differ from what the audit log recorded"
        " (events {names}): edited outside troth; restore them from a backup",
    )
    report.add(
        report.bad_consents,
        unlogged,
        "{n} consent event(s) in the ledger were never recorded in the audit log (events"
        " {names}): inserted outside troth; delete them, then run `troth consent rebuild`",
    )
    report.add(
        report.bad_consents,
        (f"{m.subject_id}/{m.purpose}" for m in mismatches(conn, NAMED + 1)),
        "the stored consent state differs from the ledger for {n} person/purpose pair(s)"
        " ({names}): changed outside troth; troth treats such a state as no consent (no"
        " consent-based use, no mail); run `troth consent rebuild` to restore it from the"
        " ledger",
    )


def _check_restrictions(conn: Connection, entries: list[Any], report: CrossReport) -> None:
    from troth.store.tables import restrictions, subjects

    expected: set[tuple[str, str]] = set()
    for action, sid, _purpose, d, *_ in entries:
        if sid is None or action not in (RESTRICTION_PLACED, RESTRICTION_LIFTED):
            continue
        pairs = {(str(sid), str(p)) for p in d.get("purposes") or ()}
        expected = expected | pairs if action == RESTRICTION_PLACED else expected - pairs
    if not expected:
        return
    r, s = restrictions.c, subjects.c
    people = sorted({sid for sid, _ in expected})
    have: set[tuple[str, str]] = set()
    erased: set[str] = set()
    for start in range(0, len(people), 500):
        chunk = people[start : start + 500]
        have |= {
            (str(a), str(b))
            for a, b in conn.execute(select(r.subject_id, r.purpose).where(r.subject_id.in_(chunk)))
        }
        erased |= set(
            conn.execute(
                select(s.id).where(and_(s.id.in_(chunk), s.erased_at.is_not(None)))
            ).scalars()
        )
    missing = sorted(f"{sid}/{p}" for sid, p in expected - have if sid not in erased)
    report.add(
        report.bad_restrictions,
        missing,
        "{n} restriction(s) the audit log records as placed and never lifted are missing"
        " from restrictions ({names}): deleted outside troth, so those uses are allowed"
        " again; restore them from a backup (or restrict again with a request)",
    )


def _check_disclosures(conn: Connection, entries: list[Any], report: CrossReport) -> None:
    from troth.disclosures.crosscheck import check_disclosures

    check_disclosures(conn, (e for e in entries if e[0] in _DISCLOSURE_ACTIONS), report)


def _check_versions(conn: Connection, entries: list[Any], report: CrossReport) -> None:
    from troth.policy.crosscheck import check_versions

    check_versions(conn, (e for e in entries if e[0] in _VERSION_ACTIONS), report)
