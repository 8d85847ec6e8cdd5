"""Tree heads as C2SP checkpoints (https://c2sp.org/tlog-checkpoint), signed notes
(https://c2sp.org/signed-note) that standard witnesses and verifiers check, and the push
of each head to an external witness (``audit_witness``: a file, or a URL POSTed to).

A checkpoint is ``<origin>\\n<size>\\n<base64 root>\\n``, a blank line, then one line
``\\u2014 <name> <base64(key id || Ed25519 signature of the text above the blank line)>``
per signature; the key id is the first 4 bytes of SHA-256(name || 0x0A || 0x01 ||
public key). troth's name is its origin.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from troth.errors import ConfigError, ValidationError
from troth.keys import Keyring

log = logging.getLogger(__name__)

DASH = "\u2014"
_ED25519 = b"\x01"


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(name: str, public_key: Ed25519PublicKey) -> bytes:
    """The signed-note key id of an Ed25519 key named ``name``."""
    return hashlib.sha256(name.encode() + b"\n" + _ED25519 + _raw(public_key)).digest()[:4]


def default_origin(public_key: Ed25519PublicKey) -> str:
    """An origin unique to the home's key: ``troth.audit/<16 hex of SHA-256(key)>``."""
    return f"troth.audit/{hashlib.sha256(_raw(public_key)).hexdigest()[:16]}"


def origin_of(settings: Any, keys: Keyring) -> str:
    return str(settings.audit_log_origin or default_origin(keys.public_key))


def checkpoint(origin: str, size: int, root_hex: str, keys: Keyring) -> str:
    """The signed note of the tree head ``(size, root_hex)``."""
    body = f"{origin}\n{size}\n{base64.b64encode(bytes.fromhex(root_hex)).decode()}\n"
    sig = keys.signing_key.sign(body.encode())
    blob = base64.b64encode(key_id(origin, keys.public_key) + sig).decode()
    return f"{body}\n{DASH} {origin} {blob}\n"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    origin: str
    size: int
    root: str  # hex


def parse_checkpoint(note: str, origin: str, public_key: Ed25519PublicKey) -> Checkpoint:
    """The checkpoint in ``note`` if a signature line by ``origin`` verifies with
    ``public_key``; ValidationError saying what is wrong otherwise."""
    body, sep, sigs = note.partition("\n\n")
    lines = body.split("\n")
    if not sep or len(lines) < 3:
        raise ValidationError("not a checkpoint (origin, size, root hash, blank line, signatures)")
    try:
        size = int(lines[1])
        root = base64.b64decode(lines[2], validate=True)
    except ValueError as exc:
        raise ValidationError(f"not a checkpoint ({exc})") from exc
    if lines[0] != origin or size < 0 or len(root) != 32 or lines[1] != str(size):
        raise ValidationError(f"not a checkpoint of {origin} (origin, size or root hash)")
    want = key_id(origin, public_key)
    for line in sigs.splitlines():
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != DASH or parts[1] != origin:
            continue
        try:
            blob = base64.b64decode(parts[2], validate=True)
        except ValueError:
            continue
        if blob[:4] != want:
            continue
        try:
            public_key.verify(blob[4:], (body + "\n").encode())
        except InvalidSignature:
            continue
        return Checkpoint(origin, size, root.hex())
    raise ValidationError(f"the checkpoint of size {size} has no valid signature by {origin}")


def split_notes(text: str) -> list[str]:
    """The notes in a witness file: each is its body, a blank line and its signature
    lines, and the next begins after another blank line."""
    notes, chunks = [], text.split("\n\n")
    for body, sigs in zip(chunks[0::2], chunks[1::2], strict=False):
        notes.append(f"{body.strip(chr(10))}\n\n{sigs.strip(chr(10))}\n")
    return notes


def read_witness(target: str, home: Path) -> str:
    """The text a witness holds: a file's contents, or the body of GET ``target``."""
    try:
        if target.startswith(("http://", "https://")):
            with urllib.request.urlopen(target, timeout=10) as r:  # noqa: S310 (http(s) only)
                return bytes(r.read()).decode()
        path = Path(target)
        return (path if path.is_absolute() else home / path).read_text()
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the witness {target} ({exc})") from exc


def witnessed(
    target: str, home: Path, origin: str, public_key: Ed25519PublicKey
) -> list[Checkpoint]:
    """Every checkpoint the witness holds, each checked; ValidationError on a bad one."""
    notes = split_notes(read_witness(target, home))
    return [parse_checkpoint(n, origin, public_key) for n in notes]


class WitnessPush:
    """Pushes checkpoints to ``audit_witness``: appended to a file at once (fdatasync'd),
    or POSTed to a URL by a thread, newest first (a witness needs only the latest)."""

    def __init__(self, target: str, home: Path) -> None:
        self._target = target
        self._url = target.startswith(("http://", "https://"))
        self._path = Path(target) if Path(target).is_absolute() else home / target
        self._lock = threading.Condition()
        self._latest: str | None = None
        self._thread: threading.Thread | None = None

    def push(self, note: str) -> None:
        if not self._url:
            fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, (note + "\n").encode())
                os.fdatasync(fd)
            finally:
                os.close(fd)
            return
        with self._lock:
            self._latest = note
            if self._thread is None:
                self._thread = threading.Thread(target=self._post, daemon=True, name="witness")
                self._thread.start()
            self._lock.notify()

    def flush(self, timeout: float = 10.0) -> None:
        """Wait (at most ``timeout``) until the latest checkpoint was POSTed."""
        with self._lock:
            self._lock.wait_for(lambda: self._latest is None, timeout=timeout)

    def _post(self) -> None:
        while True:
            with self._lock:
                self._lock.wait_for(lambda: self._latest is not None)
                note = self._latest
            assert note is not None
            request = urllib.request.Request(  # noqa: S310 (http(s) only)
                self._target,
                data=note.encode(),
                headers={"Content-Type": "text/plain; charset=utf-8"},
                method="POST",
            )
            try:
                with urllib.request.urlopen(request, timeout=10):  # noqa: S310
                    pass
            except (OSError, ValueError):
                log.exception("could not push the audit checkpoint to %s", self._target)
            with self._lock:
                if self._latest is note:
                    self._latest = None
                self._lock.notify_all()
