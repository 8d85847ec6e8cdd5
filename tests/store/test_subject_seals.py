"""Subject seals: a database writer without the key file who edits a person's row in
``subjects`` (moves them to another tenant, clears their legal hold, un-erases them,
changes their regime, clears the seal) gets nothing: every read of the person is refused,
audited ``record_tampered``; `troth audit verify` names them; troth's own writes (holds,
closure, erasure, retention) keep the seal, and never seal over a writer's edit; a home
from before subject seals is sealed once by `troth db migrate`. SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from troth.audit import verify_log
from troth.audit.entries import list_entries
from troth.errors import NotFound
from troth.gate import Actor, ActorKind
from troth.store.seals import RecordTampered
from troth.store.tables import subjects

SUPPORT = Actor(ActorKind.staff, "sam", role="support")
ACCOUNTS = Actor(ActorKind.staff, "ada", role="accounts")
ORDER = {
    "name": "Ann Lee",
    "email": "ann@example.com",
    "address": "1 Main St",
    "card_number": "4111111111111111",
    "card_expiry": "12/29",
    "order_items": "1 widget",
}


def _app(tenant: str) -> Actor:
    return Actor(
        ActorKind.application, f"app-{tenant}", scopes=frozenset({"use"}), tenant_id=tenant
    )


def _edit(t: Any, sid: str, **values: Any) -> None:
    """What a database writer without the key file does to ``sid``'s row."""
    with t.ctx.engine.begin() as conn:
        conn.execute(sa.update(subjects).where(subjects.c.id == sid).values(**values))


def _denials(t: Any, sid: str) -> list[Any]:
    return [
        e.entry
        for e in list_entries(t.ctx, subject_id=sid, limit=1000)
        if e.entry.reason == "record_tampered"
    ]


def test_a_person_moved_to_another_tenant_is_refused_to_every_tenant(home, db_url):
    t = home("itechno", db_url)
    ta = t.access.tenants.create_tenant("Bright Minds", "office@bright.example")
    tb = t.access.tenants.create_tenant("Clever Clogs", "office@clever.example")
    ann = t.collect("order_form", ORDER, tenant_id=ta).subject_id
    bob = t.collect("order_form", {**ORDER, "email": "bob@example.com"}, tenant_id=tb).subject_id
    with pytest.raises(NotFound):  # another customer's person: as unknown (trial #19 F11)
        t.use(ann, purpose="order_fulfilment", actor=_app(tb))
    assert t.use(ann, purpose="order_fulfilment", actor=_app(ta)).get("address") == "1 Main St"

    _edit(t, ann, tenant_id=tb)
    for actor in (_app(tb), _app(ta), SUPPORT):
        with pytest.raises(RecordTampered, match=f"person {ann}'s row does not match its seal"):
            t.use(ann, purpose="order_fulfilment", actor=actor)
    entries = _denials(t, ann)
    assert len(entries) == 3 and {str(e.outcome) for e in entries} == {"deny"}
    assert all("Main St" not in str(e) for e in entries)
    # Nor disclosed to a recipient.
    shop = Actor(ActorKind.application, "shop", scopes=frozenset({"admin"}))
    with pytest.raises(RecordTampered):
        t.disclosures.disclose(ann, "shipping_company", "order_fulfilment", shop)
    # Bob, of tenant B, is served as before.
    assert t.use(bob, purpose="order_fulfilment", actor=_app(tb)).get("address") == "1 Main St"
    report = verify_log(t.ctx)
    assert not report.ok and report.bad_subjects == [ann] and report.bad_records == []
    assert f"subjects {ann}" in (report.problem or "")
    # Put back as it was: the seal matches again.
    _edit(t, ann, tenant_id=ta)
    assert t.use(ann, purpose="order_fulfilment", actor=_app(ta)).get("address") == "1 Main St"
    assert verify_log(t.ctx).ok


@pytest.mark.parametrize(
    "change",
    [
        {"tenant_id": None},
        {"jurisdiction": "ccpa"},
        {"status": "closed"},
        {"legal_hold": "made up"},
        {"seal": None},
    ],
    ids=["tenant-cleared", "regime", "status", "hold", "seal-cleared"],
)
def test_any_decided_column_changed_outside_troth_refuses_the_person(home, db_url, change):
    t = home("itechno", db_url)
    ta = t.access.tenants.create_tenant("Bright Minds", "office@bright.example")
    ann = t.collect("order_form", ORDER, tenant_id=ta).subject_id
    _edit(t, ann, **change)
    with pytest.raises(RecordTampered):
        t.use(ann, purpose="order_fulfilment", actor=_app(ta))
    assert verify_log(t.ctx).bad_subjects == [ann]


def test_troths_own_writes_keep_the_seal_and_never_seal_over_an_edit(home, db_url):
    t = home("itechno", db_url)
    ann = t.collect("order_form", ORDER).subject_id
    bob = t.collect("order_form", {**ORDER, "email": "bob@example.com"}).subject_id
    hold = t.retention.place_hold(subject_id=ann, reason="case 42")
    assert t.use(ann, purpose="billing", actor=ACCOUNTS).get("card_expiry") == "12/29"
    t.retention.lift_hold(hold)
    assert t.use(ann, purpose="billing", actor=ACCOUNTS).get("card_expiry") == "12/29"
    assert verify_log(t.ctx).ok
    # A hold cleared by a writer (so retention would delete what the hold keeps): troth
    # refuses the person, and lifting it through troth does not seal over the edit.
    hold = t.retention.place_hold(subject_id=bob, reason="case 43")
    _edit(t, bob, legal_hold=None)
    with pytest.raises(RecordTampered):
        t.use(bob, purpose="billing", actor=ACCOUNTS)
    with pytest.raises(RecordTampered):
        t.retention.lift_hold(hold)
    assert verify_log(t.ctx).bad_subjects == [bob]
    # Closing Ann's account and erasing her: each write seals her row again.
    req = t.requests.open("close_account", email="ann@example.com")
    t.requests.verify_by_staff(req.id, staff="alice", reason="known customer on the phone")
    t.requests.execute(req.id)
    with t.ctx.engine.connect() as conn:
        row = conn.execute(sa.select(subjects).where(subjects.c.id == ann)).one()
    assert row.status == "erased" and row.relationship_ended_at is not None
    assert verify_log(t.ctx).bad_subjects == [bob]


def test_a_home_from_before_subject_seals_is_sealed_once_by_db_migrate(
    home, db_url, capsys, monkeypatch
):
    from alembic import command

    import troth
    import troth.policy.versions as versions
    from cli_runner import run
    from troth.migrations import alembic_config

    monkeypatch.setattr(versions, "SUBJECTS_SEALED_FLAG", "not_a_flag")  # before subject seals
    monkeypatch.setattr(versions, "OUTBOX_SEALED_FLAG", "not_a_flag")  # nor the outbox's (0021)
    # A home from before these is from before row seals (schema 0016) too: winding it
    # back drops the seal columns of identities, requests and tenants as well.
    monkeypatch.setattr(versions, "ROWS_SEALED_FLAG", "not_a_flag")
    t = home("itechno", db_url, fresh=True)
    ann = t.collect("order_form", ORDER).subject_id
    t.close()
    url = t.ctx.settings.resolved_database_url
    command.downgrade(alembic_config(url), "0007_seals")  # the column dropped
    code, _out, _ = run(capsys, "--home", str(t.ctx.home), "db", "migrate")
    assert code == 0
    again = troth.open(t.ctx.home, clock=t.ctx.clock)
    try:
        sealed = [e.entry.details for e in list_entries(again.ctx, action="subjects.sealed")]
        assert sealed == [{"sealed": 1}]
        assert verify_log(again.ctx).ok
        assert again.use(ann, purpose="billing", actor=ACCOUNTS).get("card_expiry") == "12/29"
        # Once: a seal cleared afterwards is never sealed over by migrate.
        _edit(again, ann, seal=None, tenant_id=None)
    finally:
        again.close()
    code, _out, _ = run(capsys, "--home", str(t.ctx.home), "db", "migrate")
    assert code == 0
    again = troth.open(t.ctx.home, clock=t.ctx.clock)
    try:
        with pytest.raises(RecordTampered):
            again.use(ann, purpose="billing", actor=ACCOUNTS)
        assert verify_log(again.ctx).bad_subjects == [ann]
        assert len(list_entries(again.ctx, action="subjects.sealed")) == 1
    finally:
        again.close()
