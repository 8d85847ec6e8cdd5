"""The consent ledger on SQLite and PostgreSQL: grants, withdrawals, GPC, cookie choices,
imports, the derived state and its rebuild/check, bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select, update

from troth.audit.entries import list_entries
from troth.clock import ManualClock
from troth.consent import (
    ConsentKind,
    ConsentLedger,
    ImportedEvent,
    notice_hash,
    truncate_origin,
    verify_receipt,
)
from troth.consent.tables import consent_events, consent_state
from troth.context import Context
from troth.errors import NotFound, ValidationError
from troth.store.ids import new_id
from troth.store.tables import subjects


@pytest.fixture
def ctx(home: Any, db_url: str) -> Context:
    return home("ixanet", db_url, clock=ManualClock(), context=True)


def add_subject(ctx: Context, jurisdiction: str = "pipeda") -> str:
    sid = new_id()
    with ctx.engine.begin() as conn:
        conn.execute(
            insert(subjects).values(
                id=sid, jurisdiction=jurisdiction, status="active", created_at=ctx.clock.now()
            )
        )
    return sid


def count_events(ctx: Context) -> int:
    with ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(consent_events)).scalar_one())


def test_grant_then_withdraw_takes_effect_for_the_next_read(ctx: Context) -> None:
    ledger = ConsentLedger(ctx)
    sid = add_subject(ctx)
    rec = ledger.grant(sid, "marketing", origin="203.0.113.77", user_agent="UA", url="https://x/f")
    assert rec.kind is ConsentKind.grant and rec.receipt_id
    with ctx.engine.connect() as conn:
        assert ConsentLedger.active_purposes(conn, sid) == {"marketing"}
        assert ConsentLedger.granted_subjects(conn, "marketing") == {sid}
    ctx.clock.advance(minutes=1)  # type: ignore[attr-defined]
    ledger.withdraw(sid, "marketing")
    with ctx.engine.connect() as conn:
        assert ConsentLedger.active_purposes(conn, sid) == frozenset()
        assert ConsentLedger.opted_out_purposes(conn, sid) == {"marketing"}
        assert ConsentLedger.granted_subjects(conn, "marketing") == frozenset()
    st = ledger.state(sid)["marketing"]
    assert not st.granted and st.kind is ConsentKind.withdraw
    hist = ledger.history(sid)
    assert [h["kind"] for h in hist] == ["grant", "withdraw"]
    # The exact notice text is hashed; the origin is truncated, never stored whole.
    notice = ctx.policy.purposes["marketing"].notice
    assert hist[0]["notice_hash"] == notice_hash(notice or "")
    assert hist[0]["origin"] == "203.0.113.0/24"
    assert hist[0]["policy_version"] == ctx.policy.version
    assert hist[0]["jurisdiction"] == "pipeda"
    actions = [e.entry.action for e in list_entries(ctx, limit=1000)]
    assert "consent.grant" in actions and "consent.withdraw" in actions


def test_grant_keeps_the_exact_notice_shown(ctx: Context) -> None:
    sid = add_subject(ctx)
    ConsentLedger(ctx).grant(sid, "marketing", notice_text="Shown text v2")
    assert ConsentLedger(ctx).state(sid)["marketing"].notice_hash == notice_hash("Shown text v2")


def test_origin_truncation() -> None:
    assert truncate_origin("198.51.100.200") == "198.51.100.0/24"
    assert truncate_origin("2001:db8:abcd:1234::1") == "2001:db8:abcd::/48"
    assert truncate_origin("::ffff:10.1.2.3") == "10.1.2.0/24"
    assert truncate_origin(None) is None
    with pytest.raises(ValidationError):
        truncate_origin("not-an-ip")


def test_bad_input_records_nothing(ctx: Context) -> None:
    ledger = ConsentLedger(ctx)
    sid = add_subject(ctx)
    with pytest.raises(ValidationError) as e1:
        ledger.grant(sid, "no_such_purpose")
    assert e1.value.code == "unknown_purpose" and "marketing" in e1.value.message
    with pytest.raises(ValidationError) as e2:
        ledger.grant(sid, "legal_requirement")
    assert e2.value.code == "not_consent_based"
    with pytest.raises(NotFound):
        ledger.grant("0" * 32, "marketing")
    with pytest.raises(NotFound):
        ledger.withdraw("0" * 32, "marketing")
    with pytest.raises(ValidationError):
        ledger.grant(sid, "marketing", method="carrier_pigeon")
    with pytest.raises(ValidationError):
        ledger.grant(sid, "marketing", origin="999.1.1.1")
    with pytest.raises(NotFound):
        ledger.state("0" * 32)
    assert count_events(ctx) == 0


def test_gpc_opts_out_of_sale_or_sharing_only(ctx: Context) -> None:
    ledger = ConsentLedger(ctx)
    sid = add_subject(ctx)
    ledger.grant(sid, "partner_offers")
    ledger.grant(sid, "marketing")
    assert ledger.record_gpc(sid, signal=None) == []
    assert ledger.record_gpc(sid, signal="0") == []
    assert count_events(ctx) == 2
    recs = ledger.record_gpc(sid, signal="1", origin="2001:db8::1")
    assert [(r.purpose, r.kind) for r in recs] == [("partner_offers", ConsentKind.gpc_opt_out)]
    with ctx.engine.connect() as conn:
        assert ConsentLedger.active_purposes(conn, sid) == {"marketing"}
    # A repeated signal on every request adds nothing.
    assert ledger.record_gpc(sid, signal=True) == []
    assert count_events(ctx) == 3
    with pytest.raises(NotFound):
        ledger.record_gpc("f" * 32)
    # No signal changes nothing, but an unknown person is still unknown (not a silent []).
    for no_signal in (None, False, "0", "true", "01", ""):
        with pytest.raises(NotFound):
            ledger.record_gpc("f" * 32, signal=no_signal)
    assert count_events(ctx) == 3


def test_cookie_choices(ctx: Context) -> None:
    ledger = ConsentLedger(ctx)
    sid = add_subject(ctx)
    recs = ledger.record_cookie_choices(sid, {"strictly_necessary": True, "analytics": True})
    assert [r.purpose for r in recs] == ["cookie:analytics"]
    assert ledger.state(sid)["cookie:analytics"].granted
    ctx.clock.advance(seconds=5)  # type: ignore[attr-defined]
    ledger.record_cookie_choices(sid, {"analytics": False})
    assert not ledger.state(sid)["cookie:analytics"].granted
    with ctx.engine.connect() as conn:  # cookie choices are not purposes for the gate
        assert ConsentLedger.active_purposes(conn, sid) == frozenset()
    with pytest.raises(ValidationError) as e1:
        ledger.record_cookie_choices(sid, {"strictly_necessary": False})
    assert e1.value.code == "strictly_necessary"
    with pytest.raises(ValidationError) as e2:
        ledger.record_cookie_choices(sid, {"analytics": True, "marketing": True})
    assert e2.value.code == "unknown_cookie_category"  # ixanet declares no marketing cookies
    assert count_events(ctx) == 2


def test_receipt_of_a_grant(ctx: Context) -> None:
    ledger = ConsentLedger(ctx)
    sid = add_subject(ctx)
    rec = ledger.grant(sid, "partner_offers", method="api")
    assert rec.receipt_jws and rec.receipt_id
    assert ledger.receipt(rec.receipt_id) == rec.receipt_jws
    body = verify_receipt(rec.receipt_jws, ctx.keys.public_key_b64())
    assert body["consentReceiptID"] == rec.receipt_id
    assert body["piiPrincipalId"] == sid
    assert body["collectionMethod"] == "api"
    purpose = body["services"][0]["purposes"][0]
    assert purpose["thirdPartyDisclosure"] is True
    assert "Affiliate" in purpose["thirdPartyName"]
    with pytest.raises(NotFound):
        ledger.receipt("nope")


def test_bulk_import_out_of_order_and_rebuild(ctx: Context) -> None:
    ledger = ConsentLedger(ctx)
    a, b = add_subject(ctx), add_subject(ctx)
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    ledger.grant(a, "marketing")  # now (2026) beats every imported 2024 event
    n = ledger.bulk_import(
        [
            ImportedEvent(a, "marketing", False, t0),
            ImportedEvent(b, "marketing", True, t0 + timedelta(days=2)),
            ImportedEvent(b, "marketing", False, t0 + timedelta(days=1)),
            ImportedEvent(b, "partner_offers", True, t0, origin="10.0.0.9"),
        ]
    )
    assert n == 4
    st_a, st_b = ledger.state(a), ledger.state(b)
    assert st_a["marketing"].granted and st_a["marketing"].kind is ConsentKind.grant
    assert st_b["marketing"].granted and st_b["partner_offers"].granted
    assert ledger.check_state() == []
    # A damaged state is found by check and repaired by rebuild.
    with ctx.engine.begin() as conn:
        conn.execute(
            update(consent_state).where(consent_state.c.subject_id == b).values(granted=False)
        )
    bad = ledger.check_state()
    assert {(m.subject_id, m.purpose) for m in bad} == {(b, "marketing"), (b, "partner_offers")}
    assert bad[0].expected is not None and bad[0].expected.granted
    assert ledger.rebuild_state() == 3
    assert ledger.check_state() == []


def test_bulk_import_bad_event_stores_nothing(ctx: Context) -> None:
    ledger = ConsentLedger(ctx)
    a = add_subject(ctx)
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    with pytest.raises(NotFound):
        ledger.bulk_import(
            [
                ImportedEvent(a, "marketing", True, t0),
                ImportedEvent("x" * 32, "marketing", True, t0),
            ]
        )
    with pytest.raises(ValidationError):
        ledger.bulk_import(
            [ImportedEvent(a, "marketing", True, t0), ImportedEvent(a, "nope", True, t0)]
        )
    with pytest.raises(ValidationError):
        ledger.bulk_import([ImportedEvent(a, "marketing", True, datetime(2024, 1, 1))])
    assert count_events(ctx) == 0
    with ctx.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(consent_state)).scalar_one() == 0
