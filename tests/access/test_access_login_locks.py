"""Logins never hold a write lock while argon2 hashes (issue 20 item 3), and the failure
count and lockout stay right when failed logins race; on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from troth.access import passwords
from troth.access.tables import users
from troth.clock import ManualClock
from troth.engine import Troth
from troth.errors import AuthenticationError, RateLimited

PW = "correct horse battery staple"
CALL = {"extension": "12", "duration_seconds": 30, "destination_number": "+441234567890"}


@pytest.fixture
def t(home: Any, db_url: str) -> Iterator[Troth]:
    ctx = home("phone-service", db_url, clock=ManualClock(), context=True)
    tr = Troth(ctx)
    yield tr
    tr.close()


_COST: list[int] = []


def _timed_verify(cost: int, monkeypatch: pytest.MonkeyPatch) -> float:
    slow = PasswordHasher(time_cost=cost, memory_cost=16 * 1024, parallelism=1)
    monkeypatch.setattr(passwords, "_HASHER", slow)
    monkeypatch.setattr(passwords, "_DUMMY_HASH", slow.hash("dummy"))
    began = time.monotonic()
    passwords.verify_password(None, "x")
    return time.monotonic() - began


@pytest.fixture
def slow_hash(monkeypatch: pytest.MonkeyPatch) -> float:
    """argon2 made slow (a real hasher with a high time cost, not a stub), calibrated on
    this machine so that one verify takes at least 1.2 seconds; returns how long it takes.
    (Long enough that a collect on a loaded two-core CI machine, where the other test
    worker also runs, still ends well inside the hash.) argon2's time is linear in its
    time cost, so one measured run at a small cost gives the cost to use; it is kept for
    the module's other tests."""
    if not _COST:
        took = _timed_verify(16, monkeypatch)
        _COST.append(max(16, int(16 * 1.2 / max(took, 1e-3) * 1.25)))
    took = _timed_verify(_COST[0], monkeypatch)
    while took < 1.2 and _COST[0] < 65536:
        _COST[0] *= 2
        took = _timed_verify(_COST[0], monkeypatch)
    return took


def _in_thread(fn: object) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            fn()  # type: ignore[operator]
        except BaseException as exc:
            errors.append(exc)

    th = threading.Thread(target=run)
    th.start()
    return th, errors


@pytest.mark.parametrize("known", [False, True], ids=["unknown_email", "wrong_password"])
def test_collect_is_not_blocked_while_a_login_hashes(
    t: Troth, slow_hash: float, known: bool
) -> None:
    assert slow_hash > 0.3, "the slow hasher must be slower than a collect"
    t.access.accounts.add_user("ops@vendor.example", kind="staff", role="support", password=PW)
    email = "ops@vendor.example" if known else "nobody@vendor.example"

    login_done: list[float] = []

    def login() -> None:
        with pytest.raises(AuthenticationError):
            t.access.accounts.authenticate(email, "wrong password, typed slowly")
        login_done.append(time.monotonic())

    th, errors = _in_thread(login)
    time.sleep(slow_hash / 4)  # the login is hashing now
    began = time.monotonic()
    stored = t.collect("call_record_import", CALL)
    collect_done = time.monotonic()
    took = collect_done - began
    still_hashing = th.is_alive()
    th.join()
    assert not errors
    assert stored.subject_id
    # The collect finished while the login was still hashing: no lock was held. Had the
    # login held a write lock across its hash, the collect could only start once the
    # login committed, and so would end after the login returned. (Ordering, not a time
    # budget: a loaded machine slows both sides alike.)
    assert still_hashing, f"collect took {took:.2f}s; it waited for the login's hash"
    assert collect_done < login_done[0], f"collect took {took:.2f}s; the hash {slow_hash:.2f}s"
    # ... and the login's failure was still written.
    with t.ctx.engine.connect() as conn:
        failed = conn.execute(select(users.c.failed_logins)).scalar_one()
    assert failed == (1 if known else 0)


def test_racing_failures_are_all_counted_and_lock_the_account(t: Troth) -> None:
    limit = t.ctx.settings.login_max_failures
    t.access.accounts.add_user("ops@vendor.example", kind="staff", role="support", password=PW)
    barrier = threading.Barrier(limit)
    outcomes: list[type[BaseException]] = []

    def fail() -> None:
        barrier.wait()
        try:
            t.access.accounts.authenticate("ops@vendor.example", "not the password at all")
        except (AuthenticationError, RateLimited) as exc:
            outcomes.append(type(exc))

    threads = [_in_thread(fail)[0] for _ in range(limit)]
    for th in threads:
        th.join()
    assert len(outcomes) == limit
    with t.ctx.engine.connect() as conn:
        row = conn.execute(select(users.c.failed_logins, users.c.locked_until)).one()
    # No failure was lost to a race (read-modify-write under the row's lock).
    assert row.failed_logins == limit
    assert row.locked_until is not None
    # Locked: even the right password is refused now.
    with pytest.raises(RateLimited, match="locked until"):
        t.access.accounts.authenticate("ops@vendor.example", PW)
