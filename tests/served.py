"""troth as real processes, as a user runs it: `troth serve` (or the worker, or any other
command) started for a home, a free port for it, waiting until it answers, and a stop that
never leaves one running. A pytest plugin (tests/conftest.py registers it): tests import
the helpers, or ask for ``serve_troth``, which starts `troth serve` on a free port, waits until
it answers and stops whatever is still running at the end of the test."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

TROTH = (sys.executable, "-c", "from troth.cli import main; main()")
"""`troth` as a command line: this interpreter running the installed CLI."""

ORDER = {
    "name": "Bo",
    "email": "bo@example.com",
    "address": "2 Low St",
    "card_number": "5500000000000004",
    "card_expiry": "01/30",
    "order_items": "1 lamp",
}
"""An order the itechno home's ``order_form`` collects (the served tests' first person)."""

Served = Callable[..., "tuple[subprocess.Popen[Any], int]"]


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def troth_process(
    home: Path | None, *args: str, env: Mapping[str, str | None] | None = None, **popen: Any
) -> subprocess.Popen[Any]:
    """`troth ARGS` as a process for the home at ``home`` (``TROTH_HOME``), with the test's
    environment changed by ``env`` (None removes a variable); ``popen`` as for Popen
    (default: stdout and stderr piped)."""
    environ = dict(os.environ)
    if home is not None:
        environ["TROTH_HOME"] = str(home)
    for name, value in (env or {}).items():
        if value is None:
            environ.pop(name, None)
        else:
            environ[name] = value
    popen.setdefault("stdout", subprocess.PIPE)
    popen.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen([*TROTH, *args], env=environ, **popen)


def serve(home: Path | None, port: int, *args: str, **kw: Any) -> subprocess.Popen[Any]:
    """`troth serve --port PORT ARGS` (see :func:`troth_process`)."""
    return troth_process(home, "serve", "--port", str(port), *args, **kw)


def answers(port: int, path: str = "/.well-known/gpc.json") -> bool:
    """Whether the server on ``port`` answers ``path`` with 200 now."""
    try:
        return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def until(
    check: Callable[[], bool],
    what: str,
    proc: subprocess.Popen[Any] | None = None,
    *,
    seconds: float = 60,
    every: float = 0.1,
) -> None:
    """Wait until ``check()``; fail after ``seconds``, or as soon as ``proc`` (the process
    it waits for) has exited, with what it wrote on stderr."""
    deadline = time.monotonic() + seconds
    while not check():
        if proc is not None and proc.poll() is not None:
            said = proc.stderr.read() if proc.stderr else ""
            said = said.decode(errors="replace") if isinstance(said, bytes) else said
            raise AssertionError(f"the process exited ({proc.returncode}): {said[-2000:]}")
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(every)


def stop(
    proc: subprocess.Popen[Any], sig: int = signal.SIGTERM, timeout: float = 30
) -> tuple[Any, Any]:
    """Send ``sig`` and wait for the process to end (killed after ``timeout`` seconds):
    what it wrote, as ``communicate`` returns it."""
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate()


@pytest.fixture
def serve_troth() -> Iterator[Served]:
    """``serve_troth(home, *args, ready="/.well-known/gpc.json", port=None, **kw)``: `troth
    serve` for ``home`` on ``port`` (default: a free one), once ``ready`` answers 200;
    returns (the process, its port). Whatever is still running at the end is stopped."""
    procs: list[subprocess.Popen[Any]] = []

    def start(
        home: Path | None,
        *args: str,
        ready: str = "/.well-known/gpc.json",
        port: int | None = None,
        **kw: Any,
    ) -> tuple[subprocess.Popen[Any], int]:
        port = free_port() if port is None else port
        proc = serve(home, port, *args, **kw)
        procs.append(proc)
        until(lambda: answers(port, ready), f"troth serve answers {ready}", proc)
        return proc, port

    yield start
    for proc in procs:
        if proc.poll() is None:
            stop(proc, signal.SIGKILL, timeout=10)
