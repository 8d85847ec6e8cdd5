"""Helpers of the pending-entry tests (PostgreSQL): the tree's state row held from
another connection, counts, waiting for a condition."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from troth.audit import AuditEntry
from troth.audit.log import read_state


def tree_size(ctx: Any) -> int:
    with ctx.engine.connect() as conn:
        return read_state(conn)[0]


def entry_of(actor: str, n: int) -> AuditEntry:
    return AuditEntry(action="use", actor=actor, subject_id=f"s{n}", details={"n": n})


def hold_state(ctx: Any) -> Callable[[], None]:
    """Take the tree's state row from another connection; returns its release."""
    conn = ctx.engine.connect()
    conn.begin()
    conn.execute(sa.text("SELECT size FROM audit_state WHERE id = 1 FOR UPDATE"))

    def release() -> None:
        conn.rollback()
        conn.close()

    return release


def count_rows(ctx: Any, table: sa.Table) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def wait_until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 20
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.01)
