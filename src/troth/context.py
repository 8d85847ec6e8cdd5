"""What every concept needs at run time, passed explicitly (no globals)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from troth.clock import Clock
from troth.keys import Keyring
from troth.policy.index import PolicyIndex
from troth.settings import Settings


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
