"""Following a policy another process published.

Publishing swaps the new policy into the process that published it and replaces the home's
policy file (:func:`troth.notices.publish.publish_policy`). Every other process of the home
(the other ``troth serve`` processes, the workers, on this machine or another) loaded the
policy when it started; each keeps a :class:`PolicyFollower` that looks at the newest row of
``policy_versions`` (one indexed read) and, when a version was published there since it
last looked, installs that version's text, recorded with it, the same way: the policy file
replaced (so a restart keeps it) and the index swapped. Servers look every
:data:`FOLLOW_SECONDS` on a thread; a worker looks before each pass.

What a process decided in the seconds between a publish and its next look was decided on
the version it held: the window is at most :data:`FOLLOW_SECONDS` (README, "Running troth
on several machines"). A process only follows publishes made after it started, so a policy
file edited by hand and not yet published is never overwritten from the database.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from troth.context import Context
from troth.db import reading
from troth.policy.index import PolicyIndex
from troth.policy.loader import parse_policy
from troth.policy.versions import NEWEST_VERSION, version_text
from troth.stored import tolerating

log = logging.getLogger("troth.policy")

FOLLOW_SECONDS = 2.0


class PolicyFollower:
    """Installs, in one context, the versions other processes publish (module doc)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._lock = threading.Lock()
        self._seen = self._newest()

    def _newest(self) -> tuple[datetime, str, str] | None:
        # Only compared with the last look: a time troth never writes (changed outside
        # troth; the dates decided on are the log's) reads as troth.stored.Unreadable.
        with reading(self.ctx.engine) as conn, tolerating():
            row = conn.execute(NEWEST_VERSION).first()
        return None if row is None else (row[0], str(row[1]), str(row[2]))

    def check(self) -> bool:
        """Install the newest published version if it is new since the last look and is
        not the one in force here; True when it did."""
        with self._lock:
            newest = self._newest()
            if newest is None or newest == self._seen:
                return False
            self._seen = newest
            _at, version, digest = newest
            if digest == self.ctx.newest_policy.digest:
                return False  # published here, or already followed
            with reading(self.ctx.engine) as conn:
                text = version_text(conn, version)
            index = PolicyIndex.build(
                parse_policy(text, f"published policy {version}", lawful=False), text
            )
            from troth.notices.publish import install_policy

            install_policy(self.ctx, text, index)
            log.info("now deciding on policy version %s, published by another process", version)
            return True


def follower(ctx: Context) -> PolicyFollower:
    """The context's follower, made (and so its starting point fixed) on first use."""
    return ctx.companion("policy_follower", lambda: PolicyFollower(ctx))


class FollowThread:
    """Calls :meth:`PolicyFollower.check` every :data:`FOLLOW_SECONDS` until stopped (a
    server process); a failed look is logged and retried."""

    def __init__(self, ctx: Context, every: float = FOLLOW_SECONDS) -> None:
        self._follower = follower(ctx)
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="troth-policy-follow", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                self._follower.check()
            except Exception:  # the database is away, a bad row: look again later
                log.exception("could not look for a newly published policy")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
