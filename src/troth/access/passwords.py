"""Password hashing (argon2id), token hashing and the optional TOTP second factor."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from troth.errors import ValidationError

# argon2-cffi's defaults are the RFC 9106 "low memory" profile of argon2id.
_HASHER = PasswordHasher()
# Verified against when the e-mail is unknown, so a miss costs what a hit costs; made on
# first use (an argon2 hash at import would slow every command's start).
_DUMMY_HASH: str | None = None


def _dummy_hash() -> str:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = _HASHER.hash("troth-dummy-password-for-constant-time")
    return _DUMMY_HASH


MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024
TOTP_STEP_SECONDS = 30
TOTP_DIGITS = 6


def check_password_strength(password: str) -> None:
    """Refuse a password that is too short or absurdly long (hashing cost)."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(
            f"the password must be at least {MIN_PASSWORD_LENGTH} characters long"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValidationError(f"the password must be at most {MAX_PASSWORD_LENGTH} characters")


def hash_password(password: str) -> str:
    """An argon2id hash string (``$argon2id$v=19$...``) with a random salt."""
    return _HASHER.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """True when ``password`` matches ``stored``; a missing hash costs a dummy verify."""
    try:
        return _HASHER.verify(stored or _dummy_hash(), password[:MAX_PASSWORD_LENGTH]) and (
            stored is not None
        )
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _HASHER.check_needs_rehash(stored)


# -- TOTP (RFC 6238, HMAC-SHA1, 30 s steps, 6 digits) -----------------------------------------
def new_totp_secret() -> str:
    """A base32 secret (160 bits) for an authenticator app."""
    return base64.b32encode(secrets.token_bytes(20)).decode().rstrip("=")


def _b32(secret: str) -> bytes:
    pad = "=" * (-len(secret) % 8)
    return base64.b32decode(secret.upper() + pad)


def hotp(secret: str, counter: int, digits: int = TOTP_DIGITS) -> str:
    """RFC 4226 HOTP value of ``counter``."""
    mac = hmac.new(_b32(secret), struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    code = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(code % 10**digits).zfill(digits)


def totp_step(at: datetime) -> int:
    return int(at.timestamp()) // TOTP_STEP_SECONDS


def totp(secret: str, at: datetime) -> str:
    """The code an authenticator shows at ``at``."""
    return hotp(secret, totp_step(at))


def verify_totp(secret: str, code: str, at: datetime, window: int = 1) -> int | None:
    """The matching time step within ±``window`` steps of ``at``, or None. Every candidate
    is compared in constant time, so timing says nothing about which one matched."""
    code = (code or "").strip().replace(" ", "")
    step = totp_step(at)
    found: int | None = None
    for s in range(step - window, step + window + 1):
        if hmac.compare_digest(hotp(secret, s).encode(), code.encode()):
            found = s
    return found


def provisioning_uri(secret: str, account: str, issuer: str = "troth") -> str:
    """``otpauth://`` URI for a QR code."""
    from urllib.parse import quote

    return (
        f"otpauth://totp/{quote(issuer)}:{quote(account)}?secret={secret}"
        f"&issuer={quote(issuer)}&algorithm=SHA1&digits={TOTP_DIGITS}&period={TOTP_STEP_SECONDS}"
    )
