"""troth: make a privacy policy true in software.

``troth.open(home)`` returns the :class:`Troth` engine an application uses in-process.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from troth.clock import Clock, ManualClock, SystemClock
from troth.errors import (
    AuthenticationError,
    ConfigError,
    Conflict,
    ConnectorError,
    CryptoError,
    DatabaseVersionError,
    IntegrityError,
    NotFound,
    PermissionDenied,
    PolicyError,
    RateLimited,
    Refused,
    TrothError,
    ValidationError,
)

if TYPE_CHECKING:
    from troth.engine import Troth
    from troth.gate import Actor, ActorKind, Reason

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # The gate (and the policy model under it) loads on first use: `troth --help` and
    # `import troth.errors` stay fast.
    if name in ("Actor", "ActorKind", "Reason"):
        from troth import gate

        return getattr(gate, name)
    if name == "Troth":
        from troth.engine import Troth

        return Troth
    raise AttributeError(f"module 'troth' has no attribute {name!r}")


def open(
    home: Path | str | None = None, *, clock: Clock | None = None, **settings: object
) -> Troth:
    """Open the troth home at ``home`` (default: ``TROTH_HOME`` or the current directory)
    and return its :class:`~troth.engine.Troth`: ``t.collect``, ``t.use``, ``t.find``,
    and one attribute per concept (``t.policy``, ``t.consent``, ``t.requests``,
    ``t.audit``...). ``settings`` override the home's settings."""
    from troth.engine import Troth

    return Troth.open(home, clock=clock, **settings)


__all__ = [
    "Actor",
    "ActorKind",
    "AuthenticationError",
    "Clock",
    "ConfigError",
    "Conflict",
    "ConnectorError",
    "CryptoError",
    "DatabaseVersionError",
    "IntegrityError",
    "ManualClock",
    "NotFound",
    "PermissionDenied",
    "PolicyError",
    "RateLimited",
    "Reason",
    "Refused",
    "SystemClock",
    "Troth",
    "TrothError",
    "ValidationError",
    "open",
]
