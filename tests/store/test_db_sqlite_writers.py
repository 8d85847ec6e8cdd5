"""SQLite writers queue for the write lock with troth's own short waits: a writer that
finds the lock taken proceeds as soon as it is released (not after SQLite's
millisecond-scale sleeps), the busy timeout is back in force for the transaction's
statements, and readers never wait."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import sqlalchemy as sa

from troth.db import make_engine, reading


def test_a_waiting_writer_proceeds_right_after_the_lock_is_released(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/w.db")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (n INTEGER)"))
    held = threading.Event()
    released_at: list[float] = []

    def hold() -> None:
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO t VALUES (1)"))
            held.set()
            time.sleep(0.24)  # SQLite alone would next try at ~0.33 s
            released_at.append(time.monotonic())

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(10)
    # A reader is not held up by the writer (WAL snapshot).
    t0 = time.monotonic()
    with reading(engine) as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM t")).scalar() == 0
    assert time.monotonic() - t0 < 0.2
    with engine.begin() as conn:  # waits for the holder
        got_lock_at = time.monotonic()
        conn.execute(sa.text("INSERT INTO t VALUES (2)"))
        timeout = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
    holder.join()
    assert released_at and got_lock_at >= released_at[0] - 0.01
    # Proceeds within a few milliseconds of the release, not after the holder's 0.24 s
    # plus SQLite's own back-off.
    assert got_lock_at - released_at[0] < 0.05
    assert timeout == 30_000
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT n FROM t ORDER BY n")).scalars().all() == [1, 2]
    engine.dispose()


def test_many_threads_write_without_losing_any(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/w.db")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (n INTEGER)"))
    errors: list[BaseException] = []

    def write(k: int) -> None:
        try:
            for i in range(50):
                with engine.begin() as conn:
                    conn.execute(sa.text("INSERT INTO t VALUES (:n)"), {"n": k * 100 + i})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(DISTINCT n) FROM t")).scalar() == 400
    engine.dispose()


def test_a_sqlite_reader_never_waits_for_a_pooled_connection(tmp_path: Path) -> None:
    """The HTTP read checks a connection out on the event loop: however many are in use
    (by the thread pool's requests), another is opened rather than waited for."""
    engine = make_engine(f"sqlite:///{tmp_path}/troth.db")
    held = [reading(engine) for _ in range(48)]  # far past the pool's 16
    try:
        for conn in held:
            conn.exec_driver_sql("SELECT 1")
        with reading(engine) as conn:
            assert conn.exec_driver_sql("SELECT 1").scalar() == 1
    finally:
        for conn in held:
            conn.close()
        engine.dispose()
