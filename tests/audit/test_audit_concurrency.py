"""Concurrent appenders: seqs stay gapless, the tree consistent, every head verifies."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from audit_helpers import build_context
from troth.audit import AuditEntry, append_entries, transaction, verify_log
from troth.audit.heads import read_heads
from troth.audit.tables import audit_entries

THREADS = 4
EACH = 50


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_four_threads_append_gapless_and_verify(
    tmp_path: Path, request: pytest.FixtureRequest, backend: str
) -> None:
    url = (
        str(request.getfixturevalue("pg_url"))
        if backend == "postgresql"
        else f"sqlite:///{tmp_path}/troth.db"
    )
    ctx = build_context(tmp_path, url, audit_head_every_seconds=0)
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def worker(n: int) -> None:
        try:
            start.wait()
            for i in range(EACH):
                with transaction(ctx) as conn:
                    append_entries(
                        conn,
                        ctx.clock.now(),
                        [AuditEntry(action="use", actor=f"app:w{n}", details={"i": i})],
                    )
        except BaseException as exc:  # surfaced in the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with ctx.engine.connect() as conn:
        seqs = conn.execute(sa.select(audit_entries.c.seq).order_by(audit_entries.c.seq)).scalars()
        assert list(seqs) == list(range(THREADS * EACH))
    # Signing after every commit (the setting is 0 here): each commit's entries are
    # covered by a head when its transaction returns, and one process writes heads in
    # size order (a head that lost the race to a larger one is not written after it).
    sizes = [h.size for _, h, _ in read_heads(ctx) if h is not None]
    assert sizes == sorted(set(sizes)) and sizes[-1] == THREADS * EACH
    report = verify_log(ctx)
    assert report.ok, report.problem
    assert report.size == 200 and report.heads_checked == len(sizes) and report.unsigned == 0
    ctx.engine.dispose()
