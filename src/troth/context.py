"""What every concept needs at run time, passed explicitly (no globals)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # types only: a lookup (`troth find`) never loads the policy model
    from datetime import datetime

    from sqlalchemy import Engine

    from troth.clock import Clock
    from troth.keys import Keyring
    from troth.policy.index import PolicyIndex
    from troth.policy.schedule import PolicySchedule
    from troth.settings import Settings

T = TypeVar("T")
_COMPANIONS_LOCK = threading.Lock()


class Context:
    """One home at run time: settings, database, policy, keys, clock.

    ``policy`` is the version of the policy in effect at the clock's now: a version
    published to take effect later waits in the context's schedule
    (:mod:`troth.policy.schedule`) and rules from its effective instant on. Setting
    ``policy`` installs one version alone; :meth:`follow_schedule` installs a schedule."""

    def __init__(
        self, settings: Settings, engine: Engine, policy: PolicyIndex, keys: Keyring, clock: Clock
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.keys = keys
        self.clock = clock
        self._policy = policy
        self._schedule: PolicySchedule | None = None

    @property
    def policy(self) -> PolicyIndex:
        """The version in effect now."""
        schedule = self._schedule
        if schedule is None:
            return self._policy
        return schedule.at(self.clock.now())

    @policy.setter
    def policy(self, index: PolicyIndex) -> None:
        self._policy = index
        self._schedule = None

    def policy_at(self, when: datetime) -> PolicyIndex:
        """The version in effect at ``when`` (a retention plan for a later day)."""
        schedule = self._schedule
        return self._policy if schedule is None else schedule.at(when)

    @property
    def newest_policy(self) -> PolicyIndex:
        """The newest published version (the home's policy file), in effect or waiting for
        its effective date: what a new version is compared with."""
        schedule = self._schedule
        return self._policy if schedule is None else schedule.newest

    def follow_schedule(self, newest: PolicyIndex, schedule: PolicySchedule | None) -> None:
        """Install ``newest`` (the policy file), and the schedule of the versions until it
        takes effect (None: it is in effect)."""
        self._policy = newest
        self._schedule = schedule

    @property
    def home(self) -> Path:
        return self.settings.home

    def companion(self, name: str, make: Callable[[], T]) -> T:
        """The object kept on this context under ``name``, made by ``make`` on first use
        (at most once, whichever thread asks first): the per-context services, such as
        the audit head signer and the group-commit queue."""
        found: Any = self.__dict__.get(name)
        if found is None:
            with _COMPANIONS_LOCK:
                found = self.__dict__.get(name)
                if found is None:
                    found = self.__dict__[name] = make()
        return found  # type: ignore[no-any-return]

    def companion_if_made(self, name: str) -> Any | None:
        """The companion under ``name`` if one was made (for closing it), else None."""
        return self.__dict__.get(name)
