"""How long something lasts in a policy (retention, legal minimums, connectors' periods):
:class:`Duration`, written ``7y``, ``18m``, ``30d``, ``2y 6m`` or ISO 8601 ``P7Y``."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

_DURATION = re.compile(
    r"^\s*(?:(?P<years>\d+)\s*y(?:ears?)?)?\s*(?:(?P<months>\d+)\s*m(?:onths?)?)?\s*"
    r"(?:(?P<weeks>\d+)\s*w(?:eeks?)?)?\s*(?:(?P<days>\d+)\s*d(?:ays?)?)?\s*$"
)
_ISO_DURATION = re.compile(
    r"^P(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?$"
)


MAX_DURATION_YEARS = 100
"""The longest period a policy may write (retention, legal minimums, connectors): every
date troth computes from one stays a real date."""


class Duration(BaseModel):
    """A calendar duration: ``7y``, ``18m``, ``30d``, ``2y 6m`` or ISO 8601 ``P7Y``; at most
    :data:`MAX_DURATION_YEARS` years."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    years: int = 0
    months: int = 0
    days: int = 0

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return {"days": value}
        if isinstance(value, str):
            m = _ISO_DURATION.match(value.strip()) or _DURATION.match(value.strip().lower())
            if not m or not any(m.groupdict().values()):
                raise ValueError(
                    f"{value!r} is not a duration: write e.g. '7y', '18m', '30d', '2y 6m' or 'P7Y'"
                )
            if any(v and len(v) > 6 for v in m.groupdict().values()):
                raise ValueError(_too_long(value))
            g = {k: int(v) for k, v in m.groupdict().items() if v}
            return {
                "years": g.get("years", 0),
                "months": g.get("months", 0),
                "days": g.get("days", 0) + 7 * g.get("weeks", 0),
            }
        return value

    @model_validator(mode="after")
    def _bounded(self) -> Duration:
        if min(self.years, self.months, self.days) < 0:
            raise ValueError("a duration is never negative")
        if self.approx_days() > MAX_DURATION_YEARS * 365.25:
            raise ValueError(_too_long(str(self)))
        return self

    def approx_days(self) -> float:
        """Length in days, for comparisons (a year = 365.25 days, a month = 30.44)."""
        return self.years * 365.25 + self.months * 30.4375 + self.days

    def __str__(self) -> str:
        units = ((self.years, "y"), (self.months, "m"), (self.days, "d"))
        parts = [f"{n}{u}" for n, u in units if n]
        return " ".join(parts) or "0d"


def _too_long(value: object) -> str:
    shown = str(value) if len(str(value)) <= 20 else str(value)[:20] + "..."
    return f"{shown!r} is too long: a duration is at most {MAX_DURATION_YEARS}y"
