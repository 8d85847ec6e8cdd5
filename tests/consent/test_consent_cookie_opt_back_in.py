"""Cookie choices after an opt-out of sale or sharing (trial #19 F3; CCPA 11 CCR 7026(k),
7028; REGULATIONS.md "don't ask to opt back in for 12 months"). A cookie category whose
cookies serve a ``sale_or_sharing`` purpose (mindlink's ``marketing`` cookies serve
``personalisation``) is turned back on, within 12 months of the person's opt-out (a GPC
signal, a withdrawal of the purpose, their refusal of the category), only as their own
two-step opt-in, as a grant of the purpose is: else refused ``opted_out_recently``,
audited, nothing recorded. The banner of a signed-in person asks them to confirm on a page
of its own, saving their other choices at once. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from _http import client_for, csrf_from, privacy_sign_in
from requests_helpers import verified
from troth.audit.tables import audit_entries
from troth.clock import ManualClock
from troth.consent.tables import consent_events
from troth.engine import Troth
from troth.errors import NotFound, Refused

SALE = "personalisation"
ANN = {"name": "Ann", "email": "ann@example.org"}


def _los_angeles(policy: dict[str, Any]) -> None:
    """Mindlink with Californians too, its CCPA time kept in Los Angeles (its other
    regimes' in London)."""
    policy["organisation"]["jurisdictions"].append("ccpa")
    policy["organisation"]["time_zones"] = {"ccpa": "America/Los_Angeles"}


@pytest.fixture
def t(home: Any, db_url: str) -> Troth:
    ctx = home("mindlink", db_url, edit=_los_angeles, clock=ManualClock(), context=True)
    return Troth(ctx)


def person(t: Troth, email: str = ANN["email"]) -> str:
    data = {**ANN, "email": email}
    return str(t.collect("newsletter_signup", data, consents=["newsletter"]).subject_id)


def events(t: Troth, sid: str) -> int:
    e = consent_events.c
    with t.ctx.engine.connect() as conn:
        q = sa.select(sa.func.count()).select_from(consent_events).where(e.subject_id == sid)
        return int(conn.execute(q).scalar_one())


def refusals(t: Troth) -> list[tuple[str, str]]:
    a = audit_entries.c
    with t.ctx.engine.connect() as conn:
        rows = conn.execute(
            sa.select(a.subject_id, a.purpose).where(
                a.action == "consent.refused", a.reason == "opted_out_recently"
            )
        )
        return [(str(r[0]), str(r[1])) for r in rows]


def test_the_trials_steps_one_click_no_longer_undoes_a_gpc_opt_out(t: Troth) -> None:
    ledger = t.consent
    sid, bo = person(t), person(t, "bo@example.org")
    ledger.record_cookie_choices(sid, {"strictly_necessary": True, "marketing": True})
    ledger.record_gpc(sid, signal="1")
    t.ctx.clock.advance(seconds=5)  # type: ignore[attr-defined]
    before = events(t, sid)
    with pytest.raises(Refused) as err:
        ledger.record_cookie_choices(sid, {"analytics": True, "marketing": True})
    assert err.value.reason == "opted_out_recently"
    assert "'marketing' cookies" in err.value.message and "two_step" in err.value.message
    assert "personalisation" in err.value.message and "12 months" in err.value.message
    # Refused whole (the analytics choice beside it too), audited once.
    assert events(t, sid) == before and "cookie:analytics" not in ledger.state(sid)
    assert not ledger.state(sid)["cookie:marketing"].granted
    assert refusals(t) == [(sid, "cookie:marketing")]
    # Turning it off, or choosing only categories that serve no sale, is free.
    assert ledger.record_cookie_choices(sid, {"analytics": True, "marketing": False})
    # Another person, who never opted out, is not held back.
    assert ledger.record_cookie_choices(bo, {"marketing": True})[0].granted
    # The person's own two-step opt-in is taken, and its audit entry says so.
    recs = ledger.record_cookie_choices(sid, {"marketing": True}, two_step=True)
    assert [(r.purpose, r.granted) for r in recs] == [("cookie:marketing", True)]
    a = audit_entries.c
    with t.ctx.engine.connect() as conn:
        details = conn.execute(
            sa.select(a.details)
            .where(a.subject_id == sid, a.purpose == "cookie:marketing", a.outcome == "info")
            .order_by(a.seq.desc())
        ).first()
    assert details is not None and json.loads(details[0])["two_step_opt_in"] is True
    # The sale purpose itself still waits for its own opt-in.
    assert not ledger.state(sid)[SALE].granted


@pytest.mark.parametrize("how", ["withdraw", "refuse_category"])
def test_a_withdrawal_or_a_refused_category_is_an_opt_out_too(t: Troth, how: str) -> None:
    ledger = t.consent
    sid = person(t)
    ledger.grant(sid, SALE)
    ledger.record_cookie_choices(sid, {"marketing": True})
    if how == "withdraw":
        ledger.withdraw(sid, SALE)
    else:
        ledger.record_cookie_choices(sid, {"marketing": False})
    with pytest.raises(Refused):
        ledger.record_cookie_choices(sid, {"marketing": True})
    # A category that serves no sale or sharing is not held back.
    ledger.record_cookie_choices(sid, {"analytics": False})
    assert ledger.record_cookie_choices(sid, {"analytics": True})[0].granted


def test_the_wait_is_12_months_counted_in_los_angeles(t: Troth) -> None:
    """The opt-out at 22:00 in Los Angeles on 2 March 2026 is 06:00 UTC on 3 March: the
    12 months end with 1 March 2027 there (1 March 23:00 is still inside), not a day
    later as a UTC date would make it."""
    clock: ManualClock = t.ctx.clock  # type: ignore[assignment]
    clock.set(datetime(2026, 3, 3, 5, 0, tzinfo=UTC))
    sid = person(t)
    clock.set(datetime(2026, 3, 3, 6, 0, tzinfo=UTC))
    t.consent.record_gpc(sid, signal="1")
    clock.set(datetime(2027, 3, 2, 7, 0, tzinfo=UTC))  # 1 March 2027, 23:00 in LA
    with pytest.raises(Refused):
        t.consent.record_cookie_choices(sid, {"marketing": True})
    clock.set(datetime(2027, 3, 2, 8, 0, tzinfo=UTC))  # 2 March 2027, 00:00 in LA
    assert t.consent.record_cookie_choices(sid, {"marketing": True})[0].granted


def test_unknown_and_erased_people_are_refused_as_before(t: Troth) -> None:
    ledger = t.consent
    with pytest.raises(NotFound):
        ledger.record_cookie_choices("f" * 32, {"marketing": True})
    sid = person(t)
    ledger.record_gpc(sid, signal="1")
    t.requests.execute(verified(t, "delete", ANN["email"]))
    for two_step in (False, True):
        with pytest.raises(Refused) as err:
            ledger.record_cookie_choices(sid, {"marketing": True}, two_step=two_step)
        assert err.value.reason == "subject_erased"  # the erasure decides, not the wait
    assert refusals(t) == []


def chose(set_cookie: str, category: str, allowed: bool) -> bool:
    """Whether the consent cookie set says ``category`` is allowed (or refused)."""
    value = f"{category}={int(allowed)}"
    return value in set_cookie or value.replace("=", "%3D") in set_cookie


def _banner_post(c: Any, data: dict[str, str], **kw: Any) -> Any:
    token = csrf_from(c.get("/privacy/cookies").text)
    return c.post("/cookies", data={"csrf_token": token, **data}, **kw)


def test_the_banner_asks_a_signed_in_person_to_confirm(t: Troth) -> None:
    ledger = t.consent
    sid = person(t)
    with client_for(t.ctx) as c:
        privacy_sign_in(c, t.ctx, ANN["email"])
        c.get("/privacy/me", headers={"Sec-GPC": "1"})  # the signal, honoured
        assert not ledger.state(sid)["cookie:marketing"].granted
        # Later, without the signal: "Accept all" saves analytics, asks about marketing.
        first = _banner_post(c, {"action": "accept", "next": "/privacy/me"})
        assert first.status_code == 200 and 'id="cookie-opt-in-question"' in first.text
        assert 'id="cookie-opt-in-marketing"' in first.text
        assert "Personalise the Services" in first.text
        assert 'class="banner"' not in first.text  # the question, not the banner again
        saved = first.headers["set-cookie"]
        assert chose(saved, "marketing", False) and chose(saved, "analytics", True), saved
        assert '_fbp=""' in saved  # the refused category's cookies are removed
        state = ledger.state(sid)
        assert state["cookie:analytics"].granted and not state["cookie:marketing"].granted
        assert refusals(t) == []  # held back, not refused: nothing asked of the ledger
        # "No, keep them off" is a link: nothing more. "Yes": the second step.
        hidden = r'<input type="hidden" name="([^"]+)" value="([^"]*)">'
        form = dict(re.findall(hidden, first.text))
        assert form["confirm"] == "two-step" and form["cat_marketing"] == "on"
        done = c.post("/cookies", data={**form, "action": "save"}, follow_redirects=False)
        assert done.status_code == 303 and done.headers["location"] == "/privacy/me"
        assert chose(done.headers["set-cookie"], "marketing", True)
    assert ledger.state(sid)["cookie:marketing"].granted
    assert ledger.state(sid)["cookie:analytics"].granted


def test_a_confirmation_forged_without_the_token_changes_nothing(t: Troth) -> None:
    sid = person(t)
    t.consent.record_gpc(sid, signal="1")
    with client_for(t.ctx) as c:
        privacy_sign_in(c, t.ctx, ANN["email"])
        form = {"action": "save", "cat_marketing": "on", "confirm": "two-step"}
        r = c.post("/cookies", data=form, headers={"Accept": "text/html"})
        assert r.status_code == 403
    assert not t.consent.state(sid)["cookie:marketing"].granted


def test_the_banner_says_the_signal_conflicts_with_a_saved_choice(t: Troth) -> None:
    """An anonymous visitor who allowed marketing cookies, whose browser now sends GPC:
    the signal wins (the category off, locked) and the banner says they conflict
    (11 CCR 7025(c)(3)); nothing is recorded for anyone."""
    with client_for(t.ctx) as c:
        r = _banner_post(c, {"action": "accept"}, follow_redirects=False)
        assert r.status_code == 303 and chose(r.headers["set-cookie"], "marketing", True)
        assert 'id="gpc-conflict"' not in c.get("/privacy/cookies").text
        page = c.get("/privacy/cookies", headers={"Sec-GPC": "1"}).text
        assert 'id="gpc-conflict"' in page and "conflicts with your browser" in page
        r = _banner_post(c, {"action": "accept"}, headers={"Sec-GPC": "1"}, follow_redirects=False)
        assert chose(r.headers["set-cookie"], "marketing", False)
