"""When a request was received, in the organisation's own time (P23, P27).

A request is dated on the calendar day of its receipt *where the organisation is*
(``organisation.time_zone``, or ``organisation.time_zones[regime]``): received 10:00 on
Monday 20 Dec in Auckland is Monday 20 Dec, not the UTC Sunday. The receipt time is the
real one when it is known (an e-mail's ``Date`` header, ``--received``, ``received_at`` over
HTTP), never later than now; a time without a zone is read in that same zone, the
regime's where ``time_zones`` names one (one the clocks skipped or showed twice there is
refused: :func:`troth.localtime.local_time`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from zoneinfo import ZoneInfo

from troth.errors import ValidationError
from troth.localtime import day_start, local_time

OLDEST = timedelta(days=366)
"""A receipt further back is a typo (2016 for 2026), not a request found in a drawer."""
_HINT = "write an ISO 8601 date and time, e.g. 2026-12-18T16:30 or 2026-12-18T16:30+13:00"


def parse_received(value: datetime | date | str, zone: ZoneInfo) -> datetime:
    """``value`` as an aware UTC time. A date alone is the start of that day and a time
    without an offset is wall-clock time, both in ``zone``."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError(
                f"received {text[:60]!r} is not a date and time: {_HINT}",
                code="invalid_received",
                field="received_at",
            ) from None
        if len(text) == 10:  # YYYY-MM-DD: the day itself, where the organisation is
            value = value.date()
    if isinstance(value, datetime):
        at = local_time(value, zone, field="received_at")
    elif isinstance(value, date):
        at = day_start(value, zone)
    else:
        raise ValidationError(
            f"received must be a date and time, got {value!r}: {_HINT}",
            code="invalid_received",
            field="received_at",
        )
    try:
        return at.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 with an offset
        raise ValidationError(
            f"received {value!s:.40} is out of range: {_HINT}",
            code="invalid_received",
            field="received_at",
        ) from None


def receipt_time(value: datetime | date | str | None, *, now: datetime, zone: ZoneInfo) -> datetime:
    """The receipt time to record: ``now`` when not given, else ``value`` checked (a
    request cannot have been received after it is recorded)."""
    if value is None:
        return now
    at = parse_received(value, zone)
    if at < now - OLDEST:
        raise ValidationError(
            f"received {at.astimezone(zone):%Y-%m-%d} is more than a year ago: check the date"
            " (a request is recorded when it arrives, its deadline is months at most)",
            code="received_too_old",
            field="received_at",
        )
    if at > now:
        raise ValidationError(
            f"received {at.astimezone(zone):%Y-%m-%d %H:%M %Z} is in the future (it is now "
            f"{now.astimezone(zone):%Y-%m-%d %H:%M %Z} in {zone.key}): give the time the "
            "request actually arrived",
            code="received_in_future",
            field="received_at",
        )
    return at


def local_day(at: datetime, zone: ZoneInfo) -> date:
    """The calendar day of ``at`` in ``zone`` (a naive time is taken as UTC, as stored)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(zone).date()


def local_stamp(at: datetime, zone: ZoneInfo) -> str:
    """``at`` as a person reads it in a letter: the day and time in ``zone`` (their
    regime's), with the zone's abbreviation ("2026-12-10 17:16 EST"), never UTC's (a
    naive time is taken as UTC, as stored)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return f"{at.astimezone(zone):%Y-%m-%d %H:%M %Z}"


def header_time(value: str | None) -> datetime | None:
    """An e-mail ``Date`` header as an aware time; None when absent or unreadable (a
    header without a zone, ``-0000``, is UTC by RFC 5322)."""
    if not value:
        return None
    try:
        at = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


__all__ = ["header_time", "local_day", "parse_received", "receipt_time"]
