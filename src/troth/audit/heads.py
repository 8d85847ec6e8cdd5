"""Signed tree heads: checkpoints of the audit log's Merkle tree, signed with the home's
Ed25519 key and appended to a file outside the database.

Each audited commit hands its new tree head to the context's :class:`HeadSigner`. By
default (``audit_head_every_seconds = 0``) the signer signs and writes it before the
commit's caller goes on, so every entry is covered by a signature as soon as it exists.
With an interval, it signs at once when the last head is older than the interval, and
otherwise keeps the newest head and signs it when the interval has passed (a timer
thread), so no entry waits longer than the interval for a signature, however idle the
process becomes; closing the context, or the interpreter exiting, signs what is pending.
That is how RFC 6962 logs work (a signed head within a maximum merge delay); entries not
yet under a head are covered by the database's stored root only.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from troth.audit.alarms import Alarm, signed
from troth.audit.checkpoint import WitnessPush, checkpoint, origin_of
from troth.context import Context
from troth.db import dumps
from troth.errors import ConfigError, ValidationError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SignedHead:
    """A tree head ``{size, root, at}`` signed with the home's Ed25519 key."""

    size: int
    root: str
    at: str
    signature: str

    def message(self) -> bytes:
        return dumps({"at": self.at, "root": self.root, "size": self.size}).encode()

    def to_dict(self) -> dict[str, Any]:
        return {"size": self.size, "root": self.root, "at": self.at, "sig": self.signature}

    def verify(self, public_key: Ed25519PublicKey) -> bool:
        return signed(public_key, self.signature, self.message())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SignedHead:
        """Parse a head; ValidationError naming what is wrong."""
        try:
            head = cls(int(data["size"]), str(data["root"]), str(data["at"]), str(data["sig"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValidationError(f"not a signed tree head ({exc!r})") from exc
        if head.size < 0 or len(head.root) != 64:
            raise ValidationError("not a signed tree head (bad size or root)")
        return head


def read_heads(ctx: Context) -> list[tuple[int, SignedHead | None, str | None]]:
    """Every head line of the heads file as (line number, head or None, problem or None);
    none when the file does not exist. OSError when it cannot be read (a directory, say).
    Alarm lines are :func:`troth.audit.alarms.read_alarms`'."""
    out: list[tuple[int, SignedHead | None, str | None]] = []
    for lineno, line in heads_lines(ctx):
        try:
            data = json.loads(line)
            if isinstance(data, dict) and "alarm" in data:
                continue
            out.append((lineno, SignedHead.from_dict(data), None))
        except (ValueError, ValidationError, AttributeError) as exc:
            out.append((lineno, None, str(exc)))
    return out


def heads_lines(ctx: Context) -> list[tuple[int, str]]:
    """The heads file's non-blank lines with their numbers; none when there is no file.
    OSError when it cannot be read."""
    path = ctx.settings.resolved_heads_file
    if not path.exists():
        return []
    with path.open(encoding="utf-8", errors="replace") as fh:
        return [(n, line) for n, line in enumerate(fh, start=1) if line.strip()]


_TAIL_BYTES = 1 << 16


def newest_signed_head(
    ctx: Context,
    *,
    skip: tuple[type[Exception], ...] = (ValueError, ValidationError, AttributeError),
) -> SignedHead | None:
    """The largest head signed with the home's key among the last lines of the heads file
    (processes write heads in any order, each in size order), or None when there is none;
    a line raising one of ``skip`` is not a head. OSError when the file cannot be read."""
    path = ctx.settings.resolved_heads_file
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            end = fh.tell()
            fh.seek(max(0, end - _TAIL_BYTES))
            tail = fh.read().decode("utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return None
    if end > _TAIL_BYTES:
        tail = tail[1:]  # the first line read may be cut
    best: SignedHead | None = None
    public_key = ctx.keys.public_key
    for line in tail:
        try:
            head = SignedHead.from_dict(json.loads(line))
        except skip:
            continue
        if (best is None or head.size > best.size) and head.verify(public_key):
            best = head
    return best


def latest_head(ctx: Context) -> tuple[int, str] | None:
    """(size, root) of :func:`newest_signed_head`, or None when there is none. OSError
    when the file cannot be read."""
    best = newest_signed_head(ctx)
    return None if best is None else (best.size, best.root)


class HeadSigner:
    """Signs and publishes one context's tree heads (see the module's docstring).

    It keeps the context's settings, keys and clock as last seen (each call passes the
    context), never the context itself, so a context dropped without ``close()`` is still
    collected and its pending head still signed. Thread-safe: the server's worker threads
    commit concurrently. Within a process heads are written in size order (a smaller head
    that lost the race is not written after a larger one); ``troth audit verify`` accepts
    heads from several processes in any order.
    """

    def __init__(self, ctx: Context) -> None:
        self._lock = threading.Lock()
        self._parts = (ctx.settings, ctx.keys, ctx.clock)
        self._pending: tuple[int, str] | None = None
        self._published = -1  # size of the last head written by this signer
        self._last_at: float | None = None  # monotonic time of that write
        self._timer: threading.Timer | None = None
        self._fd = -1
        self._path: Path | None = None
        self._where: tuple[tuple[Any, ...], Path] | None = None  # settings -> the file
        self._ino = 0
        self._syncer: _Syncer | None = None
        self._witness: tuple[str, WitnessPush] | None = None

    def committed(self, ctx: Context, size: int, root_hex: str) -> None:
        """A commit grew the tree to ``size`` with ``root_hex``."""
        with self._lock:
            self._parts = (ctx.settings, ctx.keys, ctx.clock)
            every = ctx.settings.audit_head_every_seconds
            if self._pending is None or size > self._pending[0]:
                self._pending = (size, root_hex)
            now = time.monotonic()
            if every <= 0 or self._last_at is None or now - self._last_at >= every:
                try:
                    self._write_pending(now)
                except ConfigError:
                    # The commit is done (ready() had opened the file): failing the caller
                    # now would invite a retry that stores the work twice. The head stays
                    # pending and is written with the next one; verify reports it if not.
                    log.exception("could not write the audit tree head; it is kept for later")
            elif self._timer is None:
                self._timer = threading.Timer(every - (now - self._last_at), self._on_timer)
                self._timer.daemon = True
                self._timer.start()

    def ready(self, ctx: Context) -> None:
        """Raise ConfigError unless the heads file is open for writing: called before an
        audited commit, so a head that cannot be written stops the commit (fail closed)."""
        with self._lock:
            self._parts = (ctx.settings, ctx.keys, ctx.clock)
            self._open()

    def sign_now(self, ctx: Context, size: int, root_hex: str) -> SignedHead:
        """Sign and write the head ``(size, root_hex)`` now (``troth audit head``, the
        worker's hourly checkpoint); it supersedes a smaller pending head."""
        with self._lock:
            self._parts = (ctx.settings, ctx.keys, ctx.clock)
            if self._pending is not None and self._pending[0] <= size:
                self._pending = None
            head = self._sign(size, root_hex)
            self._write(head)
            self._published = max(self._published, size)
            self._last_at = time.monotonic()
            return head

    def alarm(self, problem: str) -> Alarm:
        """Sign and write an :class:`~troth.audit.alarms.Alarm` saying ``problem`` (no
        personal data: ids and what failed), synced to the disk before it returns."""
        with self._lock:
            _settings, keys, clock = self._parts
            at = clock.now().astimezone(UTC).isoformat()
            sig = keys.signing_key.sign(Alarm(at, problem, "").message())
            alarm = Alarm(at, problem, base64.b64encode(sig).decode())
            self._open()
            try:
                os.write(self._fd, (dumps(alarm.to_dict()) + "\n").encode())
                os.fdatasync(self._fd)
            except OSError as exc:
                raise ConfigError(
                    f"cannot write the audit heads file {self._path} ({exc.strerror or exc})"
                ) from exc
            return alarm

    def flush(self) -> None:
        """Sign the pending head, if any, now."""
        with self._lock:
            self._cancel_timer()
            self._write_pending(time.monotonic())

    def close(self) -> None:
        """Flush, then close the heads file."""
        try:
            self.flush()
        finally:
            with self._lock:
                self._close_fd()

    # -- inside the lock ------------------------------------------------------------------
    def _on_timer(self) -> None:
        with self._lock:
            self._timer = None
            try:
                self._write_pending(time.monotonic())
            except Exception:  # a thread has no caller to raise to: log, keep the head
                log.exception("could not write the audit tree head; it is kept for later")

    def _write_pending(self, now: float) -> None:
        pending = self._pending
        if pending is None:
            return
        if pending[0] > self._published:
            self._write(self._sign(*pending))
            self._published = pending[0]
        self._pending = None
        self._last_at = now

    def _sign(self, size: int, root_hex: str) -> SignedHead:
        _settings, keys, clock = self._parts
        at = clock.now().astimezone(UTC).isoformat()
        sig = keys.signing_key.sign(SignedHead(size, root_hex, at, "").message())
        return SignedHead(size, root_hex, at, base64.b64encode(sig).decode())

    def _open(self) -> None:
        # The descriptor stays open; a file moved away or deleted since is opened again at
        # its path. Created 0600 (and an older 0644 file made so): heads say how large the
        # log was, and only troth writes them.
        settings = self._parts[0]
        key = (settings.home, settings.audit_heads_file, settings.key_file)
        if self._where is None or self._where[0] != key:  # resolved once per setting
            self._where = (key, settings.resolved_heads_file)
        path = self._where[1]
        if self._fd >= 0 and path == self._path and self._same_file(path):
            return
        self._close_fd()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as exc:
            raise ConfigError(
                f"cannot write the audit heads file {path} ({exc.strerror or exc}): fix"
                " audit_heads_file or the file's permissions; nothing was stored"
            ) from exc
        try:
            os.fchmod(fd, 0o600)
        except OSError:
            log.warning("could not make %s mode 0600", path)
        self._fd, self._path, self._ino = fd, path, os.fstat(fd).st_ino

    def _write(self, head: SignedHead) -> None:
        # One write() on an O_APPEND descriptor: concurrent processes never interleave
        # lines. Once written the head survives the process; fdatasync takes it to the
        # disk: at once with an interval (one sync per interval), and with a head per
        # commit on a thread that syncs whatever was written meanwhile (a sync costs
        # milliseconds; the commit does not wait for it, as SQLite's WAL commits do not).
        self._open()
        try:
            os.write(self._fd, (dumps(head.to_dict()) + "\n").encode())
            if self._parts[0].audit_head_every_seconds > 0:
                os.fdatasync(self._fd)
            else:
                if self._syncer is None:
                    self._syncer = _Syncer()
                self._syncer.dirty(self._fd)
        except OSError as exc:
            raise ConfigError(
                f"cannot write the audit heads file {self._path} ({exc.strerror or exc});"
                " the head is kept and written with the next one"
            ) from exc
        self._push(head)

    def _push(self, head: SignedHead) -> None:
        settings, keys, _clock = self._parts
        target = settings.audit_witness
        if not target:
            return
        if self._witness is None or self._witness[0] != target:
            self._witness = (target, WitnessPush(target, settings.home))
        note = checkpoint(origin_of(settings, keys), head.size, head.root, keys)
        try:
            self._witness[1].push(note)
        except OSError:
            # The head is in the heads file; `verify --witness` shows what the witness lacks.
            log.exception("could not push the audit checkpoint to the witness %s", target)

    def _same_file(self, path: Path) -> bool:
        try:
            return os.stat(path).st_ino == self._ino
        except OSError:
            return False

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _close_fd(self) -> None:
        if self._witness is not None:
            self._witness[1].flush()
        if self._fd >= 0:
            if self._syncer is not None:
                self._syncer.stop()
                self._syncer = None
            try:
                os.fdatasync(self._fd)
            except OSError:
                log.warning("could not sync the audit heads file %s", self._path)
            os.close(self._fd)
            self._fd = -1


class _Syncer:
    """A thread that fdatasyncs the heads file after writes, one sync for all the heads
    written while the previous one ran. It syncs its own duplicate of the descriptor."""

    def __init__(self) -> None:
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._fd = -1
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="troth-heads-sync", daemon=True)
        self._thread.start()

    def dirty(self, fd: int) -> None:
        with self._lock:
            if self._fd < 0:
                self._fd = os.dup(fd)
        self._wake.set()

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
        self._wake.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            with self._lock:
                fd, stopped = self._fd, self._stopped
            if fd >= 0:
                try:
                    os.fdatasync(fd)
                except OSError:
                    log.exception("could not sync the audit heads file")
            if stopped:
                with self._lock:
                    if self._fd >= 0:
                        os.close(self._fd)
                        self._fd = -1
                return


def head_signer(ctx: Context) -> HeadSigner:
    """The context's signer (one per context, made on first use)."""

    def make() -> HeadSigner:
        signer = HeadSigner(ctx)
        # A context dropped without close(), or still open when the interpreter exits
        # (finalizers run at exit): sign what is pending, close the file.
        weakref.finalize(ctx, _close_quietly, signer)
        return signer

    return ctx.companion("_head_signer", make)


def close_heads(ctx: Context) -> None:
    """Sign a pending head and close the heads file (``Troth.close`` calls this); entries
    whose sequencing was deferred (:mod:`troth.audit.deferred`) are sequenced first."""
    from troth.audit.deferred import drain_deferred

    if not drain_deferred(ctx):
        log.error("audit entries still pending at close: the next round sequences them")
    signer: HeadSigner | None = ctx.companion_if_made("_head_signer")
    if signer is not None:
        signer.close()


def _close_quietly(signer: HeadSigner) -> None:
    try:
        signer.close()
    except Exception:
        log.exception("could not write the pending audit tree head")
