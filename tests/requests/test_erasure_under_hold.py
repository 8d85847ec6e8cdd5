"""An erasure under a legal hold (P25, P28; GDPR Art. 17(3), 18): not reported done while the
hold blocks it, the person's data restricted meanwhile and the person told it is deferred
(never which matter), and carried out when the last hold on them ends: a hold on the person
or on their tenant, lifted by the office or found ended by the worker. SQLite and
PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from requests_helpers import mails_for
from troth.audit.entries import list_entries
from troth.errors import Conflict, Refused
from troth.gate import Actor, ActorKind
from troth.store.tables import records, subjects, tenants

ORDER = {
    "name": "Aoife Byrne",
    "email": "aoife@example.ie",
    "address": "1 Main St",
    "card_number": "4111111111111111",
    "card_expiry": "12/29",
    "order_items": "2 widgets",
}
SUPPORT = Actor(ActorKind.staff, "sam", role="support")
SECRET = "Garda investigation 2026/17"


def _request(t: Any, kind: str, email: str, tenant_id: str | None = None) -> str:
    q = t.requests.open(kind, email=email, tenant_id=tenant_id)
    t.requests.verify_by_staff(q.id, staff="olive", reason="passport seen")
    return str(q.id)


def _subject(t: Any, sid: str) -> Any:
    with t.ctx.engine.connect() as conn:
        return conn.execute(sa.select(subjects).where(subjects.c.id == sid)).mappings().one()


def _records(t: Any, sid: str) -> list[Any]:
    with t.ctx.engine.connect() as conn:
        return list(conn.execute(sa.select(records).where(records.c.subject_id == sid)))


def _entries_of(t: Any, sid: str) -> list[Any]:
    """The audit entries about the person that the person (and their tenant) may see,
    those about requests among them."""
    from troth.disclosures.gags import person_entries

    return [e for e in person_entries(t.ctx, sid) if e.entry.action.startswith("request.")]


def _actions(t: Any, rid: str) -> list[str]:
    return [  # oldest first
        e.entry.action
        for e in list_entries(t.ctx, limit=1000)
        if e.entry.details.get("request_id") == rid
    ]


def test_deletion_under_a_person_hold_waits_and_is_done_when_the_last_hold_ends(
    home: Any, db_url: str, clock: Any
) -> None:
    t = home("itechno", db_url)
    sid = t.collect("order_form", ORDER).subject_id
    other = t.collect("order_form", {**ORDER, "email": "cy@example.com"}).subject_id
    assert t.use(sid, purpose="order_fulfilment", actor=SUPPORT).get("name") == "Aoife Byrne"
    h1 = t.retention.place_hold(reason=SECRET, subject_id=sid)
    h2 = t.retention.place_hold(reason="Tribunal 4/2026", subject_id=sid)
    rid = _request(t, "delete", ORDER["email"])
    req = t.requests.execute(rid)
    # Not "completed": it waits for the holds, and says so; nothing was erased.
    assert req.state.value == "awaiting_hold" and req.closed_at is None
    assert req.result["waiting_for"] == "legal_hold"
    # Which holds, and why, stay the office's: the tenant and the person read the request,
    # its history and its audit entries (trial 4 found the reason and the ids there).
    told = json.dumps(
        [req.to_dict(), t.requests.history(rid), [e.to_dict() for e in _entries_of(t, sid)]],
        default=str,
    )
    for secret in (SECRET, "Tribunal", h1, h2):
        assert secret not in told
    assert len(_records(t, sid)) == 6 and _subject(t, sid)["erased_at"] is None
    # The person is told it is deferred by a legal obligation, never which matter.
    mails = mails_for(t, rid)
    assert [m["idempotency_key"].rsplit(":", 1)[1] for m in mails][-1] == "deferred"
    assert "legal obligation" in mails[-1]["subject"]
    assert all("done" not in m["subject"] for m in mails)
    assert all(SECRET not in m["body_text"] and "Tribunal" not in m["body_text"] for m in mails)
    # Restricted meanwhile: no ordinary use; the other customer is untouched.
    with pytest.raises(Refused) as refused:
        t.use(sid, purpose="order_fulfilment", actor=SUPPORT)
    assert refused.value.reason == "restricted"
    assert t.use(other, purpose="order_fulfilment", actor=SUPPORT).get("name")
    # Answered: its deadline no longer runs, months later.
    clock.advance(days=120)
    assert rid not in [r.id for r in t.requests.list(overdue=True)]
    assert not t.requests.get(rid).overdue(t.requests.today())
    assert t.retention.run().total == 0 and len(_records(t, sid)) == 6
    with pytest.raises(Conflict) as held:
        t.requests.execute(rid)
    assert held.value.code == "legal_hold"
    # One hold lifted, the other still runs: still waiting.
    t.retention.lift_hold(h1)
    assert t.requests.get(rid).state.value == "awaiting_hold" and len(_records(t, sid)) == 6
    # The last lifted: done, as an unheld deletion (the invoice kept, restricted, by law).
    t.retention.lift_hold(h2)
    done = t.requests.get(rid)
    assert done.state.value == "completed"
    assert _subject(t, sid)["erased_at"] is not None
    assert {(r.category, r.restricted_to) for r in _records(t, sid)} <= {
        ("identity", "billing"),
        ("shipping_address", "billing"),
        ("purchases", "billing"),
    }
    assert mails_for(t, rid)[-1]["subject"].startswith("Your request is done")
    with pytest.raises(Refused):
        t.use(sid, purpose="order_fulfilment", actor=SUPPORT)
    actions = _actions(t, rid)
    assert actions.index("request.deferred") < actions.index("request.completed")
    assert "request.delete" in actions


def test_a_tenant_hold_defers_the_erasure_of_its_people_only(
    home: Any, db_url: str, clock: Any
) -> None:
    t = home("itechno", db_url)
    with t.ctx.engine.begin() as conn:
        for tid in ("acme", "zeta"):
            conn.execute(sa.insert(tenants).values(id=tid, name=tid, created_at=clock.now()))
    sid = t.collect("order_form", ORDER, tenant_id="acme").subject_id
    zid = t.collect("order_form", {**ORDER, "email": "zo@example.com"}, tenant_id="zeta")
    hold = t.retention.place_hold(reason="Litigation hold", tenant_id="acme")
    # Each customer's request for its own person (the organisation's own desk reaches only
    # its own people: tests/requests/test_requests_desk_customers.py).
    held = _request(t, "delete", ORDER["email"], tenant_id="acme")
    free = _request(t, "delete", "zo@example.com", tenant_id="zeta")
    report = t.requests.execute_many([held, free])
    assert report.completed == [free] and report.deferred == [held]
    # Before, only a hold on the person counted: the tenant's hold did not stop an erasure.
    assert len(_records(t, sid)) == 6 and _subject(t, sid)["erased_at"] is None
    assert _subject(t, zid.subject_id)["erased_at"] is not None
    t.retention.lift_hold(hold)
    assert t.requests.get(held).state.value == "completed"
    assert _subject(t, sid)["erased_at"] is not None


def test_account_closure_under_hold_ends_the_relationship_and_erases_after_the_hold(
    home: Any, db_url: str, clock: Any
) -> None:
    t = home("itechno", db_url)
    sid = t.collect("order_form", ORDER).subject_id
    hold_id = t.retention.place_hold(reason=SECRET, subject_id=sid)
    rid = _request(t, "close_account", ORDER["email"])
    assert t.requests.execute(rid).state.value == "awaiting_hold"
    s = _subject(t, sid)
    assert s["relationship_ended_at"] is not None and s["erased_at"] is None
    # The hold ended by a path that did not resume the erasure (another process): the
    # worker's request task finds it and carries it out.
    from troth.audit.log import transaction
    from troth.retention import holds

    clock.advance(days=3)
    with transaction(t.ctx) as conn:
        holds.lift(conn, clock.now(), hold_id, "office:olive", t.ctx.keys)
    assert t.requests.get(rid).state.value == "awaiting_hold"
    assert "1 erasure(s) done" in t.requests.run_due()
    assert t.requests.get(rid).state.value == "completed"
    assert _subject(t, sid)["erased_at"] is not None
    assert t.requests.run_due().startswith("0 erasure(s)")
    assert clock.now() - s["relationship_ended_at"] >= timedelta(days=3)


def test_the_privacy_centre_says_deferred_and_never_the_hold(home: Any, clock: Any) -> None:
    """The person's own page: the request answered "deferred", not "awaiting hold" (which
    would tell of a legal hold) nor its reason; "done" after the hold ends."""
    from _http import client_for, privacy_sign_in, section
    from troth.engine import Troth

    ctx = home("itechno", context=True)
    t = Troth(ctx)
    sid = t.collect("order_form", ORDER).subject_id
    hold = t.retention.place_hold(reason=SECRET, subject_id=sid)
    rid = _request(t, "delete", ORDER["email"])
    assert t.requests.execute(rid).state.value == "awaiting_hold"
    with client_for(ctx) as c:
        privacy_sign_in(c, ctx, ORDER["email"])
        page = c.get("/privacy/me").text
        row = section(page, "my-requests")
        assert "deferred" in row and "awaiting" not in row
        for secret in (SECRET, "legal hold", "awaiting_hold", hold):
            assert secret not in page
    t.retention.lift_hold(hold)
    assert t.requests.get(rid).state.value == "completed"
