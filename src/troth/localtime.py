"""Wall-clock time as people write it: a time without an offset read in a time zone.

Once a year a zone's clocks go forward and an hour of local times never happens
(2026-03-08T02:30 in Toronto); once a year they go back and an hour happens twice
(2026-11-01T01:30 in Toronto). Python's ``replace(tzinfo=zone)`` silently picks one
meaning for both; troth refuses them instead and says which offsets to write, so a
breach's discovery, a request's receipt or a relationship's end is never an hour off.
Every reading of a user's naive time goes through :func:`local_time`; a date alone
through :func:`day_start`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo

from troth.errors import ValidationError


def _offset(at: datetime) -> str:
    """The offset of an aware time as ISO 8601 writes it: ``-05:00``, ``+05:30``."""
    delta = at.utcoffset() or timedelta()
    sign = "-" if delta < timedelta() else "+"
    minutes = abs(int(delta.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _name(zone: tzinfo) -> str:
    return str(getattr(zone, "key", None) or zone)


def _text(at: datetime) -> str:
    exact = at.second or at.microsecond
    return at.replace(tzinfo=None).isoformat(timespec="seconds" if exact else "minutes")


def local_time(value: datetime, zone: tzinfo, *, field: str | None = None) -> datetime:
    """``value`` as an aware time: itself when it has an offset, else wall-clock time in
    ``zone``. A time the zone's clocks skipped (``time_does_not_exist``) or showed twice
    (``time_is_ambiguous``) is a ValidationError naming the offsets to write instead."""
    if value.tzinfo is not None and value.utcoffset() is not None:
        return value
    naive = value.replace(tzinfo=None)
    first = naive.replace(tzinfo=zone, fold=0)
    second = naive.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return first
    text, where = _text(naive), _name(zone)
    where_field = {"field": field} if field else {}
    shown = first.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    if shown != naive:  # the clocks jumped over it
        raise ValidationError(
            f"{text} does not exist in {where} (the clocks went forward); give an offset,"
            f" e.g. {text}{_offset(first)} (which is {_text(shown)} there)",
            code="time_does_not_exist",
            **where_field,
        )
    raise ValidationError(
        f"{text} happens twice in {where} (the clocks went back); give the offset:"
        f" {text}{_offset(first)} (the first) or {text}{_offset(second)} (the second)",
        code="time_is_ambiguous",
        **where_field,
    )


def day_start(day: date, zone: tzinfo) -> datetime:
    """The first instant of ``day`` in ``zone``: its midnight, or the moment the clocks
    reached that day where they skip midnight (America/Santiago, Asia/Beirut)."""
    naive = datetime.combine(day, time.min)
    first = naive.replace(tzinfo=zone)
    shown = first.astimezone(UTC).astimezone(zone)
    # Midnight skipped: the day began when the clocks jumped, at the old offset's midnight.
    return first if shown.replace(tzinfo=None) == naive else shown


__all__ = ["day_start", "local_time"]
