"""Property: whatever the order of grants, withdrawals and imports (equal times included),
the materialised state equals a replay of the ledger, and a rebuild reproduces it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select

from troth.clock import ManualClock
from troth.consent import ConsentLedger, ImportedEvent
from troth.consent.state import replay
from troth.consent.tables import consent_events, consent_receipts, consent_state
from troth.context import Context
from troth.home import init_home
from troth.store.tables import subjects

SUBJECTS = ["a" * 32, "b" * 32]
PURPOSES = ["marketing", "partner_offers"]
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

op = st.tuples(
    st.sampled_from(["grant", "withdraw", "import_yes", "import_no", "gpc"]),
    st.sampled_from(SUBJECTS),
    st.sampled_from(PURPOSES),
    st.integers(min_value=-3, max_value=3),  # clock offset in seconds: ties and going back
)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def ctx(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Context]:
    home = tmp_path_factory.mktemp("prop") / "home"
    if request.param == "sqlite":
        url = f"sqlite:///{home.parent}/troth.db"
        yield from _ctx(home, url)
    else:
        from dbs import pg_schema

        with pg_schema() as url:
            yield from _ctx(home, url)


def _ctx(home: Path, url: str) -> Iterator[Context]:
    ctx = init_home(home, example="ixanet", database_url=url, clock=ManualClock(T0))
    with ctx.engine.begin() as conn:
        for sid in SUBJECTS:
            conn.execute(
                insert(subjects).values(
                    id=sid, jurisdiction="pipeda", status="active", created_at=T0
                )
            )
    yield ctx
    ctx.engine.dispose()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=st.lists(op, max_size=25))
def test_state_equals_replay(ctx: Context, ops: list[tuple[str, str, str, int]]) -> None:
    with ctx.engine.begin() as conn:
        for t in (consent_state, consent_receipts, consent_events):
            conn.execute(delete(t))
    ledger = ConsentLedger(ctx)
    clock = ctx.clock
    assert isinstance(clock, ManualClock)
    for kind, sid, purpose, offset in ops:
        clock.set(T0 + timedelta(seconds=offset))
        if kind == "grant":  # the person's own choice: after an opt-out, their two steps
            ledger.grant(sid, purpose, two_step=True)
        elif kind == "withdraw":
            ledger.withdraw(sid, purpose)
        elif kind == "gpc":
            ledger.record_gpc(sid, signal="1")
        else:
            ledger.bulk_import([ImportedEvent(sid, purpose, kind == "import_yes", clock.now())])
    with ctx.engine.connect() as conn:
        events = [dict(m) for m in conn.execute(select(consent_events)).mappings()]
        stored = {
            (m["subject_id"], m["purpose"]): (m["event_id"], m["granted"])
            for m in conn.execute(select(consent_state)).mappings()
        }
    granted_by_id = {e["id"]: e["granted"] for e in events}
    expected = {k: (v, granted_by_id[v]) for k, v in replay(events).items()}
    assert stored == expected
    assert ledger.check_state() == []
    ledger.rebuild_state()
    with ctx.engine.connect() as conn:
        rebuilt = {
            (m["subject_id"], m["purpose"]): (m["event_id"], m["granted"])
            for m in conn.execute(select(consent_state)).mappings()
        }
    assert rebuilt == expected
