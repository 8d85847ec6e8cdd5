"""What the audit log recorded about each published version of the policy, checked against
``policy_versions`` and ``policy_notices`` (part of ``troth audit verify``, called by
:mod:`troth.audit.crosscheck` with the log's entries read in its snapshot).

- every version the log recorded publishing (``policy.publish``) must be in
  ``policy_versions`` with the effective date, publishing time and digest recorded (the
  digest where the entry holds one: entries written since this check), and its text must
  be the one that digest names; every row there must have been recorded;
- every notice a version posted (``policy_notices``: a new use waiting for its notice
  period, a purpose to consent to again) must be dated when its version was published,
  and the version must have posted as many new uses and the purposes to consent to again
  that its entry counts.

troth decides on the dates the log recorded either way (:mod:`troth.policy.logged`).
Not detected: the digest of a version published before its entry named one (its text
is checked against its own row's digest only).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection, select

from troth.policy.logged import (
    PUBLISH,
    logged_effective,
    logged_published,
    same_time,
    utc,
)

WATCHED = (PUBLISH,)


class Report(Protocol):
    bad_versions: list[str]

    def add(self, names: list[str], found: Iterable[Any], problem: str) -> None: ...


def check_versions(conn: Connection, entries: Iterable[Any], report: Report) -> None:
    """Both checks, from ``entries``: (action, person, purpose, details, outcome, at)."""
    from troth.policy.versions import policy_versions

    recorded: dict[str, tuple[datetime, dict[str, Any]]] = {}
    for action, _sid, _purpose, d, outcome, at in entries:
        if action == PUBLISH and outcome == "allow" and isinstance(d.get("version"), str):
            recorded.setdefault(d["version"], (logged_published(utc(at), d), d))
    v = policy_versions.c
    edited: list[str] = []
    fields: set[str] = set()
    unlogged: list[str] = []
    seen: set[str] = set()
    stmt = select(v.version, v.effective, v.published_at, v.digest, v.text).order_by(v.version)
    for row in conn.execute(stmt):
        seen.add(row.version)
        if row.version not in recorded:
            unlogged.append(row.version)
            continue
        wrong = _differs(row, *recorded[row.version])
        if wrong:
            edited.append(row.version)
            fields.update(wrong)
    report.add(
        report.bad_versions,
        sorted(set(recorded) - seen),
        "{n} policy version(s) the audit log records as published are missing from"
        " policy_versions (versions {names}): deleted outside troth; restore the rows from a"
        " backup",
    )
    report.add(
        report.bad_versions,
        edited,
        "{n} published policy version(s) differ from what the audit log recorded (versions"
        " {names}; "
        + ", ".join(sorted(fields))
        + "): edited outside troth (a history back-dated). troth decides on, and shows, the"
        " dates the log recorded; restore the rows from a backup",
    )
    report.add(
        report.bad_versions,
        unlogged,
        "{n} policy version(s) in policy_versions were never recorded as published in the"
        " audit log (versions {names}): inserted outside troth; check them, then delete them",
    )
    _check_notices(conn, recorded, report)


def _differs(row: Any, published: datetime, d: dict[str, Any]) -> list[str]:
    """What of a version's row differs from its publish entry (``published``, ``d``)."""
    wrong = []
    effective = logged_effective(d)
    if effective is not None and effective != row.effective:
        wrong.append("effective")
    if not same_time(published, row.published_at):
        wrong.append("published_at")
    if isinstance(d.get("digest"), str) and d["digest"] != row.digest:
        wrong.append("digest")
    if hashlib.sha256(str(row.text).encode()).hexdigest() != row.digest:
        wrong.append("text")
    return wrong


def _check_notices(
    conn: Connection, recorded: dict[str, tuple[datetime, dict[str, Any]]], report: Report
) -> None:
    """Each notice dated as its version was published; as many as the entry counts."""
    from troth.store.tables import policy_notices

    n = policy_notices.c
    wrong: set[str] = set()
    uses: dict[str, int] = {}
    again: dict[str, set[str]] = {}
    stmt = select(n.version, n.kind, n.purpose, n.posted_at)
    for version, kind, purpose, posted in conn.execute(stmt):
        was = recorded.get(version)
        if was is None:
            continue  # its version is named above
        if not same_time(was[0], posted):
            wrong.add(version)
        if kind == "new_use":
            uses[version] = uses.get(version, 0) + 1
        elif kind == "reconsent":
            again.setdefault(version, set()).add(str(purpose))
    for version, (_at, d) in recorded.items():
        if isinstance(d.get("new_uses"), int) and d["new_uses"] != uses.get(version, 0):
            wrong.add(version)
        if isinstance(d.get("reconsent"), list) and set(map(str, d["reconsent"])) != again.get(
            version, set()
        ):
            wrong.add(version)
    report.add(
        report.bad_versions,
        sorted(wrong),
        "the change notices of {n} policy version(s) differ from what the audit log recorded"
        " (versions {names}; their posting time, or new uses or purposes to consent to again"
        " deleted or added): changed outside troth. troth runs each notice period from the"
        " publishing the log recorded; restore policy_notices from a backup",
    )
