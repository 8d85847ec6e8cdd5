"""P11 with CCPA's 12 months (REGULATIONS.md, "don't ask to opt back in for 12 months";
11 CCR 7026(k), 7028): once a person opts out of a purpose the policy marks
``sale_or_sharing`` (a GPC signal, a withdrawal), a grant of it within 12 months is taken
only as the person's own two-step opt-in. Before, any key with ``collect`` undid a GPC
opt-out at once with an empty body. mindlink ("personalisation" is sale/sharing)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from _http import api_key, client_for, csrf_from, is_problem, privacy_sign_in
from cli_runner import run
from troth.audit.tables import audit_entries
from troth.clock import ManualClock
from troth.consent import ConsentLedger
from troth.engine import Troth
from troth.errors import Refused

SALE = "personalisation"
ANN = {"name": "Ann", "email": "ann@example.org"}


@pytest.fixture
def mindlink_ctx(home: Any, db_url: str) -> Any:
    ctx = home("mindlink", db_url, clock=ManualClock(), context=True)
    yield ctx
    ctx.engine.dispose()


def _person(t: Troth, email: str = "ann@example.org") -> str:
    data = {**ANN, "email": email}
    return t.collect("newsletter_signup", data, consents=["newsletter"]).subject_id


def _refusals(ctx: Any) -> list[tuple[str | None, str | None]]:
    a = audit_entries.c
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            select(a.subject_id, a.purpose).where(
                a.action == "consent.refused", a.reason == "opted_out_recently"
            )
        )
        return [tuple(r) for r in rows]


def test_p11_a_grant_after_an_opt_out_needs_the_persons_two_step_opt_in(mindlink_ctx: Any) -> None:
    ctx = mindlink_ctx
    t, ledger = Troth(ctx), ConsentLedger(ctx)
    sid, other = _person(t), _person(t, "bo@example.org")
    ledger.grant(sid, SALE)
    ledger.grant(sid, "analytics")
    assert [r.purpose for r in ledger.record_gpc(sid, signal="1")] == [SALE, "cookie:marketing"]
    ctx.clock.advance(seconds=5)
    with pytest.raises(Refused) as err:
        ledger.grant(sid, SALE, actor="api_key:abc")
    assert err.value.reason == "opted_out_recently"
    assert "two_step" in err.value.message and "12 months" in err.value.message
    assert not ledger.state(sid)[SALE].granted  # nothing recorded
    assert _refusals(ctx) == [(sid, SALE)]
    # A withdrawal counts as an opt-out too; a purpose that is not sale/sharing is free.
    ledger.withdraw(sid, "analytics")
    assert ledger.grant(sid, "analytics").granted
    # Another person, who never opted out, is not held back.
    assert ledger.grant(other, SALE).granted
    # The person's own two-step opt-in is taken, and the audit entry says so.
    assert ledger.grant(sid, SALE, two_step=True).granted
    a = audit_entries.c
    with ctx.engine.connect() as conn:
        details = conn.execute(
            select(a.details)
            .where(a.action == "consent.grant", a.subject_id == sid, a.purpose == SALE)
            .order_by(a.seq.desc())
        ).first()[0]
    assert json.loads(details)["two_step_opt_in"] is True
    # Opting out again by withdrawal restarts the wait.
    ledger.withdraw(sid, SALE)
    with pytest.raises(Refused):
        ledger.grant(sid, SALE)


def test_p11_the_wait_is_12_months_from_the_opt_out(mindlink_ctx: Any) -> None:
    ctx = mindlink_ctx
    t, ledger = Troth(ctx), ConsentLedger(ctx)
    sid = _person(t)
    ledger.record_gpc(sid, signal="1")
    ctx.clock.advance(days=364)
    with pytest.raises(Refused):
        ledger.grant(sid, SALE)
    ctx.clock.advance(days=2)  # 366 days: 12 months have passed (2026-27 has no 29 Feb)
    assert ledger.grant(sid, SALE).granted


def test_p11_over_http_an_empty_body_no_longer_undoes_a_gpc_opt_out(
    mindlink_ctx: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    ctx = mindlink_ctx
    t = Troth(ctx)
    sid = _person(t)
    with client_for(ctx) as c:
        h = api_key(c, ["collect", "use"])
        assert c.post(f"/api/v1/subjects/{sid}/gpc", headers=h | {"Sec-GPC": "1"}).json()
        for body in ({}, None, {"notice_text": "Personalise ads?"}):
            kw: dict[str, Any] = {"json": body} if body is not None else {}
            r = c.post(f"/api/v1/subjects/{sid}/consents/{SALE}/grant", headers=h, **kw)
            problem = is_problem(r, 403)
            assert problem["reason"] == "opted_out_recently", problem
        is_problem(
            c.post(
                f"/api/v1/subjects/{sid}/consents/{SALE}/grant",
                headers=h,
                json={"two_step_confirmed": "maybe"},
            ),
            422,
        )
        state = c.get(f"/api/v1/subjects/{sid}/consents", headers=h).json()
        assert {p["purpose"]: p["granted"] for p in state["purposes"]}[SALE] is False
        # CLI: refused (exit 3) until the staff member records the person's two steps.
        home = str(ctx.home)
        code, _out, err = run(capsys, "--home", home, "consent", "grant", sid, SALE, "--yes")
        assert code == 3 and "two_step" in err, (code, err)
        args = ("--home", home, "consent", "grant", sid, SALE, "--yes", "--two-step-confirmed")
        assert run(capsys, *args)[0] == 0
        r = c.post(f"/api/v1/subjects/{sid}/consents/{SALE}/withdraw", headers=h, json={})
        assert r.status_code == 200, r.text
        r = c.post(
            f"/api/v1/subjects/{sid}/consents/{SALE}/grant",
            headers=h,
            json={"two_step_confirmed": True},
        )
        assert r.status_code == 201, r.text


def test_p11_the_privacy_centre_asks_the_person_to_confirm_opting_back_in(
    mindlink_ctx: Any,
) -> None:
    ctx = mindlink_ctx
    t, ledger = Troth(ctx), ConsentLedger(ctx)
    sid = _person(t)
    ledger.record_gpc(sid, signal="1")
    with client_for(ctx) as c:
        csrf = privacy_sign_in(c, ctx, ANN["email"])
        form = {"purpose": SALE, "action": "grant", "csrf_token": csrf}
        first = c.post("/privacy/me/consents", data=form)
        assert first.status_code == 200 and 'id="opt-in-question"' in first.text
        assert "you told us not to sell or share your data" in first.text
        assert not ledger.state(sid)[SALE].granted  # asking is not agreeing
        # Confirmed with the page's own form: recorded.
        done = c.post(
            "/privacy/me/consents",
            data={**form, "confirm": "two-step", "csrf_token": csrf_from(first.text)},
        )
        assert done.url.path == "/privacy/me" and "done=consent-given" in str(done.url)
        assert ledger.state(sid)[SALE].granted
        # A purpose that is not sale/sharing is given in one step, as before.
        ledger.withdraw(sid, "analytics")
        r = c.post("/privacy/me/consents", data={**form, "purpose": "analytics"})
        assert "done=consent-given" in str(r.url)


def _stored_points(ctx: Any, sid: str) -> list[str]:
    from troth.store.tables import records

    with ctx.engine.connect() as conn:
        rows = conn.execute(select(records.c.collection_point).where(records.c.subject_id == sid))
        return sorted(r[0] for r in rows)


def test_p11_a_consent_ticked_at_collection_does_not_undo_an_opt_out(
    mindlink_ctx: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """The trial's finding: after a GPC opt-out, a collection with the sale purpose's box
    ticked granted it again in one step, and the data was shared. Now the whole collection
    is refused (Python, HTTP, CLI), audited, nothing stored; the person found by their
    e-mail as well as by id; people who never opted out, other purposes, the person's own
    two-step opt-in and the end of the 12 months are not held back."""
    ctx = mindlink_ctx
    t, ledger = Troth(ctx), ConsentLedger(ctx)
    sid, bo = _person(t), _person(t, "bo@example.org")
    ledger.record_gpc(sid, signal="1")
    ctx.clock.advance(days=1)
    visit = {"cookie_id": "c-1", "pages": "/pricing"}
    before = _stored_points(ctx, sid)
    with pytest.raises(Refused) as err:
        t.collect("website_tracking", visit, subject_id=sid, consents=[SALE, "analytics"])
    assert err.value.reason == "opted_out_recently" and "collect without that consent" in str(
        err.value
    )
    # Found by e-mail instead of by id (a sign-up form): the same.
    with pytest.raises(Refused):
        t.collect("newsletter_signup", ANN, consents=[SALE])
    assert _stored_points(ctx, sid) == before and not ledger.state(sid)[SALE].granted
    a = audit_entries.c
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            select(a.action, a.subject_id, a.details).where(a.reason == "opted_out_recently")
        ).all()
    assert [(r[0], r[1]) for r in rows] == [("collect", sid)] * 2
    assert json.loads(rows[0][2])["purpose"] == SALE
    # Over HTTP and from the CLI: refused alike, nothing stored.
    with client_for(ctx) as c:
        h = api_key(c, ["collect"])
        body = {"data": visit, "subject_id": sid, "consents": [SALE]}
        r = c.post("/api/v1/collect/website_tracking", headers=h, json=body)
        assert is_problem(r, 403)["reason"] == "opted_out_recently"
    args = ["--home", str(ctx.home), "collect", "website_tracking", "--subject", sid]
    code, _out, err_text = run(
        capsys,
        *args,
        "--data",
        json.dumps(visit),
        "--consent",
        SALE,
        "--consent-method",
        "web_form",
    )
    assert code == 3 and "opted out" in err_text, (code, err_text)
    assert _stored_points(ctx, sid) == before
    # Without the sale purpose's consent the visit is collected; another person is free.
    t.collect("website_tracking", visit, subject_id=sid, consents=["analytics"])
    t.collect("website_tracking", visit, subject_id=bo, consents=[SALE])
    assert ledger.state(bo)[SALE].granted
    # The person's own two-step opt-in, then a form with the box ticked: taken.
    ledger.grant(sid, SALE, two_step=True)
    t.collect("website_tracking", visit, subject_id=sid, consents=[SALE])
    # 12 months after a new opt-out, a ticked box counts again.
    ledger.withdraw(sid, SALE)
    ctx.clock.advance(days=366)
    t.collect("website_tracking", visit, subject_id=sid, consents=[SALE])
    assert ledger.state(sid)[SALE].granted
