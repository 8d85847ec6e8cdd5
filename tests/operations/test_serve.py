"""`troth serve` as a user starts it: a real process on a port, one worker or several
(each worker opens the home itself), answering the API with an API key."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

import troth
from served import ORDER, TROTH, Served, answers, free_port, serve, stop, until
from troth.audit import list_entries, verify_log
from troth.engine import Troth


def _children(pid: int) -> list[int]:
    """The server processes under ``pid`` (not multiprocessing's resource tracker)."""
    found = []
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except (FileNotFoundError, ProcessLookupError):  # it exited since the listing
            continue
        if b"spawn_main" in cmdline:
            found.append(int(child))
    return found


def _gone(pid: int) -> bool:
    """Whether ``pid`` has exited (reaped, or a zombie waiting to be)."""
    try:
        return "Z" in Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except (FileNotFoundError, ProcessLookupError):  # reaped, or being reaped now
        return True


def _sockets(pid: int) -> set[str]:
    """The socket inodes ``pid`` holds open."""
    links = (os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir())
    return {link[8:-1] for link in links if link.startswith("socket:[")}


def _server_inode(server_port: int, client_port: int) -> str:
    """The inode of the server's end of the loopback connection from ``client_port``."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = fields[1].split(":")[1], fields[2].split(":")[1]
        if int(local, 16) == server_port and int(remote, 16) == client_port:
            return fields[9]
    raise AssertionError(f"no server end for the connection from port {client_port}")


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_answers_api_reads_with_one_or_more_workers(
    home: Any, serve_troth: Served, workers: int
) -> None:
    ctx = home("itechno", clock=None, context=True)
    t = Troth(ctx)
    sid = t.collect("order_form", ORDER).subject_id
    key, _ = t.access.keys.create_api_key("app", ["use"])
    t.close()
    proc, port = serve_troth(ctx.home, "--log-level", "warning", "--workers", str(workers))
    try:
        base = f"http://127.0.0.1:{port}"
        auth = {"Authorization": f"Bearer {key}"}
        # Several reads: with two workers both processes append to one audit log.
        for _ in range(6):
            r = httpx.get(f"{base}/api/v1/subjects/{sid}?purpose=billing", headers=auth)
            assert r.status_code == 200, r.text
            assert {v["field"]: v["value"] for v in r.json()["values"]}["card_number"] == (
                "5500000000000004"
            )
        r = httpx.get(f"{base}/api/v1/subjects/{sid}?purpose=billing")
        assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
        r = httpx.get(
            f"{base}/api/v1/subjects/{sid}?purpose=billing",
            headers={"Authorization": "Bearer trk_" + "A" * 43},
        )
        assert r.status_code == 401 and r.json()["code"] == "unknown_key"
    finally:
        stop(proc)
    with troth.open(ctx.home) as t2:
        report = verify_log(t2.ctx)
        uses = [e for e in list_entries(t2.ctx, subject_id=sid) if e.entry.action == "use"]
    assert report.ok and report.unsigned == 0, report.problem
    assert len(uses) == 6 and all(e.entry.outcome == "allow" for e in uses)


@pytest.mark.parametrize("workers", ["0", "65", "two"])
def test_serve_refuses_a_bad_worker_count(home: Any, workers: str) -> None:
    ctx = home("itechno", clock=None, context=True)
    ctx.engine.dispose()
    done = subprocess.run(
        [*TROTH, "serve", "--workers", workers],
        env=dict(os.environ, TROTH_HOME=str(ctx.home)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--workers" in done.stderr


# -- several workers: one SO_REUSEPORT socket each (troth.serving) ---------------------
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_share_connections_and_a_dead_worker_is_replaced(home: Any) -> None:
    ctx = home("itechno", clock=None, context=True)
    ctx.engine.dispose()
    port = free_port()
    proc = serve(ctx.home, port, "--log-level", "warning", "--workers", "2")
    try:
        until(lambda: len(_children(proc.pid)) == 2 and answers(port), "both serve", proc)
        workers = _children(proc.pid)
        # 32 keep-alive connections, each used once and held open: the kernel spreads them
        # over the workers' own sockets (with one shared socket, one worker took most).
        held = []
        for _ in range(32):
            conn = socket.create_connection(("127.0.0.1", port))
            conn.sendall(b"GET /.well-known/gpc.json HTTP/1.1\r\nHost: x\r\n\r\n")
            assert conn.recv(65536).startswith(b"HTTP/1.1 200")
            held.append(conn)
        ends = {_server_inode(port, conn.getsockname()[1]) for conn in held}
        taken = {w: len(ends & _sockets(w)) for w in workers}
        assert sum(taken.values()) == 32, taken  # each connection is held by one worker
        assert min(taken.values()) >= 4, f"connections were not spread: {taken}"
        for conn in held:
            conn.close()
        # A worker killed outright is replaced, and the port keeps answering.
        os.kill(workers[0], signal.SIGKILL)
        until(
            lambda: workers[0] not in _children(proc.pid) and len(_children(proc.pid)) == 2,
            "a new worker replaced the killed one",
            proc,
        )
        until(lambda: answers(port), "the server answers again", proc)
    finally:
        _, err = stop(proc, timeout=60)
    assert proc.returncode == 0, err.decode()
    for pid in workers[1:]:  # SIGTERM stopped every worker too
        assert _gone(pid), f"worker {pid} still runs after the server stopped"


def test_several_workers_refuse_a_port_in_use(home: Any) -> None:
    ctx = home("itechno", clock=None, context=True)
    ctx.engine.dispose()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = serve(ctx.home, port, "--log-level", "warning", "--workers", "2")
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, out + err
    assert f"cannot listen on 127.0.0.1:{port}" in err.decode()


@pytest.mark.parametrize(
    ("trusted", "workers", "origin"),
    [
        (None, 1, "127.0.0.0/24"),  # no proxy trusted: the header is ignored
        ("10.9.8.7", 2, "127.0.0.0/24"),  # another address trusted: still ignored
        ("127.0.0.1", 1, "203.0.113.0/24"),  # the connecting proxy is trusted
        ("127.0.0.1", 2, "203.0.113.0/24"),
    ],
)
def test_client_address_behind_a_trusted_proxy(
    home: Any, serve_troth: Served, trusted: str | None, workers: int, origin: str
) -> None:
    """Behind a load balancer every connection comes from it: with `trusted_proxies` its
    X-Forwarded-For names the client (consent records keep its network), and a client
    talking to troth directly cannot forge one."""
    import sqlalchemy as sa

    from troth.consent.tables import consent_events

    ctx = home("itechno", clock=None, context=True)
    if trusted is not None:
        with (ctx.home / "troth.toml").open("a") as fh:
            fh.write(f'trusted_proxies = "{trusted}"\n')
    t = Troth(ctx)
    sid = t.collect("order_form", ORDER).subject_id
    key, _ = t.access.keys.create_api_key("app", ["collect"])
    t.close()
    proc, port = serve_troth(ctx.home, "--log-level", "warning", "--workers", str(workers))
    try:
        r = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/subjects/{sid}/consents/product_news/grant",
            headers={"Authorization": f"Bearer {key}", "X-Forwarded-For": "203.0.113.9"},
        )
        assert r.status_code == 201, r.text
    finally:
        stop(proc)
    with troth.open(ctx.home) as t2, t2.ctx.engine.connect() as conn:
        got = conn.execute(
            sa.select(consent_events.c.origin).where(consent_events.c.subject_id == sid)
        ).scalar_one()
    assert got == origin
