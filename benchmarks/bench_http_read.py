"""http_read: an HTTP read of one person's data (GET /api/v1/subjects/{id}?purpose=...)
sent at a fixed 1,000 requests/s for 30 s (quick: 5 s) on loopback against `troth serve
--workers <cores>` in a subprocess; latency is measured from each request's scheduled send
time (so a stalled server cannot hide its backlog). Baseline: the same read through the
Python API in-process (``Troth.use``).

Before the full-rate run the offered rate is stepped up (100, 200, ... req/s, each for a
third of the run time) until p99 exceeds 10 ms: the highest rate that held is reported,
with the load generator's own CPU share at it (its process's user + system CPU time from
``resource.getrusage`` over the wall time: on a small machine the generator competes with
the server for the same cores) and the server's CPU time per request (every troth serve
process, from /proc).

``TROTH_BENCH_HTTP_DB`` picks troth's database: ``sqlite`` (default), ``postgresql`` (a
fresh database on ``TROTH_TEST_PG``'s server) or ``pgbouncer`` (the same, reached through a
PgBouncer in transaction mode that the benchmark starts: Debian's ``pgbouncer``). On
PostgreSQL it also reports the CPU time of the database's own server processes per
request (their /proc entries name the database; a server shared with other work adds
its WAL writer and checkpointer, not counted) and how many reads each audit commit
carried (signed heads written / requests: one head per commit)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from benchmarks import report
from benchmarks._homes import bench_home, order

RATE = 1000
# Offered rates tried in turn, until p99 exceeds 10 ms.
STEPS = (
    *range(100, 1000, 100),
    *range(1000, 3000, 250),
    *range(3000, 8001, 500),
)
DB = os.environ.get("TROTH_BENCH_HTTP_DB", "sqlite")
PG_URL = os.environ.get("TROTH_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
# One server process per core unless TROTH_BENCH_HTTP_WORKERS says how many.
WORKERS = int(os.environ.get("TROTH_BENCH_HTTP_WORKERS") or os.cpu_count() or 1)
IN_FLIGHT = 64


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class _Conn(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection that sends a request and reads its response:
    the load generator. A lean client keeps the measurement on the server: at 1,000
    requests/s a general-purpose async client spends more CPU per request than the
    server does, on the same two cores."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.waiter: asyncio.Future[int] | None = None
        self.transport: asyncio.Transport | None = None
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0 or self.waiter is None:
            return
        head = bytes(self.buf[:end]).lower()
        at = head.find(b"\r\ncontent-length:")
        if at < 0:
            waiter, self.waiter = self.waiter, None
            waiter.set_exception(RuntimeError("response without Content-Length"))
            return
        stop = head.find(b"\r\n", at + 2)
        length = int(head[at + 17 : stop if stop >= 0 else len(head)])
        if len(self.buf) < end + 4 + length:
            return
        status = int(self.buf[9:12])
        del self.buf[: end + 4 + length]
        waiter, self.waiter = self.waiter, None
        waiter.set_result(status)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc or ConnectionError("the server closed the connection"))
        if not self.closed.done():
            self.closed.set_result(None)

    def send(self, raw: bytes) -> asyncio.Future[int]:
        assert self.transport is not None and self.waiter is None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return self.waiter


async def _paced(
    port: int, paths: list[str], headers: dict[str, str], seconds: float, rate: int = RATE
) -> tuple[list[float], int, int]:
    """Send at ``rate``/s for ``seconds`` over IN_FLIGHT keep-alive connections; returns
    (latencies in ms, errors, unfinished). Latency runs from each request's scheduled
    time, so waiting for a free connection counts. A saturated server is given
    ``2 * seconds + 10`` s in all; requests still unanswered then count with the time
    they had waited (a lower bound on their latency)."""
    loop = asyncio.get_running_loop()
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    raws = [f"GET {p} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extra}\r\n".encode() for p in paths]
    idle: asyncio.Queue[_Conn] = asyncio.Queue()
    conns = []
    for _ in range(IN_FLIGHT):
        _, conn = await loop.create_connection(_Conn, "127.0.0.1", port)
        conns.append(conn)
        idle.put_nowait(conn)
    for i in range(50):  # warm the connections and the server
        conn = conns[i % IN_FLIGHT]
        if await conn.send(raws[0]) != 200:
            raise RuntimeError("http_read: the warm-up request did not return 200")

    total = int(rate * seconds)
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter()
    give_up = start + 2 * seconds + 10

    async def one(i: int, due: float) -> None:
        nonlocal errors
        conn = await idle.get()
        try:
            status = await conn.send(raws[i % len(raws)])
        except (ConnectionError, RuntimeError):
            errors += 1
            return
        latencies.append((time.perf_counter() - due) * 1000)
        if status != 200:
            errors += 1
        idle.put_nowait(conn)

    tasks: list[tuple[float, asyncio.Task[None]]] = []
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if time.perf_counter() > give_up:
            break
        tasks.append((due, asyncio.create_task(one(i, due))))
    remaining = max(0.0, give_up - time.perf_counter())
    await asyncio.wait([task for _, task in tasks], timeout=remaining or None)
    now = time.perf_counter()
    unfinished = 0
    for due, task in tasks:
        if not task.done():
            task.cancel()
            unfinished += 1
            latencies.append((now - due) * 1000)
    unfinished += total - len(tasks)
    latencies += [(now - (start + i / rate)) * 1000 for i in range(len(tasks), total)]
    for conn in conns:
        if conn.transport is not None:
            conn.transport.close()
    return latencies, errors, unfinished


def _cpu_self() -> float:
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_of(pids: list[int]) -> float:
    """User + system CPU seconds of ``pids`` (those still running), from /proc."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        total += (int(fields[11]) + int(fields[12])) / _TICK
    return total


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        with contextlib.suppress(FileNotFoundError):
            todo += [int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
    return out


def _backends(database: str | None) -> list[int]:
    """PostgreSQL server processes serving ``database`` (their command line names it)."""
    if not database:
        return []
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if cmd.startswith(b"postgres: ") and f" {database} ".encode() in cmd:
            out.append(int(entry.name))
    return out


class _BackendCpu:
    """CPU seconds the PostgreSQL backends of one database spend from now until
    :meth:`stop`, sampled every 0.1 s: a pool closes connections as it shrinks, and a
    backend that ended keeps the time it was last seen with."""

    def __init__(self, database: str | None) -> None:
        self.database = database
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self._done = threading.Event()
        self._sample(first=True)
        self._thread = threading.Thread(target=self._run, daemon=True)
        if database:
            self._thread.start()

    def _sample(self, first: bool = False) -> None:
        for pid in _backends(self.database):
            cpu = _cpu_of([pid])
            if first:
                self.first[pid] = cpu
            self.last[pid] = cpu

    def _run(self) -> None:
        while not self._done.wait(0.1):
            self._sample()

    def stop(self) -> float:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join()
        self._sample()
        return sum(cpu - self.first.get(pid, 0.0) for pid, cpu in self.last.items())


@contextlib.contextmanager
def _database() -> Iterator[tuple[str | None, str | None]]:
    """(troth's database URL or None for SQLite, the PostgreSQL database's name)."""
    if DB == "sqlite":
        yield None, None
        return
    import sqlalchemy as sa

    name = f"bench_http_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        url = sa.make_url(PG_URL)
        if DB == "postgresql":
            yield url.set(database=name).render_as_string(hide_password=False), name
        elif DB == "pgbouncer":
            os.environ["TROTH_DATABASE_POOLED"] = "true"  # the bench's home and its server
            try:
                with _pgbouncer(url, name) as port:
                    yield f"postgresql+psycopg://{url.username}@127.0.0.1:{port}/{name}", name
            finally:
                del os.environ["TROTH_DATABASE_POOLED"]
        else:
            raise SystemExit(f"TROTH_BENCH_HTTP_DB={DB!r}: use sqlite, postgresql or pgbouncer")
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextlib.contextmanager
def _pgbouncer(url: object, name: str) -> Iterator[int]:
    """A PgBouncer in transaction mode in front of database ``name``; yields its port."""
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    folder = Path(tempfile.mkdtemp(prefix="troth-bench-pgbouncer-"))
    port = _free_port()
    user = getattr(url, "username", "postgres")
    (folder / "users.txt").write_text(f'"{user}" ""\n')
    (folder / "pgbouncer.ini").write_text(
        f"[databases]\n{name} = host={getattr(url, 'host', '127.0.0.1')}"
        f" port={getattr(url, 'port', None) or 5432} dbname={name} user={user}\n"
        f"[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {folder / 'users.txt'}\npool_mode = transaction\n"
        "max_client_conn = 1000\ndefault_pool_size = 20\n"
        "ignore_startup_parameters = extra_float_digits\n"
    )
    cmd = [binary, *(["-u", "postgres"] if os.geteuid() == 0 else []), "-q"]
    proc = subprocess.Popen([*cmd, str(folder / "pgbouncer.ini")])
    _BOUNCER.append(proc.pid)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("pgbouncer did not start") from None
                time.sleep(0.05)
        yield port
    finally:
        _BOUNCER.remove(proc.pid)
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


_BOUNCER: list[int] = []  # the running PgBouncer's pid, if any


def _heads(home: Path) -> int:
    path = home / "audit-heads.jsonl"
    return sum(1 for _ in path.open("rb")) if path.exists() else 0


def run(quick: bool) -> list[str]:
    with _database() as (url, dbname):
        return _run(quick, url, dbname)


def _run(quick: bool, url: str | None, dbname: str | None) -> list[str]:
    seconds = 5.0 if quick else 30.0
    t = bench_home("itechno", url)
    people = [r.subject_id for r in t.collect_many("order_form", [order(i) for i in range(500)])]
    key, _ = t.access.keys.create_api_key("bench", ["use"])
    actor = t.access.keys.resolve_api_key(key)
    home = t.ctx.home
    # Baseline: the same read in-process.
    base: list[float] = []
    for i in range(2000 if quick else 10000):
        t0 = time.perf_counter()
        t.use(people[i % len(people)], purpose="billing", actor=actor)
        base.append((time.perf_counter() - t0) * 1000)
    t.close()

    port = _free_port()
    env = dict(os.environ, TROTH_HOME=str(home))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from troth.cli import main; main()",
            "serve",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--workers",
            str(WORKERS),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    raise RuntimeError(f"troth serve did not start: {err[-2000:]}") from None
                time.sleep(0.1)
        paths = [f"/api/v1/subjects/{sid}?purpose=billing" for sid in people]
        auth = {"Authorization": f"Bearer {key}"}

        def measured(rate: int, secs: float) -> tuple[list[float], int, int, dict[str, float]]:
            servers = _tree(proc.pid)
            cpu0, srv0, pool0 = _cpu_self(), _cpu_of(servers), _cpu_of(_BOUNCER)
            backends = _BackendCpu(dbname)
            heads0, wall0 = _heads(home), time.perf_counter()
            try:
                lat, err, unfinished = asyncio.run(_paced(port, paths, auth, secs, rate))
            finally:
                db_cpu = backends.stop()
            wall = time.perf_counter() - wall0
            n = len(lat) - unfinished or 1
            return (
                lat,
                err,
                unfinished,
                {
                    "generator_share": (_cpu_self() - cpu0) / wall,
                    "generator_ms": (_cpu_self() - cpu0) / n * 1000,
                    "server_ms": (_cpu_of(servers) - srv0) / n * 1000,
                    "db_ms": db_cpu / n * 1000,
                    "pool_ms": (_cpu_of(_BOUNCER) - pool0) / n * 1000,
                    "per_commit": n / max(1, _heads(home) - heads0),
                },
            )

        # Where the target does hold: step the offered rate up until p99 > 10 ms (before
        # the full rate, whose backlog would spill into the next run).
        held, at_held, errors, tried = 0, None, 0, []
        for rate in STEPS:
            lat, err, _, cost = measured(rate, seconds / 3)
            errors += err
            tried.append(rate)
            if _pct(lat, 0.99) > 10:
                break
            held, at_held = rate, cost
        latencies, err, unfinished, full = measured(RATE, seconds)
        errors += err
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    if errors:
        raise RuntimeError(f"http_read: {errors} requests did not return 200")
    where = f"troth serve --workers {WORKERS}, {os.cpu_count()} cores, {DB}"
    lines = [
        report("http_read", _pct(latencies, 0.99), _pct(base, 0.99), "ms", "p99 <= 10 ms"),
        report(
            "http_read_p50",
            statistics.median(latencies),
            statistics.median(base),
            "ms",
            f"p50 at {RATE}/s offered, {len(latencies)} requests, {unfinished} unanswered"
            f" in time; {where}",
        ),
        f"http_read_sustained: p99 <= 10 ms up to {held} req/s offered"
        f" (stepped {tried[0]} to {tried[-1]}; {where})",
    ]
    for label, cost in (("at the highest rate held", at_held), (f"at {RATE}/s", full)):
        if cost is None:
            continue
        parts = [
            f"load generator {cost['generator_share']:.0%} of a core"
            f" ({cost['generator_ms']:.2f} ms/request)",
            f"server CPU {cost['server_ms']:.2f} ms/request",
        ]
        if dbname:
            parts.append(f"PostgreSQL backends {cost['db_ms']:.2f} ms/request")
        if DB == "pgbouncer":
            parts.append(f"PgBouncer {cost['pool_ms']:.3f} ms/request")
        parts.append(f"{cost['per_commit']:.1f} reads per audit commit")
        lines.append(f"http_read_cost {label}: {'; '.join(parts)}")
    return lines
