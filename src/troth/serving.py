"""``troth serve --workers N``: N server processes on one port, each with its own listening
socket (``SO_REUSEPORT``), so the kernel spreads new connections evenly over them.

With one socket shared by every process (uvicorn's own ``--workers``), whichever process
wakes first takes a new connection; under load one worker ends up with most of them
(measured with two workers and 64 keep-alive connections: 48 open sockets in one worker
against 26 in the other; with a socket each, 33 and 37) and its queue sets the latency of
all. Here each process accepts only from its own socket. The parent keeps the
port bound (without listening, so it takes no connections) while it supervises: a worker
that dies is replaced, one that fails to start stops the server, and SIGTERM or SIGINT
stops every worker gracefully.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import threading
from pathlib import Path
from types import FrameType

log = logging.getLogger("troth.serve")

STARTUP_FAILURE = 3  # uvicorn's exit status when the app or its socket cannot start
_BACKLOG = 2048


def reuseport_socket(host: str, port: int, *, listen: bool = True) -> socket.socket:
    """A TCP socket bound to ``(host, port)`` with SO_REUSEPORT (listening unless asked)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        if listen:
            sock.listen(_BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock


def proxy_options(trusted_proxies: str | None) -> dict[str, object]:
    """uvicorn's options for the ``trusted_proxies`` setting: forwarded headers are read
    only from those addresses, and not at all when it is unset."""
    trusted = (trusted_proxies or "").strip()
    if not trusted:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": trusted}


def _worker(home: str, host: str, port: int, log_level: str, log_format: str = "text") -> None:
    """One server process: its own socket, its own app (engine, keys, head signer)."""
    import uvicorn

    from troth.operations.httplog import logging_config
    from troth.settings import Settings

    os.environ["TROTH_HOME"] = home
    sock = reuseport_socket(host, port)
    config = uvicorn.Config(
        "troth.app:app_from_environment",
        factory=True,
        log_level=log_level,
        log_config=logging_config(log_format, log_level),
        access_log=False,  # raw paths and query strings; troth logs the route template
        **proxy_options(Settings.for_home(home).trusted_proxies),  # type: ignore[arg-type]
    )
    uvicorn.Server(config).run(sockets=[sock])


def serve_workers(
    home: str, host: str, port: int, workers: int, log_level: str, *, log_format: str = "text"
) -> int:
    """Run ``workers`` server processes until SIGTERM or SIGINT; returns the exit status.

    Metrics: the workers count into files in one folder (prometheus-client's
    multiprocess mode), ``PROMETHEUS_MULTIPROC_DIR`` when the environment names one (its
    old files are removed first), else a fresh temporary folder removed at the end; any
    worker answers ``/metrics`` with the sum over all of them.

    Raises OSError (address in use, say) before any worker starts."""
    reserved = reuseport_socket(host, port, listen=False)
    metrics_dir, made_dir = _metrics_dir()
    port = reserved.getsockname()[1]
    spawn = multiprocessing.get_context("spawn")
    stop = threading.Event()

    def start() -> multiprocessing.process.BaseProcess:
        proc = spawn.Process(
            target=_worker,
            args=(home, host, port, log_level, log_format),
            name="troth-serve-worker",
        )
        proc.start()
        return proc

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    status = 0
    procs = [start() for _ in range(workers)]
    try:
        while not stop.wait(0.5):
            for i, proc in enumerate(procs):
                if proc.is_alive():
                    continue
                if proc.exitcode == STARTUP_FAILURE:
                    log.error("a server process could not start; stopping (see its error above)")
                    status = 1
                    stop.set()
                    break
                log.warning(
                    "server process %s ended (%s); starting another", proc.pid, proc.exitcode
                )
                _process_dead(proc.pid)
                procs[i] = start()
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()  # SIGTERM: uvicorn finishes the requests in flight
        for proc in procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()
                proc.join()
        reserved.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if made_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)
            os.environ.pop(_MULTIPROC_ENV, None)
    return status


_MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def _metrics_dir() -> tuple[str, bool]:
    """The multiprocess metrics folder the workers inherit (set in the environment before
    they are spawned: prometheus-client picks its mode when first imported), emptied of
    an earlier run's files; and whether it was made here."""
    named = os.environ.get(_MULTIPROC_ENV)
    if named:
        folder = Path(named)
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.db"):
            old.unlink(missing_ok=True)
        return str(folder), False
    made = tempfile.mkdtemp(prefix="troth-metrics-")
    os.environ[_MULTIPROC_ENV] = made
    return made, True


def _process_dead(pid: int | None) -> None:
    """Drop a dead worker's live gauges (its counters stay in the sum)."""
    if pid is None:
        return
    try:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
    except Exception:  # noqa: S110 - metrics are best effort; the server goes on
        pass
