"""consent_rebuild: rebuild the whole consent state from 1M ledger events (quick: 100k)
against a raw GROUP BY over the same table materialised into a table of the same shape, on
SQLite."""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Table, func, insert, select

from benchmarks import report
from troth.clock import ManualClock
from troth.consent import ConsentLedger
from troth.consent.tables import consent_events, consent_state
from troth.db import metadata
from troth.home import init_home
from troth.store.tables import subjects

PURPOSES = ("newsletter", "service_updates", "personalisation", "analytics")


def run(quick: bool) -> list[str]:
    n = 100_000 if quick else 1_000_000
    people = n // 8  # ~2 events per (person, purpose)
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as tmp:
        ctx = init_home(Path(tmp) / "home", example="mindlink", clock=ManualClock())
        with ctx.engine.begin() as conn:
            conn.execute(
                insert(subjects),
                [
                    {
                        "id": f"{i:032x}",
                        "jurisdiction": "uk_gdpr",
                        "status": "active",
                        "created_at": t0,
                    }
                    for i in range(people)
                ],
            )
            conn.execute(
                insert(consent_events),
                [
                    {
                        "subject_id": f"{(i * 7919) % people:032x}",
                        "purpose": PURPOSES[i % 4],
                        "kind": "grant" if i % 3 else "withdraw",
                        "granted": i % 3 != 0,
                        "policy_version": "1",
                        "method": "web_form",
                        "jurisdiction": "uk_gdpr",
                        "at": t0 + timedelta(seconds=i // 2),
                    }
                    for i in range(n)
                ],
            )
        ledger = ConsentLedger(ctx)
        start = time.perf_counter()
        rows = ledger.rebuild_state()
        troth_s = time.perf_counter() - start

        # Baseline: the plain "last event per (subject, purpose)" GROUP BY, written to a
        # scratch table shaped like consent_state (rebuild writes its result too).
        scratch = Table("scratch_state", metadata, *(c._copy() for c in consent_state.c))
        scratch.create(ctx.engine)
        e = consent_events.c
        try:
            start = time.perf_counter()
            with ctx.engine.begin() as conn:
                conn.execute(
                    scratch.insert().from_select(
                        [
                            "subject_id",
                            "purpose",
                            "granted",
                            "policy_version",
                            "at",
                            "event_id",
                            "kind",
                        ],
                        select(
                            e.subject_id,
                            e.purpose,
                            func.max(e.granted),
                            func.max(e.policy_version),
                            func.max(e.at),
                            func.max(e.id),
                            func.max(e.kind),
                        ).group_by(e.subject_id, e.purpose),
                    )
                )
            base_s = time.perf_counter() - start
        finally:
            metadata.remove(scratch)
        assert rows > 0 and ledger.check_state(limit=1) == []
        ctx.engine.dispose()
    return [report("consent_rebuild", troth_s, base_s, "s", "<= 2x")]


if __name__ == "__main__":
    for line in run(quick=True):
        print(line)
