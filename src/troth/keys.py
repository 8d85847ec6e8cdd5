"""The key file: every secret troth needs, kept outside the database.

A JSON file (mode 0600) holding the versioned key-encryption keys (KEKs) that wrap each
subject's data key, one blind-index key per identity field, the Ed25519 key that signs
audit tree heads and consent receipts, and the key for opaque tokens. Only this module
reads or writes it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import stat
import threading
import time
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from troth.errors import ConfigError, CryptoError

if TYPE_CHECKING:  # cryptography loads when a key signs (a lookup only needs the HMAC keys)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

KEY_FILE_FORMAT = 1
BLIND_INDEX_FIELDS = ("email", "phone", "customer_id")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode())


def normalise_identity(field: str, value: str) -> str:
    """The normal form an identity is indexed under: e-mail lower-cased and trimmed,
    phone digits only (leading + kept), others NFKC + trimmed."""
    value = unicodedata.normalize("NFKC", value).strip()
    if field == "email":
        return value.lower()
    if field == "phone":
        digits = "".join(ch for ch in value if ch.isdigit())
        return ("+" if value.startswith("+") else "") + digits
    return value


class Keyring:
    """Secrets from the key file. Construct with :meth:`load` or :meth:`create`."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self._data = data
        self._stamp = _stamp(path)
        self._looked = time.monotonic()
        self._refresh_lock = threading.Lock()
        try:
            self._keks = {int(v): _unb64(k) for v, k in data["kek"].items()}
            self._current = int(data["kek_current"])
            self._bidx = {f: _unb64(k) for f, k in data["blind_index"].items()}
            # An Ed25519 private key is 32 raw bytes; the key object is made on first use.
            self._signing_raw = _unb64(data["signing_key"])
            if len(self._signing_raw) != 32:
                raise ValueError("An Ed25519 private key is 32 bytes long")
            self._signing_key: Ed25519PrivateKey | None = None
            self._token = _unb64(data["token_key"])
        except (KeyError, ValueError, TypeError) as exc:
            raise ConfigError(
                f"key file {path} is damaged ({exc}); restore it from your backup"
            ) from exc
        if self._current not in self._keks:
            raise ConfigError(f"key file {path}: current key version missing; restore it")

    # -- another process rotated -------------------------------------------------------
    @property
    def current_kek_version(self) -> int:
        """The version new data keys are wrapped with: the key file's, as another process
        (``troth keys rotate``) may have changed it (looked at once a second at most)."""
        if time.monotonic() - self._looked >= REFRESH_SECONDS:
            self.refresh()
        return self._current

    def refresh(self, *, force: bool = False) -> bool:
        """Take in key-encryption keys the key file gained since it was read (another
        process rotated); True when it changed. Only KEK versions change: the other keys
        of a home never do. A file that cannot be read now keeps the keys held."""
        with self._refresh_lock:
            self._looked = time.monotonic()
            stamp = _stamp(self.path)
            if stamp == self._stamp and not force:
                return False
            try:
                data = json.loads(self.path.read_text())
                keks = {int(v): _unb64(k) for v, k in data["kek"].items()}
                current = int(data["kek_current"])
            except (OSError, ValueError, KeyError, TypeError):
                return False  # being replaced, or damaged: keep what we hold
            if current not in keks:
                return False
            same_home = data.get("signing_key") == self._data.get("signing_key") and all(
                keks[v] == k for v, k in self._keks.items() if v in keks
            )
            if not same_home:  # another home's key file put in its place: not ours to use
                return False
            self._data, self._stamp = data, stamp
            self._keks.update(keks)
            for gone in set(self._keks) - set(keks):
                del self._keks[gone]  # retired
            self._current = current
            return True

    # -- life cycle --------------------------------------------------------------------
    @classmethod
    def create(cls, path: Path) -> Keyring:
        """Write a new key file with fresh random keys (refuses to overwrite one)."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        if path.exists():
            raise ConfigError(f"key file {path} already exists; refusing to overwrite keys")
        data = {
            "format": KEY_FILE_FORMAT,
            "kek": {"1": _b64(secrets.token_bytes(32))},
            "kek_current": 1,
            "retired": [],
            "blind_index": {f: _b64(secrets.token_bytes(32)) for f in BLIND_INDEX_FIELDS},
            "signing_key": _b64(
                Ed25519PrivateKey.generate().private_bytes(
                    serialization.Encoding.Raw,
                    serialization.PrivateFormat.Raw,
                    serialization.NoEncryption(),
                )
            ),
            "token_key": _b64(secrets.token_bytes(32)),
        }
        _write_private(path, data)
        return cls(path, data)

    @classmethod
    def load(cls, path: Path) -> Keyring:
        if not path.exists():
            raise ConfigError(
                f"key file {path} not found: point TROTH_KEY_FILE at it, or run `troth init`"
                " for a new home"
            )
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise ConfigError(
                f"key file {path} is readable by others (mode {mode:o}); run `chmod 600 {path}`"
            )
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"key file {path} cannot be read ({exc}); restore it") from exc
        if not isinstance(data, dict) or data.get("format") != KEY_FILE_FORMAT:
            raise ConfigError(f"key file {path} is not a troth key file (format 1)")
        return cls(path, data)

    def add_kek_version(self) -> int:
        """Make a new key-encryption key the current one; old ones stay for reading."""
        version = max(self._keks) + 1
        key = secrets.token_bytes(32)
        self._data["kek"][str(version)] = _b64(key)
        self._data["kek_current"] = version
        _write_private(self.path, self._data)
        self._keks[version] = key
        self._current = version
        self._stamp = _stamp(self.path)
        return version

    def retire_kek_version(self, version: int) -> None:
        """Forget an old key-encryption key (after every data key was re-wrapped)."""
        if version == self.current_kek_version:
            raise CryptoError("the current key version cannot be retired; rotate first")
        self._data["kek"].pop(str(version), None)
        self._data.setdefault("retired", []).append(version)
        _write_private(self.path, self._data)
        self._keks.pop(version, None)
        self._stamp = _stamp(self.path)

    # -- use ---------------------------------------------------------------------------
    def kek(self, version: int) -> bytes:
        found = self._keks.get(version)
        if found is None and self.refresh():  # another process rotated since we read it
            found = self._keks.get(version)
        if found is None:
            raise CryptoError(
                f"key-encryption key version {version} is not in {self.path}; it was retired"
                " or the key file is from another home"
            )
        return found

    @property
    def kek_versions(self) -> list[int]:
        return sorted(self._keks)

    def blind_index(self, field: str, value: str, *, region: str | None = None) -> str:
        """Keyed HMAC-SHA256 of the normalised value: equality lookup without plaintext.
        A phone number is indexed in E.164 (``region``: where a number without a country
        code is dialled; ValidationError when it is no telephone number)."""
        key = self._bidx.get(field)
        if key is None:
            raise CryptoError(f"no blind-index key for field {field!r}")
        if field == "phone":
            from troth.collection.phones import to_e164

            norm = to_e164(value, region)
        else:
            norm = normalise_identity(field, value)
        return hmac.new(key, norm.encode(), hashlib.sha256).hexdigest()

    def mac(self, label: str, data: bytes) -> bytes:
        """HMAC-SHA256 under the token key, domain-separated by ``label``."""
        return hmac.new(self._token, label.encode() + b"\x00" + data, hashlib.sha256).digest()

    @property
    def signing_key(self) -> Ed25519PrivateKey:
        if self._signing_key is None:
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

            self._signing_key = Ed25519PrivateKey.from_private_bytes(self._signing_raw)
        return self._signing_key

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.signing_key.public_key()

    def public_key_b64(self) -> str:
        from cryptography.hazmat.primitives import serialization

        raw = self.public_key.public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return _b64(raw)

    def secret_values(self) -> list[bytes]:
        """Every raw secret (tests scan the database for them)."""
        out = list(self._keks.values()) + list(self._bidx.values()) + [self._token]
        from cryptography.hazmat.primitives import serialization

        out.append(
            self.signing_key.private_bytes(
                serialization.Encoding.Raw,
                serialization.PrivateFormat.Raw,
                serialization.NoEncryption(),
            )
        )
        return out


# How often a process looks whether the key file changed (another process rotated).
REFRESH_SECONDS = 1.0


def _stamp(path: Path) -> tuple[int, int, int] | None:
    """What changes when the key file is replaced or rewritten."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _write_private(path: Path, data: dict[str, Any]) -> None:
    """Atomically replace ``path`` with ``data``, created 0600 from the start."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
