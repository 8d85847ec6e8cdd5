"""What every concept needs at run time, passed explicitly (no globals)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # types only: a lookup (`troth find`) never loads the policy model
    from sqlalchemy import Engine

    from troth.clock import Clock
    from troth.keys import Keyring
    from troth.policy.index import PolicyIndex
    from troth.settings import Settings

T = TypeVar("T")
_COMPANIONS_LOCK = threading.Lock()


@dataclass
class Context:
    settings: Settings
    engine: Engine
    policy: PolicyIndex
    keys: Keyring
    clock: Clock

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
