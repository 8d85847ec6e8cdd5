"""P11 (mindlink): cookies follow the visitor's choice per category; a Global Privacy
Control signal is an opt-out of sale/sharing purposes only; no signal changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from troth.clock import ManualClock
from troth.consent import ConsentKind, ConsentLedger, ConsentMethod, gpc_present
from troth.engine import Troth
from troth.errors import ValidationError


@pytest.fixture
def troth(home: Any, db_url: str) -> Troth:
    ctx = home("mindlink", db_url, clock=ManualClock(), context=True)
    return Troth(ctx)


def visitor(t: Troth, *consents: str) -> str:
    res = t.collect(
        "newsletter_signup",
        {"name": "Ann", "email": "ann@example.org"},
        consents=["newsletter", *consents],
        jurisdiction="uk_gdpr",
    )
    ledger = ConsentLedger(t.ctx)
    for p in consents:
        if p not in {"newsletter"}:
            ledger.grant(res.subject_id, p)
    return res.subject_id


def test_p11_gpc_opts_out_of_sale_or_sharing_only(troth: Troth) -> None:
    ctx = troth.ctx
    ledger = ConsentLedger(ctx)
    sid = visitor(troth)
    ledger.grant(sid, "personalisation")
    ledger.grant(sid, "analytics")
    ledger.record_cookie_choices(sid, {"analytics": True, "marketing": True})
    before = ledger.history(sid)

    # No header, or any value other than "1": nothing changes.
    for headers in ({}, {"Sec-GPC": "0"}, {"Sec-GPC": "yes"}, {"DNT": "1"}):
        assert ledger.record_gpc(sid, signal=headers.get("Sec-GPC")) == []
    assert ledger.history(sid) == before
    assert not gpc_present(None) and gpc_present("1") and gpc_present(" 1 ")

    ctx.clock.advance(seconds=1)  # type: ignore[attr-defined]
    recs = ledger.record_gpc(sid, signal="1", origin="192.0.2.10", url="https://mindlink/x")
    assert {r.purpose for r in recs} == {"personalisation", "cookie:marketing"}
    assert all(r.kind is ConsentKind.gpc_opt_out for r in recs)
    st = ledger.state(sid)
    assert not st["personalisation"].granted and not st["cookie:marketing"].granted
    assert st["analytics"].granted and st["newsletter"].granted and st["cookie:analytics"].granted
    with ctx.engine.connect() as conn:
        assert ConsentLedger.active_purposes(conn, sid) == {"newsletter", "analytics"}
    last = ledger.history(sid)[-1]
    assert last["method"] == ConsentMethod.gpc and last["origin"] == "192.0.2.0/24"
    # The signal on every later request records nothing more.
    assert ledger.record_gpc(sid, signal="1") == []


def test_p11_cookie_choices_per_category_stored_and_withdrawable(troth: Troth) -> None:
    ctx = troth.ctx
    ledger = ConsentLedger(ctx)
    sid = visitor(troth)
    ledger.record_cookie_choices(
        sid, {"strictly_necessary": True, "analytics": True, "marketing": False}
    )
    st = ledger.state(sid)
    assert st["cookie:analytics"].granted and not st["cookie:marketing"].granted
    assert "cookie:strictly_necessary" not in st  # always on, needs no consent
    ctx.clock.advance(minutes=5)  # type: ignore[attr-defined]
    ledger.record_cookie_choices(sid, {"analytics": False})
    assert not ledger.state(sid)["cookie:analytics"].granted
    kinds = [
        (h["purpose"], h["granted"]) for h in ledger.history(sid) if h["kind"] == "cookie_choice"
    ]
    assert kinds == [
        ("cookie:analytics", True),
        ("cookie:marketing", False),
        ("cookie:analytics", False),
    ]
    with pytest.raises(ValidationError):
        ledger.record_cookie_choices(sid, {"strictly_necessary": False})
    with pytest.raises(ValidationError):
        ledger.record_cookie_choices(sid, {"advertising": True})
    assert ledger.check_state() == []
