"""Which published version of the policy is in effect at an instant (P34).

A version takes effect at midnight, in its organisation's time zone, of its effective date
(the date recorded when it was published). Until then the version before it rules every
decision: collection, use, disclosure, retention, consent notices. A home's policy file
holds the newest version from the moment it is published; :func:`load_schedule` reads the
history (``policy_versions``) and, when the newest version is not yet in effect, returns
the :class:`PolicySchedule` that the context (:attr:`troth.context.Context.policy`)
answers from: the version in effect now, then each version waiting for its date. The index
of a version in effect while another waits carries it (``PolicyIndex.coming``), so the
gate can say that a use the next version allows is waiting (``notice_period_running``).
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Connection, select

from troth.context import Context
from troth.db import reading
from troth.policy.index import PolicyIndex
from troth.policy.loader import parse_policy
from troth.policy.model import Policy


def effective_instant(effective: date, policy: Policy) -> datetime:
    """The instant (UTC) a version effective on ``effective`` takes effect: midnight of
    that day in the organisation's time zone."""
    zone = policy.organisation.zone()
    return datetime.combine(effective, time.min, tzinfo=zone).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Step:
    """One version and the instant it takes effect."""

    starts: datetime
    index: PolicyIndex


class PolicySchedule:
    """The version in effect at the schedule's making and those waiting for their date, in
    the order they take effect (each starts no earlier than the one before)."""

    def __init__(self, steps: list[Step]) -> None:
        # Each index but the last knows the one that comes after it (PolicyIndex.coming).
        # A later version never takes effect before an earlier one (another time zone).
        for i in range(1, len(steps)):
            if steps[i].starts < steps[i - 1].starts:
                steps[i] = Step(steps[i - 1].starts, steps[i].index)
        chained: list[Step] = []
        after: Step | None = None
        for step in reversed(steps):
            index = step.index
            if after is not None:
                index = dataclasses.replace(index, coming=after.index, coming_at=after.starts)
            after = Step(step.starts, index)
            chained.append(after)
        chained.reverse()
        self.steps = tuple(chained)
        self._starts = [s.starts for s in self.steps]

    def at(self, now: datetime) -> PolicyIndex:
        """The version in effect at ``now`` (the first when none has started yet)."""
        i = bisect.bisect_right(self._starts, now) - 1
        return self.steps[max(i, 0)].index

    @property
    def newest(self) -> PolicyIndex:
        return self.steps[-1].index


# A version whose effective date is at least this far from today (UTC) is in effect, or
# not, whatever the organisation's time zone (UTC-12 to UTC+14).
_ZONE_SLACK = timedelta(days=2)


def load_schedule(
    conn: Connection, newest: PolicyIndex, now: datetime, known: Iterable[PolicyIndex] = ()
) -> PolicySchedule | None:
    """The schedule of the home whose policy file compiles to ``newest``, at ``now``; None
    when ``newest`` is in effect (or was never published: a file edited by hand rules as
    it stands). ``known`` are indexes already compiled (by digest), to parse no text twice."""
    from troth.policy.logged import logged_versions
    from troth.policy.versions import policy_versions

    v = policy_versions.c
    # The dates and digest the audit log recorded (troth.policy.logged), in the order they
    # take effect: no version takes effect before one published earlier
    # (troth.notices.publish), so this is also the order of publishing.
    rows = sorted(
        logged_versions(conn).values(), key=lambda r: (r.effective, r.published_at, r.version)
    )
    if not rows or rows[-1].digest != newest.digest:
        return None
    if rows[-1].effective <= (now - _ZONE_SLACK).date():
        return None
    compiled = {i.digest: i for i in known}
    compiled[newest.digest] = newest
    steps: list[Step] = []
    for row in reversed(rows):
        index = compiled.get(row.digest)
        if index is None:
            text = str(conn.execute(select(v.text).where(v.version == row.version)).scalar_one())
            index = PolicyIndex.build(
                parse_policy(text, f"published policy {row.version}", lawful=False), text
            )
        steps.append(Step(effective_instant(row.effective, index.policy), index))
        if steps[-1].starts <= now:
            break
    if len(steps) == 1:
        return None
    steps.reverse()
    return PolicySchedule([dataclasses.replace(s, index=_plain(s.index)) for s in steps])


def _plain(index: PolicyIndex) -> PolicyIndex:
    """``index`` without a ``coming`` of an earlier schedule."""
    if index.coming is None:
        return index
    return dataclasses.replace(index, coming=None, coming_at=None)


def follow_versions(ctx: Context, newest: PolicyIndex) -> None:
    """Install in ``ctx`` the policy file's version ``newest`` and, while it waits for its
    effective date, the versions in effect until then (read from the history)."""
    known = (ctx.policy, ctx.newest_policy)
    from troth.policy.logged import check_versions

    with reading(ctx.engine) as conn:
        checked = check_versions(conn)  # a history changed outside troth: audited once
        schedule = load_schedule(conn, newest, ctx.clock.now(), known)
    ctx.follow_schedule(newest, schedule)
    checked.audit(ctx)
