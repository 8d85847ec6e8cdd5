"""The files a command writes (``-o``/``--out``): checked before the command does or
spends anything, then written whole or not at all.

A command that writes a file calls :func:`check_out` first, before it executes a request,
spends a download code or erases a tenant: a path that cannot be written (its folder
missing, a folder itself, a device, no permission) is one red line naming what to fix, and
nothing has happened. :func:`write_out` then writes to a hidden file beside the target and
renames it over the target, so a failure (a full disk) leaves no half-written file; its
error says nothing was written. A download spends its code only once the file is on disk
(``download(..., sink=...)``), so a failed write leaves the export there to download again.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from troth.errors import ValidationError

CODE = "output_unwritable"


def _unwritable(option: str, path: Path, why: str) -> ValidationError:
    return ValidationError(f"{option} {path}: {why}", code=CODE)


def check_out(path: Path, option: str = "--out") -> Path:
    """``path`` made absolute (a link followed) when a file can be written there; else a
    ValidationError (``output_unwritable``) that says what to fix. Nothing is left
    behind: the check creates a hidden file beside the target and removes it."""
    target = path.expanduser().resolve()
    if target.is_dir():
        raise _unwritable(option, path, "is a folder; give a file name in it")
    folder = target.parent
    if not folder.exists():
        raise _unwritable(
            option, path, f"the folder {folder} does not exist; create it or write elsewhere"
        )
    if not folder.is_dir():
        raise _unwritable(option, path, f"{folder} is not a folder; write elsewhere")
    if target.exists():
        if not stat.S_ISREG(target.stat().st_mode):
            raise _unwritable(option, path, "is not a regular file; give a file's name")
        if not os.access(target, os.W_OK):
            raise _unwritable(option, path, "is read-only; remove it or write elsewhere")
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".part")
    except OSError as exc:
        raise _unwritable(
            option, path, f"cannot write in {folder} ({exc.strerror}); write elsewhere"
        ) from None
    os.close(fd)
    os.unlink(probe)
    return target


def write_out(
    path: Path, data: bytes | str, *, private: bool = True, option: str = "--out"
) -> None:
    """Write ``data`` to ``path`` whole or not at all: readable by its owner only when
    ``private`` (0600, whatever the umask), else as the umask allows. A failure removes
    what was begun and is a ValidationError (``output_unwritable``) saying nothing was
    written."""
    target = check_out(path, option)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, part = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), 0o600 if private else 0o666 & ~_umask())
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(part, target)
    except OSError as exc:
        Path(part).unlink(missing_ok=True)
        raise _unwritable(
            option, path, f"could not be written ({exc.strerror}); nothing was written"
        ) from None


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
