"""A database writer without the key file against the rules the log recorded: a legal hold's
row deleted, a consent state re-subscribed by one UPDATE, an unsubscribe deleted from the
ledger, a restriction deleted. troth fails closed where it decides (the person stays held,
a state the ledger does not back is no consent, no mail), and ``troth audit verify`` fails
naming what changed (troth.audit.crosscheck). SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from requests_helpers import verified
from troth.audit import verify_log
from troth.consent.tables import consent_events, consent_state
from troth.errors import Refused
from troth.gate import Actor, ActorKind
from troth.notices.lists import send_to_list
from troth.notices.outbox import mail_refusal
from troth.requests.states import RequestState
from troth.retention.tables import legal_holds
from troth.store.tables import records, restrictions

ORDER = {
    "name": "Gloria",
    "email": "gloria@example.com",
    "address": "3 Via Roma",
    "card_number": "4111111111111111",
    "card_expiry": "12/29",
    "order_items": "1 x Licence",
}
APP = Actor(ActorKind.application, "newsletter")
TEMPLATE = "Subject: Offer\n\nTampered offer.\n"


def _sql(t: Any, stmt: Any) -> None:
    """What a database writer without the key file does."""
    with t.ctx.engine.begin() as conn:
        conn.execute(stmt)


def _records(t: Any, sid: str) -> int:
    with t.ctx.engine.connect() as conn:
        q = sa.select(sa.func.count()).select_from(records).where(records.c.subject_id == sid)
        return int(conn.execute(q).scalar_one())


def test_a_deleted_hold_row_lifts_nothing_and_fails_verify(home, db_url, clock):
    t = home("itechno", db_url)
    sid = t.collect("order_form", ORDER).subject_id
    hold = t.retention.place_hold(reason="Litigation: claim 2026/77", subject_id=sid)
    assert verify_log(t.ctx).ok
    _sql(t, sa.delete(legal_holds))
    check = verify_log(t.ctx)
    assert not check.ok and hold in check.bad_holds and sid in check.bad_holds
    assert "legal hold" in str(check.problem)
    # The person's own sealed row still says held: the erasure waits, nothing is erased.
    done = t.requests.execute(verified(t, "delete", ORDER["email"]))
    assert done.state is RequestState.awaiting_hold
    assert _records(t, sid) == 6
    clock.advance(days=8 * 366)
    assert t.retention.run().total == 0 and _records(t, sid) == 6


def test_a_hold_revived_or_inserted_outside_troth_fails_verify(home, db_url):
    t = home("itechno", db_url)
    sid = t.collect("order_form", ORDER).subject_id
    hold = t.retention.place_hold(reason="Claim 1", subject_id=sid)
    t.retention.lift_hold(hold)
    assert verify_log(t.ctx).ok
    _sql(t, sa.update(legal_holds).values(lifted_at=None, lifted_by=None))
    check = verify_log(t.ctx)
    assert not check.ok and hold in check.bad_holds


def _newsletter(t: Any, email: str) -> str:
    return str(
        t.collect(
            "newsletter_signup", {"name": "Hank", "email": email}, consents=["product_news"]
        ).subject_id
    )


def _refused_everywhere(t: Any, sid: str) -> None:
    """No consent-based use, no list membership, no mail: what a withdrawal means."""
    with pytest.raises(Refused):
        t.use(sid, purpose="product_news", actor=APP)
    with t.ctx.engine.connect() as conn:
        assert "product_news" not in t.consent.active_purposes(conn, sid)
        assert "product_news" in t.consent.opted_out_purposes(conn, sid)
        assert mail_refusal(conn, t.ctx, sid, "product_news", None) is not None
    report = send_to_list(t, "newsletter", TEMPLATE, actor=APP)
    assert report.members == 1  # the other subscriber only


def test_one_update_of_the_state_does_not_resubscribe(home, db_url):
    t = home("itechno", db_url)
    hank = _newsletter(t, "hank@example.com")
    _newsletter(t, "ivy@example.com")
    t.consent.withdraw(hank, "product_news")
    assert verify_log(t.ctx).ok
    _sql(
        t,
        sa.update(consent_state)
        .where(consent_state.c.subject_id == hank)
        .values(granted=True, kind="grant"),
    )
    _refused_everywhere(t, hank)
    check = verify_log(t.ctx)
    assert not check.ok and f"{hank}/product_news" in check.bad_consents
    assert "troth consent rebuild" in str(check.problem)


def test_a_state_pointed_at_the_old_grant_is_no_consent(home, db_url):
    t = home("itechno", db_url)
    hank = _newsletter(t, "hank@example.com")
    _newsletter(t, "ivy@example.com")
    t.consent.withdraw(hank, "product_news")
    e = consent_events.c
    with t.ctx.engine.begin() as conn:
        grant = conn.execute(
            sa.select(e.id, e.at, e.notice_hash).where(e.subject_id == hank, e.kind == "grant")
        ).one()
        conn.execute(
            sa.update(consent_state)
            .where(consent_state.c.subject_id == hank)
            .values(
                granted=True,
                kind="grant",
                event_id=grant.id,
                at=grant.at,
                notice_hash=grant.notice_hash,
            )
        )
    _refused_everywhere(t, hank)
    assert not verify_log(t.ctx).ok


def test_an_unsubscribe_deleted_from_the_ledger_fails_verify(home, db_url):
    t = home("itechno", db_url)
    hank = _newsletter(t, "hank@example.com")
    t.consent.withdraw(hank, "product_news")
    e = consent_events.c
    with t.ctx.engine.begin() as conn:
        gone = conn.execute(
            sa.delete(consent_events)
            .where(e.subject_id == hank, e.kind == "withdraw")
            .returning(e.id)
        ).scalar_one()
    t.consent.rebuild_state()  # the state agrees with the ledger again
    check = verify_log(t.ctx)
    assert not check.ok and str(gone) in check.bad_consents
    assert "missing from the consent ledger" in str(check.problem)


def test_a_grant_inserted_into_the_ledger_fails_verify(home, db_url):
    t = home("itechno", db_url)
    hank = _newsletter(t, "hank@example.com")
    t.consent.withdraw(hank, "product_news")
    e = consent_events.c
    with t.ctx.engine.begin() as conn:
        row = dict(
            conn.execute(sa.select(consent_events).where(e.subject_id == hank, e.kind == "grant"))
            .mappings()
            .one()
        )
        row.pop("id")
        conn.execute(
            sa.insert(consent_events).values(**row | {"at": t.ctx.clock.now(), "receipt_id": None})
        )
    t.consent.rebuild_state()
    check = verify_log(t.ctx)
    assert not check.ok and "never recorded in the audit log" in str(check.problem)


def test_a_deleted_restriction_fails_verify(home, db_url):
    t = home("itechno", db_url)
    sid = t.collect("order_form", ORDER).subject_id
    rid = verified(t, "restrict", ORDER["email"], details={"purposes": ["order_fulfilment"]})
    t.requests.execute(rid)
    assert verify_log(t.ctx).ok
    _sql(t, sa.delete(restrictions).where(restrictions.c.subject_id == sid))
    check = verify_log(t.ctx)
    assert not check.ok and f"{sid}/order_fulfilment" in check.bad_restrictions
    # Lifted by troth: the log says so, and verify passes.
    _sql(
        t,
        sa.insert(restrictions).values(
            subject_id=sid, purpose="order_fulfilment", since=t.ctx.clock.now(), request_id=rid
        ),
    )
    assert verify_log(t.ctx).ok
    t.requests.lift_restriction(rid)
    assert verify_log(t.ctx).ok
