"""Secrets of requests: the contact address (encrypted), one-time codes and download
tokens (only keyed hashes stored).

The contact key is ``Keyring.mac("troth:requests:contact-key", b"")``: 32 bytes derived from
the key file's token key, never stored; AES-256-GCM with the request id as associated data,
so a ciphertext copied to another request does not decrypt.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from troth.errors import CryptoError
from troth.keys import Keyring

_NONCE = 12
CODE_DIGITS = 6


def _contact_key(keys: Keyring) -> bytes:
    return keys.mac("troth:requests:contact-key", b"")


def _ad(request_id: str, role: str) -> bytes:
    """Associated data: the request, and whose address it is (the person's ``contact``,
    an agent's ``agent``), so neither ciphertext reads as the other."""
    return f"troth:request-{role}:{request_id}".encode()


def seal_contact(keys: Keyring, request_id: str, address: str, *, role: str = "contact") -> bytes:
    """The address encrypted for the row of ``request_id``."""
    nonce = os.urandom(_NONCE)
    ad = _ad(request_id, role)
    return nonce + AESGCM(_contact_key(keys)).encrypt(nonce, address.encode(), ad)


def open_contact(
    keys: Keyring, request_id: str, blob: bytes | None, *, role: str = "contact"
) -> str | None:
    """The address stored with ``request_id``, or None when there is none."""
    if blob is None:
        return None
    ad = _ad(request_id, role)
    try:
        plain = AESGCM(_contact_key(keys)).decrypt(bytes(blob[:_NONCE]), bytes(blob[_NONCE:]), ad)
    except InvalidTag as exc:
        raise CryptoError(
            f"the contact address of request {request_id} does not decrypt: wrong key file?"
        ) from exc
    return plain.decode()


def new_code() -> str:
    """A uniformly random 6-digit one-time code."""
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def hash_code(keys: Keyring, request_id: str, code: str) -> str:
    """Keyed hash of a code, bound to its request (a leaked table reveals no code)."""
    return keys.mac("troth:requests:code", f"{request_id}:{code}".encode()).hex()


def codes_match(stored: str | None, given: str) -> bool:
    """Constant-time comparison of two code hashes."""
    return stored is not None and hmac.compare_digest(stored.encode(), given.encode())


def hash_token(keys: Keyring, token: str) -> str:
    return keys.mac("troth:requests:export-token", token.encode()).hex()


def token_key(token: str) -> bytes:
    """The key an export file is encrypted under: only the holder of the link can read it."""
    return hashlib.sha256(b"troth:export-file:" + token.encode()).digest()


def seal_file(token: str, data: bytes) -> bytes:
    nonce = os.urandom(_NONCE)
    return nonce + AESGCM(token_key(token)).encrypt(nonce, data, b"troth:export")


def open_file(token: str, blob: bytes) -> bytes:
    try:
        return AESGCM(token_key(token)).decrypt(blob[:_NONCE], blob[_NONCE:], b"troth:export")
    except InvalidTag as exc:
        raise CryptoError("the export file does not decrypt with this link") from exc
