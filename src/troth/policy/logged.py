"""The published versions of the policy as the audit log recorded them, where troth decides
on their dates (P08, P34), so that a history back-dated outside troth moves nothing.

``policy_versions`` and ``policy_notices`` are not sealed row by row: a database writer
without the key file could move a version's effective date or publishing time into the
past (trial #14, F10), so that a version waiting for its date rules at once, a new use's
notice period seems to have run, and the privacy centre shows the forged dates as the
history. The log is append-only and signed, and every version's publish entry
(``policy.publish``) is written at the instant it was published, with its version, its
effective date and (since this check) the digest of its text. So where troth reads a
version's dates to decide (the schedule of the versions in effect, the notice period of
a new use, the floor of the next version's effective date) and where it shows them (the
public history), it takes **the dates the log recorded**; a row that differs is audited
once per process (``policy.version``, reason ``record_tampered``) and ``troth audit
verify`` names it (:mod:`troth.policy.crosscheck`). A version whose entry the log does
not hold at all (a row inserted outside troth) keeps its row's dates here: verify names
it.

The answer for a row's values is kept per process (log entries never change): a look
reads the versions' rows (few) and, for a row not seen before, one query through the
log's index on time (a row whose time was moved finds nothing there: then one scan of
the log for publish entries, once per process).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, literal, or_, select, union_all

from troth.audit.entries import details_of
from troth.audit.entry import AuditEntry
from troth.audit.log import append_entries, transaction
from troth.audit.refusals import denial
from troth.audit.tables import audit_entries, audit_pending
from troth.context import Context
from troth.stored import is_unreadable, tolerating

PUBLISH = "policy.publish"
# When a version neither its row nor the log dates was published: never (it never rules).
NEVER = datetime.max.replace(tzinfo=UTC)
# Times compared within this (a backend keeping whole seconds rounds where the log truncates).
SLACK = timedelta(seconds=1)


@dataclass(frozen=True)
class VersionRow:
    """What troth decides on in a version's row."""

    version: str
    effective: date
    published_at: datetime
    digest: str


@dataclass(frozen=True)
class Logged:
    """A version as troth honours it: the effective date, publishing time and digest the
    log recorded (the row's where the log holds no entry of it, or its entry no digest),
    and what of the row differs from the log (None: nothing)."""

    version: str
    effective: date
    published_at: datetime
    digest: str
    tampered: str | None = None


@dataclass
class Checked:
    """Each version's :class:`Logged` values, and the tampered rows not audited yet."""

    versions: dict[str, Logged] = field(default_factory=dict)
    unaudited: list[tuple[VersionRow, Logged]] = field(default_factory=list)

    def audit(self, ctx: Context) -> None:
        """Audit each tampered row once, in a transaction of its own (call it with no
        connection of this thread open)."""
        if not self.unaudited:
            return
        with transaction(ctx) as conn:
            append_entries(conn, ctx.clock.now(), [_tampered(r, h) for r, h in self.unaudited])
        _AUDITED.setdefault(ctx.engine, set()).update(r for r, _ in self.unaudited)
        self.unaudited = []


_CACHE: weakref.WeakKeyDictionary[Engine, dict[VersionRow, Logged]] = weakref.WeakKeyDictionary()
_AUDITED: weakref.WeakKeyDictionary[Engine, set[VersionRow]] = weakref.WeakKeyDictionary()


def version_rows(conn: Connection) -> list[VersionRow]:
    """Every version's row (there are few), without its text."""
    from troth.policy.versions import policy_versions

    v = policy_versions.c
    stmt = select(v.version, v.effective, v.published_at, v.digest)
    with tolerating():  # a date troth never writes: the log's (troth.stored.Unreadable)
        return [VersionRow(*r) for r in conn.execute(stmt)]


def check_versions(conn: Connection, rows: Iterable[VersionRow] | None = None) -> Checked:
    """The values to honour for each version's row (:class:`Logged`), from the log."""
    rows = list(version_rows(conn) if rows is None else rows)
    engine = conn.engine
    cache = _CACHE.setdefault(engine, {})
    unknown = [r for r in dict.fromkeys(rows) if r not in cache]
    if unknown:
        found = _logged(conn, unknown)
        cache.update((r, _verdict(r, found.get(r.version))) for r in unknown)
    audited = _AUDITED.get(engine, set())
    checked = Checked()
    for r in rows:
        h = checked.versions[r.version] = cache[r]
        if h.tampered and r not in audited:
            checked.unaudited.append((r, h))
    return checked


def logged_versions(conn: Connection) -> dict[str, Logged]:
    """Every version as troth honours it, by version."""
    return check_versions(conn).versions


def utc(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def same_time(a: datetime, b: datetime) -> bool:
    """Within :data:`SLACK`; a value that is no time (changed outside troth) never is."""
    if not isinstance(a, datetime) or not isinstance(b, datetime):
        return False
    return abs(utc(a) - utc(b)) < SLACK


@dataclass(frozen=True)
class _Found:
    seq: int
    at: datetime
    details: dict[str, Any]


def _logged(conn: Connection, rows: list[VersionRow]) -> dict[str, _Found]:
    """The publish entry of each row's version: looked for near the row's publishing time
    (the index on time), then, for a version not found there, in every publish entry."""
    near = [r.published_at for r in rows if isinstance(r.published_at, datetime)]
    found = _publish_entries(conn, near) if near else {}
    missing = {r.version for r in rows} - set(found)
    if missing:
        found.update((v, f) for v, f in _publish_entries(conn, None).items() if v in missing)
    return found


def _publish_entries(conn: Connection, times: list[datetime] | None) -> dict[str, _Found]:
    """The first publish entry of each version (pending entries too), near ``times``
    (None: anywhere in the log)."""
    parts = []
    for table, seq in ((audit_entries, audit_entries.c.seq), (audit_pending, literal(0))):
        stmt = select(seq.label("seq"), table.c.at, table.c.details).where(
            table.c.action == PUBLISH, table.c.outcome == "allow"
        )
        if times is not None:
            stmt = stmt.where(
                or_(*(table.c.at.between(utc(t) - SLACK, utc(t) + SLACK) for t in times))
            )
        parts.append(stmt)
    out: dict[str, _Found] = {}
    with tolerating():  # an entry whose time troth never wrote: no record (verify names it)
        found = [r for r in conn.execute(union_all(*parts)) if not is_unreadable(r[1])]
    for seq_, at, details in found:
        parsed = details_of(details)
        version = parsed.get("version")
        if isinstance(version, str):
            f = _Found(int(seq_), utc(at), parsed)
            was = out.get(version)
            if was is None or (f.seq, f.at) < (was.seq, was.at):
                out[version] = f
    return out


def logged_effective(details: dict[str, Any]) -> date | None:
    """The effective date a publish entry recorded (None: none readable)."""
    try:
        return date.fromisoformat(str(details["effective"]))
    except (KeyError, ValueError):
        return None


def logged_published(found_at: datetime, details: dict[str, Any]) -> datetime:
    """When a publish entry says its version was published (its own time, unless it
    names one)."""
    try:
        return utc(datetime.fromisoformat(str(details["published_at"])))
    except (KeyError, ValueError):
        return found_at


def _verdict(row: VersionRow, found: _Found | None) -> Logged:
    """Compare a row with its entry: the values the log recorded, and what differs."""
    if found is None:
        if is_unreadable(row.effective) or is_unreadable(row.published_at):
            # Neither the log nor the row says when: a version that never takes effect.
            return Logged(row.version, date.max, NEVER, row.digest, "not published by troth")
        return Logged(
            row.version,
            row.effective,
            utc(row.published_at),
            row.digest,
            "no entry of the audit log recorded publishing this version",
        )
    d = found.details
    effective = logged_effective(d) or (date.max if is_unreadable(row.effective) else row.effective)
    published = logged_published(found.at, d)
    digest = d.get("digest") if isinstance(d.get("digest"), str) else row.digest
    differs = [
        name
        for name, same in (
            ("effective", effective == row.effective),
            ("published_at", same_time(published, row.published_at)),
            ("digest", digest == row.digest),
        )
        if not same
    ]
    return Logged(row.version, effective, published, str(digest), ", ".join(differs) or None)


def _tampered(row: VersionRow, h: Logged) -> AuditEntry:
    from troth.gate import SYSTEM, Reason

    return denial(
        "policy.version",
        SYSTEM,
        Reason.record_tampered,
        details={
            "version": row.version,
            "differs": h.tampered,
            "effective_honoured": h.effective.isoformat(),
            "published_honoured": h.published_at.isoformat(),
        },
    )
