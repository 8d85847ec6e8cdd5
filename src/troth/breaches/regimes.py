"""Which laws' clocks run for a breach (P33): those of the people it affects.

A breach's regimes are the jurisdictions of the people on its affected list (troth finds
them from the data and the audit log, :mod:`troth.breaches.affected`), plus those the
officer names (``--regime`` adds a regime; it never hides the law of someone affected).
While no one affected is known, the organisation's jurisdictions stand in, and the breach
says so; people a breached connected dataset holds that troth cannot match to anyone add
the organisation's jurisdictions too (their own is unknown). Settled again whenever the
list changes (recorded, people excluded), so the clocks always follow the list.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select, update

from troth.breaches.tables import breach_subjects, breaches
from troth.context import Context
from troth.policy.model import Regime
from troth.store.tables import subjects

# How a breach's regimes were found (its scope's ``regimes_from.basis``).
AFFECTED = "affected"
ORGANISATION = "organisation"
AFFECTED_AND_ORGANISATION = "affected_and_organisation"
OFFICER = "officer"

_NOTES = {
    AFFECTED: "the clocks follow the jurisdictions of the people affected",
    ORGANISATION: "no one affected is known yet: the clocks follow the organisation's"
    " jurisdictions until the affected list is established",
    AFFECTED_AND_ORGANISATION: "the clocks follow the jurisdictions of the people affected,"
    " and the organisation's for the people a connected dataset holds that troth cannot match",
    OFFICER: "no one affected is known yet: the clocks follow the regimes the officer named",
}


def affected_jurisdictions(conn: Connection, breach_id: str) -> dict[str, int]:
    """How many people on the breach's list each jurisdiction has (known regimes only)."""
    bs = breach_subjects.c
    rows = conn.execute(
        select(subjects.c.jurisdiction, func.count())
        .select_from(breach_subjects.join(subjects, subjects.c.id == bs.subject_id))
        .where(bs.breach_id == breach_id)
        .group_by(subjects.c.jurisdiction)
    ).all()
    known = {r.value for r in Regime}
    return {str(j): int(n) for j, n in rows if j in known}


def settle_regimes(conn: Connection, ctx: Context, breach_id: str) -> list[str]:
    """Set the breach's regimes from its affected list (module docstring) and record how
    they were found in its scope (``regimes_from``); returns them, sorted."""
    row = conn.execute(select(breaches.c.scope).where(breaches.c.id == breach_id)).one()
    scope: dict[str, Any] = dict(row.scope or {})
    given = [str(r) for r in scope.get("regimes_given", [])]
    org = [r.value for r in ctx.policy.policy.organisation.jurisdictions]
    counts = affected_jurisdictions(conn, breach_id)
    unmatched = sum(int(n) for n in (scope.get("unmatched") or {}).values())
    if counts and unmatched:
        basis, found = AFFECTED_AND_ORGANISATION, [*counts, *org]
    elif counts:
        basis, found = AFFECTED, list(counts)
    elif given:
        basis, found = OFFICER, []
    else:
        basis, found = ORGANISATION, org
    regimes = sorted(set(found) | set(given))
    scope["regimes_from"] = {
        "basis": basis,
        "affected": dict(sorted(counts.items())),
        "given": given,
        "note": _NOTES[basis],
    }
    conn.execute(
        update(breaches).where(breaches.c.id == breach_id).values(regimes=regimes, scope=scope)
    )
    return regimes


__all__ = ["affected_jurisdictions", "settle_regimes"]
