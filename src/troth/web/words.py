"""Small helpers that say things in words on the pages people read."""

from __future__ import annotations

from datetime import timedelta


def _unit(n: int, name: str) -> str:
    return f"{n} {name}" if n == 1 else f"{n} {name}s"


def duration_words(value: timedelta | int | float | None) -> str:
    """A duration as people say it: "3 days", "2 hours 30 minutes", "1 day 4 hours",
    "45 seconds". Seconds are left out once the duration reaches a minute; a negative or
    missing duration is "no time"."""
    if value is None:
        return "no time"
    seconds = int(value.total_seconds() if isinstance(value, timedelta) else value)
    if seconds <= 0:
        return "no time"
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    parts = []
    if days:
        parts.append(_unit(days, "day"))
    if hours:
        parts.append(_unit(hours, "hour"))
    if minutes:
        parts.append(_unit(minutes, "minute"))
    if secs and not parts:
        parts.append(_unit(secs, "second"))
    return " ".join(parts)
