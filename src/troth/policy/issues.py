"""A problem found in a policy file: an :class:`Issue` with its file, line and key path
(``purposes[2].categories[0]``), as :mod:`troth.policy.loader` and
:mod:`troth.policy.validate` report it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

Path = tuple[str | int, ...]
MAX_MESSAGE = 300


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem in a policy file: ``FILE:LINE: key.path: message (allowed: ...)``."""

    file: str
    line: int
    path: str
    message: str
    allowed: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        # A hostile policy (a 5,000-character id) must not make a 5,000-character message.
        if len(self.message) > MAX_MESSAGE:
            object.__setattr__(self, "message", self.message[: MAX_MESSAGE - 3] + "...")
        if len(self.path) > MAX_MESSAGE:
            object.__setattr__(self, "path", self.path[: MAX_MESSAGE - 3] + "...")
        if any(len(a) > 64 for a in self.allowed) or len(self.allowed) > 50:
            shown = tuple(a if len(a) <= 64 else a[:61] + "..." for a in self.allowed[:50])
            object.__setattr__(self, "allowed", shown)

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}: {self.path or '(top)'}: {self.message}"
        return f"{where} (allowed: {', '.join(self.allowed)})" if self.allowed else where

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "allowed": list(self.allowed)}


def format_path(path: Path) -> str:
    """``('purposes', 2, 'categories', 0)`` -> ``purposes[2].categories[0]``."""
    out = ""
    for seg in path:
        if isinstance(seg, int):
            out += f"[{seg}]"
        else:
            out += f".{seg}" if out else str(seg)
    return out
