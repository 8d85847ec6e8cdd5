"""A dataclass as JSON, one field after another in the order they are declared: the
records troth hands out (a disclosure package, a value read back, the log's verify report)
say only which fields are left out or passed as they are, not every field again."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import fields
from datetime import date
from typing import Any


def plain_fields(
    obj: Any, *, omit: Collection[str] = (), verbatim: Collection[str] = ()
) -> dict[str, Any]:
    """``obj``'s fields (a dataclass) but those in ``omit``, each made plain by
    :func:`plain_value` unless named in ``verbatim`` (a value whose type is the caller's
    to keep: a person's stored value is handed out as it was read)."""
    out: dict[str, Any] = {}
    for f in fields(obj):
        if f.name not in omit:
            value = getattr(obj, f.name)
            out[f.name] = value if f.name in verbatim else plain_value(value)
    return out


def plain_value(value: Any) -> Any:
    """Dates and datetimes as ISO 8601, tuples and lists as lists of plain values, an
    object with a ``to_dict`` as that dict; anything else (a dict included) as it is."""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [plain_value(v) for v in value]
    to_dict = getattr(value, "to_dict", None)
    return to_dict() if callable(to_dict) else value
