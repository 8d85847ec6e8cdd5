"""The append fast path (a process's cached frontier, confirmed by a conditional UPDATE)
stays correct when another process appends in between and when a transaction rolls back."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from troth.audit.entry import AuditEntry
from troth.audit.log import append_entries, transaction
from troth.audit.tables import audit_entries
from troth.audit.verify import verify_log
from troth.db import make_engine


def _entry(n: int) -> AuditEntry:
    return AuditEntry(action="test", actor="system", details={"n": n})


def test_two_processes_interleaving_stay_gapless(home, db_url):
    t = home("itechno", db_url)
    ctx = t.ctx
    # A second engine on the same database stands for a second process.
    other = make_engine(ctx.settings.resolved_database_url)
    ctx2 = type(ctx)(
        settings=ctx.settings, engine=other, policy=ctx.policy, keys=ctx.keys, clock=ctx.clock
    )
    seqs: list[int] = []
    for i in range(12):
        c = ctx if i % 3 else ctx2
        with transaction(c) as conn:
            seqs += append_entries(conn, ctx.clock.now(), [_entry(i), _entry(i + 100)])
    with ctx.engine.connect() as conn:
        stored = list(
            conn.execute(sa.select(audit_entries.c.seq).order_by(audit_entries.c.seq)).scalars()
        )
    assert seqs == sorted(seqs) and stored == list(range(len(stored)))
    assert set(seqs) <= set(stored)
    assert verify_log(ctx).ok
    other.dispose()


def test_a_rolled_back_append_leaves_no_gap(home, db_url):
    t = home("itechno", db_url)
    ctx = t.ctx
    with transaction(ctx) as conn:
        append_entries(conn, ctx.clock.now(), [_entry(1)])
    with pytest.raises(RuntimeError), transaction(ctx) as conn:
        append_entries(conn, ctx.clock.now(), [_entry(2), _entry(3)])
        raise RuntimeError("the change failed: its entries go with it")
    with transaction(ctx) as conn:
        [seq] = append_entries(conn, ctx.clock.now(), [_entry(4)])
    with ctx.engine.connect() as conn:
        stored = list(
            conn.execute(sa.select(audit_entries.c.seq).order_by(audit_entries.c.seq)).scalars()
        )
    assert stored == list(range(len(stored))) and seq == stored[-1]
    report = verify_log(ctx)
    assert report.ok, report.problem
