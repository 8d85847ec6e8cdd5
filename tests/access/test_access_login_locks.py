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


@pytest.fixture
def slow_hash(monkeypatch: pytest.MonkeyPatch) -> float:
    """argon2 made slow (a real hasher with a high time cost, not a stub), calibrated on
    this machine until one verify takes at least half a second; returns how long it takes."""
    cost = 16
    while True:
        slow = PasswordHasher(time_cost=cost, memory_cost=16 * 1024, parallelism=1)
        monkeypatch.setattr(passwords, "_HASHER", slow)
        monkeypatch.setattr(passwords, "_DUMMY_HASH", slow.hash("dummy"))
        began = time.monotonic()
        passwords.verify_password(None, "x")
        took = time.monotonic() - began
        if took >= 0.5 or cost >= 4096:
            return took
        cost *= 2


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

    def login() -> None:
        with pytest.raises(AuthenticationError):
            t.access.accounts.authenticate(email, "wrong password, typed slowly")

    th, errors = _in_thread(login)
    time.sleep(slow_hash / 4)  # the login is hashing now
    began = time.monotonic()
    stored = t.collect("call_record_import", CALL)
    took = time.monotonic() - began
    still_hashing = th.is_alive()
    th.join()
    assert not errors
    assert stored.subject_id
    # The collect finished while the login was still hashing: no lock was held.
    assert still_hashing, f"collect took {took:.2f}s; it waited for the login's hash"
    assert took < slow_hash / 2
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
