"""Breach notification to many people (issue 19): queued batch by batch with progress, one
audit entry per batch; a run killed after a batch resumes with nobody told twice."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from troth.audit.tables import audit_entries
from troth.breaches.tables import breach_subjects
from troth.notices.outbox import outbox

TEMPLATE = "{{ organisation }}: {{ breach.title }}. Write to {{ contact }}."


def _breach(home: Any, clock: Any, people: int) -> tuple[Any, Any, list[str]]:
    t = home("ilign")
    rows = [{"email": f"p{i}@example.com", "message": "my login fails"} for i in range(people)]
    sids = [r.subject_id for r in t.collect_many("support_ticket", rows)]
    clock.advance(days=3)
    now = clock.now()
    breach = t.breaches.record_breach(
        title="Help desk export leaked",
        description="A support export was readable without login.",
        discovered_at=now,
        occurred_from=now - timedelta(days=2),
        occurred_until=now - timedelta(days=1),
        categories=["contact"],
        high_risk=True,
    )
    return t, breach, sids


def test_notices_go_batch_by_batch_with_progress(home: Any, clock: Any) -> None:
    t, breach, _ = _breach(home, clock, 24)
    seen: list[tuple[int, int]] = []
    n = t.breaches.notify_individuals(
        breach.id, TEMPLATE, batch_size=10, progress=lambda d, tot: seen.append((d, tot))
    )
    assert n == 24 and seen == [(10, 24), (20, 24), (24, 24)]
    with t.ctx.engine.connect() as conn:
        mail = Counter(conn.execute(sa.select(outbox.c.to_addr)).scalars())
        entries = conn.execute(
            sa.select(audit_entries.c.details).where(
                audit_entries.c.action == "breach.individuals_notified"
            )
        ).scalars()
        left = conn.execute(
            sa.select(sa.func.count()).where(breach_subjects.c.notified_at.is_(None))
        ).scalar()
    assert mail == {f"p{i}@example.com": 1 for i in range(24)} and left == 0
    assert len(list(entries)) == 3
    assert t.breaches.get(breach.id).status == "individuals_notified"
    assert t.breaches.notify_individuals(breach.id, TEMPLATE, batch_size=10) == 0
    for bad in (0, 10_001):
        try:
            t.breaches.notify_individuals(breach.id, TEMPLATE, batch_size=bad)
        except Exception as exc:
            assert "batch_size" in str(exc)
        else:
            raise AssertionError("a bad batch size was accepted")


def test_killed_after_a_batch_resumes(home: Any, clock: Any, tmp_path: Path) -> None:
    t, breach, _ = _breach(home, clock, 12)
    t.ctx.engine.dispose()
    (tmp_path / "notice.txt").write_text(TEMPLATE)
    exe = Path(sys.executable).with_name("troth")
    args = [str(exe), "--home", str(t.ctx.settings.home), "breaches", "notify", breach.id]
    args += ["--template", str(tmp_path / "notice.txt"), "--batch-size", "5"]
    env = {**os.environ, "TROTH_TEST_FAULT": "breach.notified"}
    killed = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert killed.returncode == -9, killed.stderr
    with t.ctx.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(outbox)).scalar() == 5
    env.pop("TROTH_TEST_FAULT")
    rerun = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert "7/7 people" in rerun.stdout and "queued 7 notice(s)" in rerun.stdout
    with t.ctx.engine.connect() as conn:
        mail = Counter(conn.execute(sa.select(outbox.c.to_addr)).scalars())
    assert mail == {f"p{i}@example.com": 1 for i in range(12)}
