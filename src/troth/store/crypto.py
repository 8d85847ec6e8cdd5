"""Envelope encryption of sensitive values: AES-256-GCM, random 96-bit nonces, associated
data binding each ciphertext to its subject, field, key version, category and collection
point (values encrypted before troth bound the last two still decrypt with the older
associated data; the record seal, troth.store.seals, binds every tag of every row).

A data key per subject (and version) is wrapped by a key-encryption key (KEK) from the key
file; deleting a subject's wrapped keys makes all of their ciphertexts unreadable
(crypto-shredding).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from troth.errors import CryptoError

NONCE_BYTES = 12


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def _dek_ad(subject_id: str, version: int, kek_version: int) -> bytes:
    return f"troth:dek:{subject_id}:{version}:{kek_version}".encode()


def _value_ad(subject_id: str, field: str, version: int) -> bytes:
    """The associated data of values encrypted before category and point were bound."""
    return f"troth:val:{subject_id}:{field}:{version}".encode()


def _value_ad2(
    subject_id: str, field: str, version: int, category: str, point: str | None
) -> bytes:
    return json.dumps(["troth:val:2", subject_id, field, version, category, point]).encode()


def _seal(key: bytes, plain: bytes, ad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plain, ad)


def _open(key: bytes, blob: bytes, ad: bytes, refusal: Callable[[], str]) -> bytes:
    """``blob`` (nonce, then ciphertext and tag) decrypted; CryptoError with the message
    ``refusal`` makes (only then) when it does not authenticate."""
    try:
        return AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], ad)
    except InvalidTag:
        raise CryptoError(refusal()) from None


def wrap_key(kek: bytes, kek_version: int, subject_id: str, version: int, dek: bytes) -> bytes:
    return _seal(kek, dek, _dek_ad(subject_id, version, kek_version))


def unwrap_key(
    kek: bytes, kek_version: int, subject_id: str, version: int, wrapped: bytes
) -> bytes:
    return _open(
        kek,
        wrapped,
        _dek_ad(subject_id, version, kek_version),
        lambda: (
            f"the data key of subject {subject_id} does not authenticate: wrong key file,"
            " or the database row was altered"
        ),
    )


def encrypt_value(
    dek: bytes,
    subject_id: str,
    field: str,
    version: int,
    plain: bytes,
    *,
    category: str,
    point: str | None,
) -> bytes:
    return _seal(dek, plain, _value_ad2(subject_id, field, version, category, point))


def decrypt_value(
    dek: bytes,
    subject_id: str,
    field: str,
    version: int,
    blob: bytes,
    *,
    category: str,
    point: str | None,
) -> bytes:
    """The plaintext of ``blob``; CryptoError unless it authenticates as a value of this
    subject, field, key version, category and point (or, encrypted before troth bound
    category and point, of this subject, field and key version: a value encrypted since
    never authenticates under that older associated data)."""
    nonce, body = blob[:NONCE_BYTES], blob[NONCE_BYTES:]
    aead = AESGCM(dek)
    try:
        return aead.decrypt(nonce, body, _value_ad2(subject_id, field, version, category, point))
    except InvalidTag:
        pass
    try:
        return aead.decrypt(nonce, body, _value_ad(subject_id, field, version))
    except InvalidTag:
        raise CryptoError(
            f"a value of subject {subject_id} ({field}) does not authenticate: it was"
            " altered or moved to another subject, field, category or collection point"
        ) from None
