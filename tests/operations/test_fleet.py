"""troth as several processes over one PostgreSQL behind PgBouncer in transaction mode: two
`troth serve` and two `troth worker` processes share one home directory (key file, heads
file, mail folder) and one database, reached only through the pooler. Under mixed load
(collect, use, requests, retention) one server and the worker running retention are
killed with SIGKILL; then every acknowledged operation must be in the store and in the
audit log, the log must verify, no job's effect may be applied twice, and the survivors
must finish the work.

Several machines are this with the home directory's key file and heads file shared
(README, "Running troth on several machines"); here they share a directory on one
machine, which is what this test can honestly check.
"""

from __future__ import annotations

import os
import pwd
import random
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

import troth
from dbs import IN_CI, PG_ADMIN_URL, need
from served import free_port, troth_process, until
from troth.audit import list_entries, verify_log
from troth.audit.tables import audit_entries
from troth.clock import ManualClock
from troth.engine import Troth
from troth.notices.outbox import outbox
from troth.operations.jobs import worker_jobs
from troth.requests.intake import LETTERS_PER_DAY
from troth.requests.tables import requests as requests_table
from troth.store.tables import records, subjects
from troth.worker import TASKS

PRELOADED = 1500  # people collected eight years ago: every value of theirs has expired
LOAD_SECONDS = 12.0
KILL_SERVER_AT = 4.0  # seconds into the load
RETENTION_AT = 5.0  # retention falls due this long into the load
LEASE_SECONDS = 2.0


def _pgbouncer() -> str:
    found = shutil.which("pgbouncer") or (
        "/usr/sbin/pgbouncer" if os.access("/usr/sbin/pgbouncer", os.X_OK) else None
    )
    if found is None:
        why = "pgbouncer is not installed (Debian: apt-get install pgbouncer; .ci/run does)"
        if IN_CI:
            pytest.fail(f"{why}, and CI is set: the multi-process test must run in CI")
        pytest.skip(f"{why} (set CI=true to make this a failure)")
    return found


@pytest.fixture
def pooled_db(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A fresh PostgreSQL database and a PgBouncer of our own in transaction mode in front
    of it: (the URL through the pooler, the direct URL)."""
    need(PG_ADMIN_URL, "PostgreSQL")
    binary = _pgbouncer()
    admin = sa.make_url(PG_ADMIN_URL)
    name = f"fleet_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    port = free_port()
    ini = tmp_path / "pgbouncer.ini"
    users = tmp_path / "userlist.txt"
    users.write_text(f'"{admin.username}" ""\n')
    ini.write_text(
        f"[databases]\n{name} = host={admin.host} port={admin.port or 5432} dbname={name}"
        f" user={admin.username}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {users}\n"
        "pool_mode = transaction\nmax_client_conn = 400\ndefault_pool_size = 12\n"
        "ignore_startup_parameters = extra_float_digits\n"
    )
    cmd = [binary]
    if os.geteuid() == 0:  # PgBouncer refuses to run as root: it drops to another user
        cmd += ["-u", "postgres" if _user_exists("postgres") else "nobody"]
    log = (tmp_path / "pgbouncer.log").open("wb")
    bouncer = subprocess.Popen([*cmd, str(ini)], stdout=log, stderr=subprocess.STDOUT)
    pooled = f"postgresql+psycopg://{admin.username}@127.0.0.1:{port}/{name}"
    direct = admin.set(database=name).render_as_string(hide_password=False)
    try:
        probe = sa.create_engine(pooled)

        def answers() -> bool:
            assert bouncer.poll() is None, (tmp_path / "pgbouncer.log").read_text()
            try:
                with probe.connect() as c:
                    return c.execute(sa.text("SELECT 1")).scalar() == 1
            except sa.exc.OperationalError:
                return False

        until(answers, "PgBouncer answers", seconds=15)
        probe.dispose()
        yield pooled, direct
    finally:
        bouncer.terminate()
        bouncer.wait(10)
        log.close()
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _order(i: int, tag: str) -> dict[str, str]:
    return {
        "name": f"Person {tag}{i}",
        "email": f"person.{tag}{i}@example.com",
        "address": f"{i} Long Road",
        "card_number": f"4{i:015d}",
        "card_expiry": "12/29",
        "order_items": "1 widget",
    }


@dataclass
class Acked:
    """What the servers acknowledged (2xx), by operation."""

    collected: list[str] = field(default_factory=list)  # subject ids
    uses: Counter[str] = field(default_factory=Counter)  # subject id -> acknowledged reads
    requests: list[str] = field(default_factory=list)  # request ids
    failed: int = 0  # connection errors (the killed server), not acknowledged
    unexpected: list[str] = field(default_factory=list)  # a non-2xx answer from a server
    asked: Counter[str] = field(default_factory=Counter)  # requests opened per address


def _drive(
    bases: list[str],
    alive: list[bool],
    key: str,
    known: list[tuple[str, str]],
    acked: Acked,
    lock: threading.Lock,
    until: float,
    seed: int,
) -> None:
    """One client: collect, use and open requests round the servers until ``until``; an
    operation a dead server cannot take is retried once on the other."""
    rnd = random.Random(seed)
    auth = {"Authorization": f"Bearer {key}"}
    clients = [httpx.Client(base_url=b, headers=auth, timeout=10) for b in bases]
    i = 0
    try:
        while time.monotonic() < until:
            i += 1
            op = rnd.choice(("collect", "use", "use", "use", "request"))
            with lock:
                sid, email = rnd.choice(known)
                if op == "request" and acked.asked[email] >= LETTERS_PER_DAY:
                    op = "use"  # a key opens at most 3 requests a day for one address
                elif op == "request":
                    acked.asked[email] += 1
            # A retry on the other server carries the same key: done once either way.
            once = {"Idempotency-Key": f"fleet-{seed}-{i}"}
            first = rnd.randrange(len(bases))
            for k in (first, 1 - first):
                if not alive[k]:
                    continue
                c = clients[k]
                try:
                    if op == "collect":
                        data = _order(i, f"s{seed}x")
                        r = c.post("/api/v1/collect/order_form", json={"data": data}, headers=once)
                    elif op == "use":
                        r = c.get(f"/api/v1/subjects/{sid}", params={"purpose": "billing"})
                    else:
                        r = c.post(
                            "/api/v1/requests",
                            json={"kind": "access", "email": email},
                            headers=once,
                        )
                except httpx.TransportError:
                    with lock:
                        acked.failed += 1
                    continue  # the same operation on the other server
                with lock:
                    if r.status_code >= 300:
                        acked.unexpected.append(f"{op} {r.status_code} {r.text[:200]}")
                    elif op == "collect":
                        acked.collected.append(r.json()["subject_id"])
                        known.append((r.json()["subject_id"], data["email"]))
                    elif op == "use":
                        acked.uses[sid] += 1
                    else:
                        acked.requests.append(r.json()["id"])
                break
    finally:
        for c in clients:
            c.close()


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A troth process in a session of its own (so SIGKILL takes all of it)."""
    out = log.open("wb")
    return troth_process(
        None, *args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )


def _job(conn: Any, name: str) -> Any:
    return conn.execute(sa.select(worker_jobs).where(worker_jobs.c.name == name)).one()


@pytest.mark.parametrize(
    "heads_every", ["0", "1"], ids=["a-head-per-call", "heads-every-second-deferred"]
)
def test_two_servers_and_two_workers_behind_pgbouncer_survive_sigkill(
    home: Any,
    tmp_path: Path,
    pooled_db: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
    heads_every: str,
) -> None:
    """With a head per call (the default), and with heads every second, where a call
    returns once its audit entries are committed and each process sequences them after
    (troth.audit.deferred): a server killed then may leave entries pending, which the
    survivors' rounds take."""
    started = time.monotonic()
    pooled, direct = pooled_db
    # Every process of this home reaches PostgreSQL through the pooler only.
    monkeypatch.setenv("TROTH_DATABASE_POOLED", "true")
    # -- the home, built through the pooler; its oldest people are long past retention ---
    real_now = datetime.now(UTC)
    old = ManualClock(real_now - timedelta(days=8 * 366))
    ctx = home("itechno", pooled, clock=old, context=True)
    t = Troth(ctx)
    preloaded = [
        r.subject_id
        for r in t.collect_many("order_form", [_order(i, "old") for i in range(PRELOADED)])
    ]
    with ctx.engine.connect() as conn:
        expired = conn.execute(
            sa.select(sa.func.count())
            .select_from(records)
            .where(records.c.subject_id.in_(preloaded))
        ).scalar_one()
    assert expired == PRELOADED * 6
    key, _ = t.access.keys.create_api_key("fleet", ["collect", "use", "requests:admin"])
    # Every job due now, but retention only a few seconds into the load.
    with ctx.engine.begin() as conn:
        conn.execute(
            worker_jobs.insert(),
            [
                {
                    "name": task.name,
                    # Retention waits until the load runs (set below).
                    "next_run_at": real_now + timedelta(days=1 if task.name == "retention" else 0),
                    "runs": 0,
                }
                for task in TASKS
            ],
        )
    t.close()
    home_dir = ctx.home

    env = dict(
        os.environ,
        TROTH_HOME=str(home_dir),
        TROTH_WORKER_INTERVAL_SECONDS="0.2",
        TROTH_WORKER_LEASE_SECONDS=str(LEASE_SECONDS),
        TROTH_AUDIT_HEAD_EVERY_SECONDS=heads_every,
    )
    ports = [free_port(), free_port()]
    servers = [
        _spawn(
            ["serve", "--port", str(p), "--log-level", "warning"], env, tmp_path / f"serve{n}.log"
        )
        for n, p in enumerate(ports)
    ]
    workers = [_spawn(["worker"], env, tmp_path / f"worker{n}.log") for n in range(2)]
    procs = servers + workers
    bases = [f"http://127.0.0.1:{p}" for p in ports]
    watch = sa.create_engine(direct)
    try:

        def all_answer() -> bool:
            for p in procs:
                assert p.poll() is None, [f.read_text() for f in tmp_path.glob("*.log")]
            try:
                return all(
                    httpx.get(f"{b}/.well-known/gpc.json", timeout=1).status_code == 200
                    for b in bases
                )
            except httpx.TransportError:
                return False

        until(all_answer, "both servers answer", seconds=30)

        # -- mixed load; one server and the worker running retention are killed ---------
        acked, lock = Acked(), threading.Lock()
        alive = [True, True]
        # Reads go to people collected during the load (the old ones are being deleted).
        known: list[tuple[str, str]] = []
        with httpx.Client(headers={"Authorization": f"Bearer {key}"}) as c:
            for i in range(8):
                r = c.post(
                    f"{bases[i % 2]}/api/v1/collect/order_form", json={"data": _order(i, "seed")}
                )
                assert r.status_code == 201, r.text
                acked.collected.append(r.json()["subject_id"])
                known.append((r.json()["subject_id"], _order(i, "seed")["email"]))
        with watch.begin() as conn:
            conn.execute(
                worker_jobs.update()
                .where(worker_jobs.c.name == "retention")
                .values(next_run_at=datetime.now(UTC) + timedelta(seconds=RETENTION_AT))
            )
        load_start = time.monotonic()
        ends = load_start + LOAD_SECONDS
        clients = [
            threading.Thread(target=_drive, args=(bases, alive, key, known, acked, lock, ends, n))
            for n in range(4)
        ]
        for th in clients:
            th.start()

        # The server: SIGKILL, mid-load.
        time.sleep(KILL_SERVER_AT)
        os.killpg(servers[0].pid, signal.SIGKILL)
        servers[0].wait(10)
        alive[0] = False

        # The worker that claims retention: SIGKILL while it holds the job.
        worker_pids = {w.pid: w for w in workers}
        victim: subprocess.Popen[bytes] | None = None
        held_by = ""
        deadline = time.monotonic() + 20
        with watch.connect() as conn:
            while victim is None:
                assert time.monotonic() < deadline, "no worker claimed retention"
                row = _job(conn, "retention")
                conn.rollback()
                if row.locked_by:
                    pid = int(row.locked_by.split(":")[1])
                    victim = worker_pids[pid]
                    held_by = row.locked_by
                    os.killpg(victim.pid, signal.SIGKILL)
                else:
                    time.sleep(0.003)
        victim.wait(10)
        with watch.connect() as conn:
            row = _job(conn, "retention")
        # It died holding the job, unsettled: the kill came mid-job.
        assert row.locked_by == held_by and row.runs == 0, row
        survivor = next(w for w in workers if w is not victim)

        for th in clients:
            th.join(LOAD_SECONDS + 30)
        assert not acked.unexpected, acked.unexpected[:5]
        assert acked.failed >= 0 and len(acked.collected) > 8 and acked.requests

        # -- the survivors finish the work --------------------------------------------
        def finished() -> bool:
            assert survivor.poll() is None, (tmp_path / "worker0.log").read_text()
            with watch.begin() as conn:
                job = _job(conn, "retention")
                # Mail waits for deliver_mail's 30 s interval; ask for it now (an operator's
                # "run it now"), never while a worker holds it.
                conn.execute(
                    worker_jobs.update()
                    .where(worker_jobs.c.name == "deliver_mail", worker_jobs.c.locked_by.is_(None))
                    .values(next_run_at=datetime.now(UTC))
                )
                unsent = conn.execute(
                    sa.select(sa.func.count()).select_from(outbox).where(outbox.c.status != "sent")
                ).scalar_one()
            return job.runs == 1 and job.locked_by is None and unsent == 0

        until(finished, "the surviving worker finished retention and the mail", seconds=40)
        for p in (servers[1], survivor):
            p.send_signal(signal.SIGTERM)
        # A graceful stop: uvicorn ends by re-raising SIGTERM once it has shut down.
        assert servers[1].wait(30) in (0, -signal.SIGTERM)
        assert survivor.wait(30) == 0, [f.read_text() for f in tmp_path.glob("*.log")]
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(10)
        watch.dispose()

    # -- every promise still holds -------------------------------------------------------
    with troth.open(home_dir) as t2:
        report = verify_log(t2.ctx)
        assert report.ok and report.unsigned == 0, report.problem
        assert report.pending == 0  # nothing left outside the tree
        entries = _every_entry(t2.ctx)
        engine = t2.ctx.engine
        with engine.connect() as conn:
            have_people = set(conn.execute(sa.select(subjects.c.id)).scalars())
            have_records = Counter(conn.execute(sa.select(records.c.subject_id)).scalars())
            have_requests = set(conn.execute(sa.select(requests_table.c.id)).scalars())
            mail = conn.execute(sa.select(outbox.c.id, outbox.c.status)).all()
            jobs = {r.name: r for r in conn.execute(sa.select(worker_jobs)).all()}
            via_pending = conn.execute(
                sa.select(sa.func.count()).where(audit_entries.c.pending_id.is_not(None))
            ).scalar_one()
    if heads_every != "0":  # the deferred path was the one taken
        assert via_pending > len(acked.collected) // 2, via_pending
    by_action: dict[str, list[Any]] = {}
    for e in entries:
        by_action.setdefault(e.entry.action, []).append(e.entry)
    # Every acknowledged collection is stored and audited.
    collected = Counter(e.subject_id for e in by_action.get("collect", []) if e.outcome == "allow")
    for sid in acked.collected:
        assert sid in have_people and have_records[sid] == 6, sid
        assert collected[sid] == 1, sid
    # Every acknowledged read is audited (a read the dead server committed but never
    # answered may add one).
    uses = Counter(e.subject_id for e in by_action.get("use", []) if e.outcome == "allow")
    for sid, n in acked.uses.items():
        assert uses[sid] >= n, (sid, uses[sid], n)
    # Every acknowledged request is stored and audited.
    opened = {str(e.details.get("request_id")) for e in by_action.get("request.open", [])}
    assert set(acked.requests) <= have_requests
    assert set(acked.requests) <= opened, set(acked.requests) - opened
    # Retention: every expired value went, each exactly once (the killed worker's batches
    # and the survivor's add up to the count, never more).
    assert not any(have_records[sid] for sid in preloaded)
    deleted = sum(
        int(e.details["rows"]) for e in by_action.get("retention", []) if e.outcome == "allow"
    )
    assert deleted == expired, (deleted, expired)
    # Mail: each message sent once, one file each.
    assert mail and all(status == "sent" for _, status in mail)
    sent = Counter(int(e.details["outbox_id"]) for e in by_action.get("mail.sent", []))
    assert sent == Counter({int(mid): 1 for mid, _ in mail}), sent
    files = sorted(p.name for p in (home_dir / "mail").glob("*.eml"))
    assert files == sorted(f"{mid}.eml" for mid, _ in mail)
    # No job ran twice: each daily or hourly job settled once, the killed claim never.
    for name in ("retention", "audit_checkpoint", "purge_exports", "scrub_mail"):
        assert jobs[name].runs == 1 and jobs[name].locked_by is None, jobs[name]
    assert time.monotonic() - started < 90


def _every_entry(ctx: Any) -> list[Any]:
    out: list[Any] = []
    while True:
        page = list_entries(ctx, limit=1000, after_seq=out[-1].seq if out else None)
        if not page:
            return out
        out += page


def test_a_pooled_engine_prepares_nothing_on_the_server(pooled_db: tuple[str, str]) -> None:
    """Behind PgBouncer in transaction mode a statement psycopg prepared on one server
    connection is unknown on the next: `database_pooled` turns preparing off; a direct
    connection keeps it (it halves PostgreSQL's CPU per read)."""
    from troth.db import make_engine

    pooled, direct = pooled_db
    through = make_engine(pooled, pooled=True)
    straight = make_engine(direct)
    try:
        with through.connect() as conn:
            assert conn.connection.driver_connection.prepare_threshold is None
        with straight.connect() as conn:
            assert conn.connection.driver_connection.prepare_threshold == 5
        # Many clients, each repeating one statement in many short transactions, through
        # the pooler: every transaction lands on whichever server connection is free.
        errors: list[BaseException] = []

        def client(n: int) -> None:
            try:
                for i in range(30):
                    with through.begin() as conn:
                        got = conn.execute(sa.text("SELECT :a + :b"), {"a": n, "b": i}).scalar()
                        assert got == n + i
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=client, args=(n,)) for n in range(6)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(30)
        assert errors == []
    finally:
        through.dispose()
        straight.dispose()


def test_each_machines_heads_file_verifies_the_log_when_joined(home: Any, tmp_path: Path) -> None:
    """Several machines: each keeps its own heads file (a network file system does not make
    appends atomic between machines). Joined, they cover every entry; one machine's file
    alone leaves the entries the other signed last uncovered, and says so."""
    from troth.home import open_context

    ctx = home("itechno", clock=None, context=True)
    t = Troth(ctx)
    sid = t.collect("order_form", _order(1, "h")).subject_id
    key, _ = t.access.keys.create_api_key("app", ["use"])
    actor = t.access.keys.resolve_api_key(key)
    t.close()
    machines = [
        Troth(open_context(ctx.home, audit_heads_file=tmp_path / f"heads-{m}.jsonl"))
        for m in ("a", "b")
    ]
    for i in range(9):
        machines[i % 2].use(sid, purpose="billing", actor=actor)
    for m in machines:
        m.close()
    files = [ctx.home / "audit-heads.jsonl", tmp_path / "heads-a.jsonl", tmp_path / "heads-b.jsonl"]
    joined = tmp_path / "heads-all.jsonl"
    joined.write_text("".join(f.read_text() for f in files))
    reports = {
        f.name: verify_log(open_context(ctx.home, audit_heads_file=f)) for f in [*files[1:], joined]
    }
    assert all(r.ok for r in reports.values()), {k: r.problem for k, r in reports.items()}
    # The last use went through machine a: its file covers the whole log, b's does not.
    assert reports["heads-a.jsonl"].unsigned == 0
    assert reports["heads-b.jsonl"].unsigned == 1
    assert reports["heads-all.jsonl"].unsigned == 0
    assert reports["heads-all.jsonl"].heads_checked > reports["heads-a.jsonl"].heads_checked
