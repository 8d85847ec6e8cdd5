"""Erasing one person everywhere: every connected dataset (a resumable connector job), then
troth's own store, in the order a deletion request uses (P25) and a minor's erasure (P04)
shares.

    erasure = erase_person(ctx, subject_id, job_id="minor-<id>", finish=record_it)

Connected datasets go first: their job keeps the identities it walks from, and troth's own
part (which erases those identities) runs last, in one transaction with ``finish`` (the
caller's audit entry or request completion), so the record of the erasure commits with it.
What the law requires to keep (invoices) is kept, restricted to its legal purpose, and the
report says why.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection

from troth.audit.log import transaction
from troth.connectors import Connector, Identities, IdentityKind
from troth.context import Context
from troth.errors import NotFound
from troth.requests import execution
from troth.requests.connected import dataset_summary, identities_of, open_connector
from troth.store.subjects import get_subject
from troth.store.values import read_values

T = TypeVar("T")


@dataclass(frozen=True)
class Erasure:
    """What an erasure did: one report per system (troth first), and a line per system
    plus one per reason something was kept, for the person or the audit."""

    systems: list[dict[str, Any]]
    summary: list[str]

    def total(self, key: str) -> int:
        """The sum of ``key`` (found, deleted, masked, kept) over every system."""
        return sum(int(s.get(key, 0)) for s in self.systems)


def erase_connected(
    ctx: Context,
    connector: Connector | None,
    subject_id: str | None,
    *,
    job_id: str,
    email: str | None = None,
) -> list[dict[str, Any]]:
    """Erase the person from every connected dataset as connector job ``job_id`` (the same
    id again resumes or returns the finished reports). Identities: the person's stored
    identifying values, plus ``email``. Raises ConnectorError when a database is down."""
    if connector is None:
        return []
    values = []
    if subject_id is not None:
        with ctx.engine.connect() as conn:
            values = read_values(conn, ctx, subject_id)
    ids = identities_of(ctx, values, {"email": email})
    if not ids:
        # Erased before (what troth keeps identifies no one): the job's own reports.
        try:
            return [dataset_summary(r.to_dict()) for r in connector.resume(job_id)]
        except NotFound:
            return []
    ids = expand_identities(connector, ids)
    return [dataset_summary(rep.to_dict()) for rep in connector.erase(ids, job_id=job_id)]


def expand_identities(connector: Connector, ids: Identities) -> Identities:
    """``ids`` plus the identity values held in the person's own rows (one round): the
    phone on their customer record reaches the calls known by the number only. A job
    resumed keeps the identities it was planned with."""
    found: dict[str, list[str]] = {k.value: list(getattr(ids, k.value)) for k in IdentityKind}
    for export in connector.export(ids):
        tables = connector.datasets[export.dataset].tables
        for name, table in export.tables.items():
            for kind, column in tables[name].identity.items():
                for row in table.rows:
                    value = row.get(column)
                    if value not in (None, "") and str(value) not in found[kind.value]:
                        found[kind.value].append(str(value))
    return Identities.of(found)


def erase_own(
    conn: Connection, ctx: Context, subject_id: str | None, *, close_account: bool = False
) -> dict[str, Any]:
    """troth's part, in the caller's transaction: values deleted and keys shredded except
    what the law keeps; ``close_account`` also ends the relationship (P28)."""
    if subject_id is None:
        return {"system": "troth", "found": 0, "deleted": 0, "kept": 0}
    if close_account:
        execution.close_relationship(conn, ctx, subject_id)
    return execution.erase_in_store(conn, ctx, subject_id)


def summarise(systems: list[dict[str, Any]]) -> list[str]:
    """One line per system, then one per reason something was kept (the lines of the
    person's letter), in the person's words: "In our own records: 14 values found, 6
    deleted, 8 kept", never the product's name or its counters' ids (the result keeps
    those for the office)."""
    lines = [system_line(s) for s in systems]
    # What troth keeps in the policy's words ("words"); a dataset's, as its declaration says.
    kept = [k.get("words") or k["reason"] for s in systems for k in s.get("kept_because", [])]
    return lines + kept


def system_line(s: Mapping[str, Any]) -> str:
    """One system's part of an erasure as the person reads it: troth's store is "our own
    records" (values), a connected dataset "our system" by its name (rows)."""
    system = str(s.get("system", ""))
    own = system == "troth"
    where = "In our own records" if own else f'In our system "{system.split(":", 1)[-1]}"'
    unit = "value" if own else "row"
    found = int(s.get("found", 0))
    if not found:
        return f"{where}: nothing was held about you."
    done = [f"{int(s.get('deleted', 0))} deleted"]
    if s.get("masked"):
        done.append(f"{int(s['masked'])} blanked out")
    if s.get("kept"):
        done.append(f"{int(s['kept'])} kept (why, below)")
    return f"{where}: {found} {unit}{'' if found == 1 else 's'} found; {', '.join(done)}."


def erase_person(
    ctx: Context,
    subject_id: str | None,
    *,
    job_id: str,
    finish: Callable[[Connection, Erasure], T],
    email: str | None = None,
    close_account: bool = False,
    connector: Connector | None = None,
    environ: Mapping[str, str] | None = None,
) -> T:
    """Erase the person in every connected dataset, then in troth, and call ``finish`` in
    troth's transaction. ``connector``: the caller's (kept open); otherwise one is opened
    over the home's datasets and closed. A database that is down raises ConnectorError
    before troth's part starts: run again with the same ``job_id`` to resume."""
    if subject_id is not None:
        with ctx.engine.connect() as conn:
            get_subject(conn, subject_id, ctx.keys)  # NotFound before anything is touched
    own = connector is None
    if own:
        connector = open_connector(ctx, environ)
    try:
        systems = erase_connected(ctx, connector, subject_id, job_id=job_id, email=email)
    finally:
        if own and connector is not None:
            connector.close()
    with transaction(ctx) as conn:
        systems.insert(0, erase_own(conn, ctx, subject_id, close_account=close_account))
        return finish(conn, Erasure(systems, summarise(systems)))
