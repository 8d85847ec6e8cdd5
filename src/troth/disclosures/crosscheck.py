"""What the audit log recorded about disclosures and legal demands, checked against
``disclosures`` and ``legal_demands`` (part of ``troth audit verify``, called by
:mod:`troth.audit.crosscheck` with the log's entries read in its snapshot).

- **disclosures**: every disclosure the log recorded (``disclose`` allowed, its
  ``disclosure`` id) must be in ``disclosures`` with the person, recipient, purpose and
  legal demand recorded; every row there must have been recorded; a row marked told
  (``notified_at``) must have its notice in the log (``legal_demand.notify``), and so
  must every disclosure under a demand marked ``notified``;
- **legal demands**: every demand the log recorded (``legal_demand.record``) must be in
  ``legal_demands`` with its authority, instrument, reference (its digest), recipient,
  received time, scope (categories and period) and gag as recorded, or as a
  ``legal_demand.lift_gag`` entry changed it; every row there must have been recorded.

Only entries that still match their leaf hash are read: one changed outside troth is not
evidence. A row such an entry names is said to be recorded by an altered entry, and kept
(the row is troth's record of what it did); while the log holds such entries, a row no
sound entry records is never advised for deletion either (the altered entry may be its).

Not detected: a recipient or received time of a demand recorded before the log named
them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from sqlalchemy import Connection, select

from troth.disclosures.logged import LIFT, NOTIFY, RECORD, parse_time, same_time
from troth.disclosures.tables import disclosures, legal_demands

WATCHED = ("disclose", RECORD, LIFT, NOTIFY)
_FIELDS = ("authority", "instrument", "recipient")


class Altered(Protocol):
    """An entry changed outside troth (troth.audit.crosscheck.AlteredEntry)."""

    @property
    def seq(self) -> int: ...
    @property
    def action(self) -> str: ...
    @property
    def details(self) -> str: ...


class Report(Protocol):
    bad_disclosures: list[str]
    bad_demands: list[str]

    @property
    def altered(self) -> Sequence[Altered]: ...

    def add(self, names: list[str], found: Iterable[Any], problem: str) -> None: ...


def _by_altered(report: Report, ids: Iterable[str]) -> tuple[list[str], dict[str, list[int]]]:
    """``ids`` (rows a check found wrong) split: those no entry changed outside troth
    names, and those one names (id -> the entries' seqs), whose row is then not the
    problem: the log is (the row is troth's record of what it did, the evidence)."""
    altered = [a for a in report.altered if a.action in WATCHED]
    rest: list[str] = []
    named: dict[str, list[int]] = {}
    for i in ids:
        seqs = [a.seq for a in altered if i in a.details]
        if seqs:
            named[i] = seqs
        else:
            rest.append(i)
    return rest, named


def _altered_entries(report: Report) -> list[int]:
    """The seqs of the disclosures' and demands' entries changed outside troth."""
    return [a.seq for a in report.altered if a.action in WATCHED]


def _seqs(seqs: Iterable[int]) -> str:
    """Entry numbers as a finding names them: the first 20, then "..."."""
    found = sorted(set(seqs))
    return ", ".join(map(str, found[:20])) + (" ..." if len(found) > 20 else "")


def _report_altered(report: Report, names: list[str], named: dict[str, list[int]]) -> None:
    """The rows whose audit entry was changed outside troth: keep them (see _by_altered)."""
    seqs = _seqs(s for ss in named.values() for s in ss)
    report.add(
        names,
        sorted(named),
        "{n} disclosure(s) or legal demand(s) are recorded by audit entries changed outside"
        f" troth ({{names}}; entries {seqs}): the entries, not the rows,"
        " were altered. Keep the rows (they are troth's record of what it did, and the"
        " evidence); restore the audit log from a backup",
    )


def check_disclosures(conn: Connection, entries: Iterable[Any], report: Report) -> None:
    """Both checks, from ``entries``: (action, person, purpose, details, outcome, at)."""
    made: dict[str, tuple[Any, ...]] = {}
    told: set[str] = set()
    recorded: dict[str, dict[str, Any]] = {}
    for action, sid, purpose, d, outcome, at in entries:
        if action == "disclose" and outcome == "allow" and d.get("disclosure"):
            made[str(d["disclosure"])] = (sid, d.get("recipient"), purpose, d.get("legal_demand"))
        elif action == NOTIFY and d.get("disclosure"):
            told.add(str(d["disclosure"]))
        elif action == RECORD and d.get("demand"):
            recorded[str(d["demand"])] = dict(d)
        elif action == LIFT and str(d.get("demand")) in recorded:
            recorded[str(d["demand"])]["gag_until"] = d.get("gag_until") or at.isoformat()
    notified = _check_demands(conn, recorded, report)
    _check_rows(conn, made, told, report)
    report.add(
        report.bad_disclosures,
        sorted(i for i, m in made.items() if m[3] in notified and i not in told),
        "{n} disclosure(s) under a legal demand marked notified were never told to the person"
        " per the audit log (disclosures {names}): the demand's status was changed outside"
        " troth; restore it from a backup (status disclosed), and the worker tells them",
    )


def _check_rows(
    conn: Connection, made: dict[str, tuple[Any, ...]], told: set[str], report: Report
) -> None:
    d = disclosures.c
    edited: list[str] = []
    unlogged: list[str] = []
    untold: list[str] = []
    stmt = select(d.id, d.subject_id, d.recipient, d.purpose, d.legal_demand_id, d.notified_at)
    seen: set[str] = set()
    for did, sid, recipient, purpose, demand, notified_at in conn.execution_options(
        yield_per=10_000
    ).execute(stmt.order_by(d.id)):
        seen.add(did)
        was = made.get(did)
        if was is None:
            unlogged.append(did)
        elif was != (sid, recipient, purpose, demand):
            edited.append(did)
        if notified_at is not None and did not in told:
            untold.append(did)
    edited, altered = _by_altered(report, edited)
    unlogged, more = _by_altered(report, unlogged)
    untold, told_altered = _by_altered(report, untold)
    _report_altered(report, report.bad_disclosures, {**altered, **more, **told_altered})
    report.add(
        report.bad_disclosures,
        sorted(set(made) - seen),
        "{n} disclosure(s) the audit log recorded are missing from disclosures"
        " (disclosures {names}): deleted outside troth, so the register and the person's"
        " list forget them; one under a legal demand is still told to the person from the"
        " log when its gag ends; restore the rows from a backup",
    )
    report.add(
        report.bad_disclosures,
        edited,
        "{n} disclosure(s) differ from what the audit log recorded (person, recipient,"
        " purpose or legal demand; disclosures {names}): edited outside troth; restore them"
        " from a backup",
    )
    changed = _altered_entries(report)
    report.add(
        report.bad_disclosures,
        unlogged,
        "{n} disclosure(s) in disclosures were never recorded in the audit log (disclosures"
        " {names}): inserted outside troth; check them, then delete them"
        if not changed
        else "{n} disclosure(s) in disclosures are recorded by no sound entry of the audit"
        " log (disclosures {names}), and the log holds entries about disclosures changed"
        f" outside troth (entries {_seqs(changed)}): one of those may be"
        " their record. Delete nothing: compare the log with a backup first",
    )
    report.add(
        report.bad_disclosures,
        untold,
        "{n} disclosure(s) are marked told (notified_at) but the audit log holds no notice"
        " to the person (disclosures {names}): changed outside troth, so the person is never"
        " told; set notified_at back to NULL (the worker then tells them)",
    )


def _scope_differs(was: dict[str, Any], row: Any) -> list[str]:
    """What of a demand's scope (its categories and period) differs from the log's, for a
    demand the log recorded with one (troth.disclosures.scope)."""
    if "categories" not in was:
        return []
    wrong = [] if was["categories"] == row.categories else ["categories"]
    for name in ("period_from", "period_until"):
        if not same_time(parse_time(was.get(name)), row._mapping[name]):
            wrong.append(name)
    return wrong


def _check_demands(
    conn: Connection, recorded: dict[str, dict[str, Any]], report: Report
) -> set[str]:
    """Check the demands' rows; returns the ids of those marked notified."""
    ld = legal_demands.c
    edited: list[str] = []
    fields: set[str] = set()
    unlogged: list[str] = []
    notified: set[str] = set()
    seen: set[str] = set()
    for row in conn.execute(select(legal_demands).order_by(ld.id)):
        seen.add(row.id)
        if row.status == "notified":
            notified.add(row.id)
        was = recorded.get(row.id)
        if was is None:
            unlogged.append(row.id)
            continue
        wrong = [k for k in _FIELDS if k in was and was[k] != row._mapping[k]]
        digest = hashlib.sha256(str(row.reference).encode()).hexdigest()
        if was.get("reference_sha256", digest) != digest:
            wrong.append("reference")
        if not same_time(parse_time(was.get("gag_until")), row.gag_until):
            wrong.append("gag_until")
        if "received_at" in was and not same_time(parse_time(was["received_at"]), row.received_at):
            wrong.append("received_at")
        wrong += _scope_differs(was, row)
        if wrong:
            edited.append(row.id)
            fields.update(wrong)
    edited, altered = _by_altered(report, edited)
    unlogged, more = _by_altered(report, unlogged)
    _report_altered(report, report.bad_demands, {**altered, **more})
    report.add(
        report.bad_demands,
        sorted(set(recorded) - seen),
        "{n} legal demand(s) the audit log recorded are missing from legal_demands (demands"
        " {names}): deleted outside troth; their disclosures stay hidden from the person"
        " (as if gagged) until the rows are restored from a backup",
    )
    report.add(
        report.bad_demands,
        edited,
        "{n} legal demand(s) differ from what the audit log recorded (demands {names}; "
        + ", ".join(sorted(fields))
        + "): edited outside troth. troth honours the gag the log recorded (it never lifts"
        " early, nor runs longer) and discloses nothing under such a demand; restore the"
        " rows from a backup",
    )
    report.add(
        report.bad_demands,
        unlogged,
        "{n} legal demand(s) in legal_demands were never recorded in the audit log (demands"
        " {names}): inserted outside troth; troth treats their disclosures as gagged; check"
        " them, then delete them",
    )
    return notified
