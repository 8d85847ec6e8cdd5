"""The ids troth gives what it stores (subjects, tenants, requests, ...), and their short
form for people to read."""

from __future__ import annotations

import secrets
import time

__all__ = ["new_id", "short_id"]


def new_id() -> str:
    """An unguessable, time-ordered 32-hex-character id: 48 bits of Unix milliseconds,
    then 80 random bits (the layout of an RFC 9562 UUIDv7, without its version bits).

    Ids made later sort later, so inserts land at the right-hand edge of every index keyed
    by them (records by subject, keys, requests) instead of on a random page each: at
    10M people that is the difference between appending and rewriting the whole index.
    The price is that an id tells when it was made, to the millisecond."""
    return f"{time.time_ns() // 1_000_000:012x}{secrets.token_hex(10)}"


def short_id(value: str | None) -> str:
    """A short form of an id for people to read: its random tail (the head of a new_id is
    its time, the same for everything made in the same millisecond)."""
    if not value:
        return ""
    return value if len(value) <= 12 else "\u2026" + value[-10:]
