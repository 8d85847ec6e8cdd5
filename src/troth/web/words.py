"""Small helpers that say things in words on the pages people read."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from troth.clock import utc


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


def id_words(ident: str) -> str:
    """An id as words: ``account_history`` -> ``account history``."""
    return ident.replace("_", " ")


def listing(items: Iterable[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    xs = [x for x in items if x]
    if len(xs) <= 1:
        return "".join(xs)
    return f"{', '.join(xs[:-1])} and {xs[-1]}"


USE_OF = "this use of your data: "
"""What introduces a purpose's description in a sentence: after the colon any description
reads well (a verb phrase "Bill customers", a noun phrase "Problem resolution and bug
fixing", a sentence), where splicing it after "to" reads well only for a verb phrase."""


def as_use(description: str) -> str:
    """A purpose's description as it ends "... this use of your data: <this>": as the
    policy writes it, without its final full stop (the sentence adds its own)."""
    return description.strip().rstrip(".").strip()


def in_zone(at: datetime | str | None, zone: ZoneInfo, fmt: str = "%-d %B %Y") -> str:
    """``at`` (a time, or its ISO 8601 text) as the clock and calendar read in ``zone`` (a
    time stored without a zone is UTC): a person reads their dates where they are, never
    UTC's (``%Z`` names the zone's abbreviation)."""
    if at is None or at == "":
        return ""
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    return utc(at).astimezone(zone).strftime(fmt)
