"""audit_throughput: audited appends per second on PostgreSQL with 8, 32 and 128 concurrent
clients vs the same inserts into a plain table (no Merkle state), in the same run.

Each client appends one entry per transaction, the path every audited change takes
(``with transaction(ctx) as conn: append_entries(conn, at, [entry])``), in a closed loop.
The clients are threads spread over 4 processes (multiprocessing, spawn): 2 cores and
the GIL would make one process's threads measure Python, not the log. Each process keeps
a pool of 15 connections, so at most 60 are open (PostgreSQL's default limit is 100 and
other work shares it); clients beyond a pool wait for a connection, as in an application
server. The baseline is the same clients inserting the same columns
into a plain table with a sequence, one row per transaction. Target: >= 2,000 audited
appends/s at 32 clients and within 1.5x of the plain inserts.

Two lines per client count: ``audit_throughput_N``, the default (a head signed before each
call returns, which waits for its entry's sequencing round), and
``audit_throughput_heads_1s_N`` with ``audit_head_every_seconds = 1``, where a call returns
once its entry is committed and the process's thread sequences it straight after
(troth.audit.deferred). The time of every side runs until its processes have closed, so
for the deferred side it includes sequencing and signing whatever was still pending.
"""

from __future__ import annotations

import multiprocessing as mp
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from benchmarks import report

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PROCESSES = 4
CLIENTS = (8, 32, 128)

_PLAIN_DDL = (
    "CREATE TABLE plain_audit (seq BIGSERIAL PRIMARY KEY, at TIMESTAMPTZ NOT NULL,"
    " actor VARCHAR(255) NOT NULL, action VARCHAR(100) NOT NULL, outcome VARCHAR(16) NOT NULL,"
    " subject_id VARCHAR(128), tenant_id VARCHAR(128), purpose VARCHAR(100),"
    " categories TEXT NOT NULL, reason TEXT, details TEXT NOT NULL, leaf_hash BYTEA NOT NULL)"
)
_PLAIN_INSERT = sa.text(
    "INSERT INTO plain_audit (at, actor, action, outcome, subject_id, tenant_id, purpose,"
    " categories, reason, details, leaf_hash) VALUES (:at, :actor, :action, :outcome,"
    " :subject_id, NULL, :purpose, :categories, NULL, :details, :leaf_hash)"
)


def _client_process(
    kind: str, home: str, url: str, threads: int, start: Any, stop: Any, out: Any
) -> None:
    """One process: ``threads`` clients appending until ``stop``; puts its count."""
    from datetime import UTC, datetime

    from troth.audit import AuditEntry, append_entries, transaction
    from troth.db import make_engine
    from troth.home import open_context

    counts = [0] * threads
    if kind in ("troth", "deferred"):
        # "deferred": heads every second, so sequencing leaves the call's path
        # (troth.audit.deferred); "troth": the default, a head before each call returns.
        every = 1.0 if kind == "deferred" else 0.0
        ctx = open_context(home, audit_head_every_seconds=every)
        _keep_connections(ctx.engine)

        def one(n: int, i: int) -> None:
            entry = AuditEntry(
                action="use",
                actor=f"app:c{n}",
                subject_id=f"s{i}",
                purpose="billing",
                categories=("contact",),
                details={"fields": ["email"]},
            )
            with transaction(ctx) as conn:
                append_entries(conn, datetime.now(UTC), [entry])

    else:
        engine = make_engine(url)
        _keep_connections(engine)

        def one(n: int, i: int) -> None:
            with engine.begin() as conn:
                conn.execute(
                    _PLAIN_INSERT,
                    {
                        "at": datetime.now(UTC),
                        "actor": f"app:c{n}",
                        "action": "use",
                        "outcome": "allow",
                        "subject_id": f"s{i}",
                        "purpose": "billing",
                        "categories": '["contact"]',
                        "details": '{"fields":["email"]}',
                        "leaf_hash": b"\x00" * 32,
                    },
                )

    def loop(n: int) -> None:
        i = 0
        one(n, -1)  # warm: a pooled connection, compiled statements
        start.wait()
        while not stop.is_set():
            one(n, i)
            i += 1
        counts[n] = i

    workers = [threading.Thread(target=loop, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if kind != "plain":
        from troth.audit.heads import close_heads

        close_heads(ctx)  # deferred entries sequenced and signed before the count is in
    out.put(sum(counts))


def _keep_connections(engine: Any) -> None:
    """Keep every connection the pool opens (5 + 10 overflow) instead of closing the
    overflow ones on return: else both sides mostly measure PostgreSQL connection setup.
    (SQLAlchemy's QueuePool has no public setting for it after the engine is made.)"""
    engine.pool._pool.maxsize = 15


def _rate(kind: str, home: str, url: str, clients: int, seconds: float) -> float:
    mpx = mp.get_context("spawn")
    procs = min(PROCESSES, clients)
    start = mpx.Barrier(clients + 1)
    stop = mpx.Event()
    out = mpx.Queue()
    children = [
        mpx.Process(
            target=_client_process,
            args=(kind, home, url, clients // procs, start, stop, out),
        )
        for _ in range(procs)
    ]
    for c in children:
        c.start()
    start.wait(timeout=300)  # every client warmed up: all start together
    began = time.monotonic()
    time.sleep(seconds)
    stop.set()
    total = sum(out.get(timeout=300) for _ in children)
    # Until every process has its last append sequenced and signed: a backlog of deferred
    # sequencing counts against the rate instead of being left out of it.
    elapsed = time.monotonic() - began
    for c in children:
        c.join()
    return total / elapsed


def run(quick: bool) -> list[str]:
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception:
        line = f"audit_throughput: skipped (PostgreSQL not reachable at {PG_URL})"
        print(line, file=sys.stderr)
        return [line]
    from troth.home import init_home

    seconds = 3.0 if quick else 10.0
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    lines = []
    try:
        tmp = Path(tempfile.mkdtemp(prefix="troth-bench-"))
        ctx = init_home(tmp / "home", example="itechno", database_url=url)
        with ctx.engine.begin() as conn:
            conn.execute(sa.text(_PLAIN_DDL))
        ctx.engine.dispose()
        home = str(tmp / "home")
        for clients in CLIENTS:
            plain = _rate("plain", home, url, clients, seconds)
            target = ">= 2,000/s and <= 1.5x" if clients == 32 else "grows with clients"
            for kind, name in (("troth", ""), ("deferred", "_heads_1s")):
                ours = _rate(kind, home, url, clients, seconds)
                label = f"audit_throughput{name}_{clients}"
                lines.append(report(label, ours, plain, "appends/s", target))
                print(lines[-1], file=sys.stderr, flush=True)
        from troth.audit import verify_log
        from troth.home import open_context

        check = open_context(home)
        result = verify_log(check)
        check.engine.dispose()
        if not result.ok:
            lines.append(f"audit_throughput: the log does not verify: {result.problem}")
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
    return lines


if __name__ == "__main__":
    for line in run("--quick" in sys.argv):
        print(line)
