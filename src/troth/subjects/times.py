"""When a relationship ended, as the caller writes it: in the organisation's own time.

A date alone (``2026-01-31``) is the start of that day where the organisation is
(``organisation.time_zone``, or ``organisation.time_zones[regime]`` for the person's
regime); a time without an offset is wall-clock time there (one a clock change skipped or
showed twice is refused: :func:`troth.localtime.local_time`); a time with an offset is that
instant. Never after now: an end is recorded when it has happened; never before the day
troth first knew the person: a relationship cannot end before it was recorded, and an end
backdated by years would let retention delete at once what it must keep.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from troth.errors import ValidationError
from troth.localtime import day_start, local_time

_HINT = "write an ISO 8601 date or date and time, e.g. 2026-01-31 or 2026-01-31T17:00+11:00"


def _invalid(text: str) -> ValidationError:
    return ValidationError(
        f"the end {text[:60]!r} is not a date or a time: {_HINT}", code="invalid_time", field="at"
    )


def end_time(
    value: datetime | date | str | None,
    *,
    now: datetime,
    zone: ZoneInfo,
    known_since: datetime | None = None,
) -> datetime:
    """``value`` (None: ``now``) as an aware UTC time, read in ``zone`` when it carries no
    offset; a ValidationError otherwise: ``invalid_time``, ``time_does_not_exist`` or
    ``time_is_ambiguous`` (a local time a clock change skipped or showed twice),
    ``time_in_future``, or ``time_before_person`` (before the day, in ``zone``, troth
    first knew the person: ``known_since``)."""
    if value is None:
        return now
    if isinstance(value, str):
        text = value.strip()
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise _invalid(text) from None
        value = parsed.date() if len(text) == 10 else parsed  # YYYY-MM-DD: the day itself
    if isinstance(value, datetime):
        at = local_time(value, zone, field="at")
    elif isinstance(value, date):
        at = day_start(value, zone)
    else:
        raise _invalid(repr(value))
    try:
        at = at.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 with an offset
        raise _invalid(str(value)) from None
    if at > now:
        raise ValidationError(
            f"the end {at.astimezone(zone):%Y-%m-%d %H:%M %Z} is in the future (it is now "
            f"{now.astimezone(zone):%Y-%m-%d %H:%M %Z} in {zone.key}): record an end once it"
            " has happened",
            code="time_in_future",
            field="at",
        )
    if known_since is not None:
        first = known_since.astimezone(zone).date()
        if at < day_start(first, zone):
            raise ValidationError(
                f"the end {at.astimezone(zone):%Y-%m-%d %H:%M %Z} is before troth knew this"
                f" person (since {first.isoformat()} in {zone.key}): the earliest end allowed"
                f" is {first.isoformat()}",
                code="time_before_person",
                field="at",
                earliest=first.isoformat(),
            )
    return at


__all__ = ["end_time"]
