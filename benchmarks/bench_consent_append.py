"""consent_append: batched ledger append (ConsentLedger.bulk_import, with validation, the
set-based state update and its audit entry) against the driver's raw executemany INSERT of
the same events into the same table (parameters prepared beforehand), on SQLite."""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from benchmarks import report
from troth.clock import ManualClock
from troth.consent import ConsentLedger, ImportedEvent
from troth.db import make_engine, metadata
from troth.home import init_home
from troth.store.tables import subjects

PURPOSES = ("newsletter", "service_updates", "personalisation", "analytics")


def _subjects(n: int, at: datetime) -> list[dict[str, object]]:
    return [
        {"id": f"{i:032x}", "jurisdiction": "uk_gdpr", "status": "active", "created_at": at}
        for i in range(n)
    ]


def run(quick: bool) -> list[str]:
    n = 20_000 if quick else 200_000
    people = n // 4
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    events = [
        ImportedEvent(f"{i % people:032x}", PURPOSES[i % 4], i % 3 != 0, t0 + timedelta(seconds=i))
        for i in range(n)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        ctx = init_home(Path(tmp) / "home", example="mindlink", clock=ManualClock())
        with ctx.engine.begin() as conn:
            conn.execute(insert(subjects), _subjects(people, t0))
        start = time.perf_counter()
        ConsentLedger(ctx).bulk_import(events)
        troth_rate = n / (time.perf_counter() - start)
        ctx.engine.dispose()

        import troth.schema  # noqa: F401

        raw = make_engine(f"sqlite:///{tmp}/raw.db")
        metadata.create_all(raw)
        with raw.begin() as conn:
            conn.execute(insert(subjects), _subjects(people, t0))
        # The baseline: the same events turned into parameter tuples by hand and handed to
        # the driver's executemany (no validation, no state, no audit).
        cols = (
            "subject_id",
            "purpose",
            "kind",
            "granted",
            "policy_version",
            "method",
            "at",
            "jurisdiction",
        )
        sql = (
            f"INSERT INTO consent_events ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        )
        with raw.begin() as conn:
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            start = time.perf_counter()
            cursor.executemany(
                sql,
                [
                    (
                        e.subject_id,
                        e.purpose,
                        "import",
                        int(e.granted),
                        "1",
                        "import",
                        e.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
                        "uk_gdpr",
                    )
                    for e in events
                ],
            )
        raw_rate = n / (time.perf_counter() - start)
        raw.dispose()
    return [report("consent_append", troth_rate, raw_rate, "events/s", ">= 20,000/s, <= 2x")]


if __name__ == "__main__":
    for line in run(quick=True):
        print(line)
