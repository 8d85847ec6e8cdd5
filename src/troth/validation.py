"""Checks on values arriving at a collection point: type, size, shape. Messages never
repeat the value: they are shown to callers and written to the audit log."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from troth.policy.model import CollectedField, FieldType

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{2,}$")
_PHONE = re.compile(r"^\+?[0-9 ()./-]{5,32}$")


def check_value(spec: CollectedField, value: Any, max_bytes: int) -> str | None:
    """None when ``value`` fits the declared field; otherwise what is wrong, in words."""
    t = spec.type
    if t in (FieldType.string, FieldType.text, FieldType.email, FieldType.phone):
        if not isinstance(value, str):
            return f"expected text, got {type(value).__name__}"
        if len(value) > spec.max_length:
            return f"too long ({len(value)} characters; at most {spec.max_length})"
        if len(value.encode()) > max_bytes:
            return f"too large ({len(value.encode())} bytes; at most {max_bytes})"
        if t is FieldType.email and not _EMAIL.match(value):
            return "not an e-mail address (name@domain)"
        if t is FieldType.phone and not _PHONE.match(value):
            return "not a telephone number (digits, spaces, + ( ) - . / only)"
        return None
    if t is FieldType.integer:
        if isinstance(value, bool) or not isinstance(value, int):
            return f"expected a whole number, got {type(value).__name__}"
        return None
    if t is FieldType.number:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"expected a number, got {type(value).__name__}"
        return None
    if t is FieldType.boolean:
        return (
            None if isinstance(value, bool) else f"expected true/false, got {type(value).__name__}"
        )
    if t is FieldType.date:
        if isinstance(value, date) and not isinstance(value, datetime):
            return None
        try:
            date.fromisoformat(str(value))
        except ValueError:
            return "not a date (YYYY-MM-DD)"
        return None
    if t is FieldType.datetime:
        if isinstance(value, datetime):
            return None
        try:
            datetime.fromisoformat(str(value))
        except ValueError:
            return "not a date-time (ISO 8601)"
        return None
    return None  # pragma: no cover
