"""The ids troth gives what it stores (subjects, tenants, requests, ...) and their short
form for people to read; the opaque tokens it hands out (session, invitation, sign-in,
unsubscribe and API-key secrets) and the hash it keeps of them instead."""

from __future__ import annotations

import hashlib
import secrets
import time

__all__ = ["new_id", "new_token", "short_id", "token_hash"]


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


def new_token() -> str:
    """An opaque random token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def token_hash(token: str | bytes) -> str:
    """SHA-256 hex of a token (text is hashed as its UTF-8 bytes): what the database keeps
    instead of the token."""
    return hashlib.sha256(token if isinstance(token, bytes) else token.encode()).hexdigest()
