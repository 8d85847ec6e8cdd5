"""A database writer without the key file against the disclosure register and a legal
demand's gag (trial #13, F4): a disclosure to the police deleted, a gag moved later, earlier
or removed. troth honours the gag the audit log recorded (never lifting it early, nor
keeping the person untold past it), tells the person of a deleted disclosure from its entry
when the gag ends, and ``troth audit verify`` fails naming the row. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from outbox_helpers import bodies
from troth.audit import verify_log
from troth.audit.entries import list_entries
from troth.disclosures import disclosures, legal_demands
from troth.disclosures.register import list_disclosures
from troth.engine import Troth
from troth.errors import Refused
from troth.gate import Actor, ActorKind
from troth.requests.holdings import subject_holdings

OFFICE = Actor(ActorKind.staff, "pat", role="privacy_office")
ANN = {"name": "Ann", "email": "ann@example.com", "address": "1 Main St", "product": "x"}
BOB = {"name": "Bob", "email": "bob@example.com", "address": "2 Main St", "product": "y"}


def _sql(t: Troth, stmt: Any) -> None:
    """What a database writer without the key file does."""
    with t.ctx.engine.begin() as conn:
        conn.execute(stmt)


def _demand(t: Troth, gag_days: int | None = 60) -> str:
    now = t.ctx.clock.now()
    return t.disclosures.record_demand(
        authority="Crown Court",
        instrument="production_order",
        reference="PO-9",
        scope="account records",
        categories=[
            "identity",
            "contact",
            "billing",
            "purchases",
            "account_history",
            "communications",
        ],
        recipient="law_enforcement",
        gag_until=now + timedelta(days=gag_days) if gag_days else None,
    ).id


def _gag(t: Troth, demand: str) -> datetime:
    """The gag the log recorded for ``demand``."""
    (entry,) = [
        e
        for e in list_entries(t.ctx, limit=10_000)
        if e.entry.action == "legal_demand.record" and e.entry.details["demand"] == demand
    ]
    return datetime.fromisoformat(entry.entry.details["gag_until"])


def _disclose(t: Troth, sid: str, demand: str) -> str:
    return t.disclosures.disclose(
        sid, "law_enforcement", "legal_compliance", OFFICE, legal_demand_id=demand
    ).id


def _mail(t: Troth, sid: str) -> list[str]:
    rows = bodies(t, subject_id=sid)
    return [b for b in rows if "disclose" in b]


def _sees(t: Troth, sid: str) -> int:
    """How many times the disclosure shows on the surfaces made for the person (privacy
    centre's list and log, access export's list and log, the office's register)."""
    export = subject_holdings(t.ctx, sid)
    seen = [
        len(t.disclosures.disclosures_of(sid)),
        len(export["disclosures"]),
        sum(e.entry.action == "disclose" for e in t.disclosures.person_entries(sid)),
        sum(e["action"] == "disclose" for e in export["access_log"]),
    ]
    return sum(seen)


def _tampered_entries(t: Troth) -> list[Any]:
    return [e for e in list_entries(t.ctx, limit=10_000) if e.entry.reason == "record_tampered"]


def _ann_under_gag(home: Any, db_url: str) -> tuple[Troth, str, str, str]:
    t = home("mindlink", db_url)
    ann = t.collect("purchase", ANN).subject_id
    d = _demand(t, gag_days=60)
    did = _disclose(t, ann, d)
    assert verify_log(t.ctx).ok and _sees(t, ann) == 0
    return t, ann, d, did


def test_a_deleted_disclosure_fails_verify_and_is_still_told_when_the_gag_ends(home, db_url, clock):
    t, ann, d, did = _ann_under_gag(home, db_url)
    _sql(t, sa.delete(disclosures).where(disclosures.c.subject_id == ann))
    check = verify_log(t.ctx)
    assert not check.ok and did in check.bad_disclosures
    assert "missing from disclosures" in str(check.problem)
    # The gag ends: the worker tells Ann from the log's entry, once.
    clock.advance(days=61)
    assert t.disclosures.notify_due_demands() == 1
    assert t.disclosures.notify_due_demands() == 0
    mail = _mail(t, ann)
    # Who required it, never the demand's free-text reference (trial #19 F8).
    assert len(mail) == 1 and "Crown Court" in mail[0] and "PO-9" not in mail[0]
    assert any(e.entry.details.get("demand") == d for e in _tampered_entries(t))
    assert not verify_log(t.ctx).ok  # still named until the row is restored


def test_a_deleted_ordinary_disclosure_fails_verify(home, db_url):
    t = home("mindlink", db_url)
    ann = t.collect("purchase", ANN).subject_id
    did = _disclose(t, ann, _demand(t, gag_days=None))
    assert verify_log(t.ctx).ok
    _sql(t, sa.delete(disclosures))
    check = verify_log(t.ctx)
    assert not check.ok and did in check.bad_disclosures


@pytest.mark.parametrize(
    "moved",
    [datetime(2000, 1, 1, tzinfo=UTC), None, "earlier"],
    ids=["into_the_past", "removed", "an_hour_from_now"],
)
def test_a_gag_moved_earlier_or_removed_tips_no_one_off(home, db_url, clock, moved):
    t, ann, d, _did = _ann_under_gag(home, db_url)
    bob = t.collect("purchase", BOB).subject_id
    if moved == "earlier":
        moved = clock.now() + timedelta(hours=1)
        clock.advance(hours=2)
    _sql(t, sa.update(legal_demands).values(gag_until=moved))
    # Nothing the person sees shows it, the worker tells no one, the office's register
    # still says gagged.
    assert _sees(t, ann) == 0
    assert t.disclosures.notify_due_demands() == 0 and _mail(t, ann) == []
    office = t.disclosures.disclosures_of(ann, include_gagged=True)
    assert office[0]["gagged_until"] == _gag(t, d).isoformat()
    register, _ = list_disclosures(t.ctx, OFFICE)
    assert register[0]["gagged_until"] == _gag(t, d)
    # Another disclosure under the tampered demand is refused, not told at once.
    with pytest.raises(Refused) as refused:
        _disclose(t, bob, d)
    assert refused.value.reason == "record_tampered"
    assert _mail(t, bob) == []
    assert any(e.entry.details.get("demand") == d for e in _tampered_entries(t))
    check = verify_log(t.ctx)
    assert not check.ok and d in check.bad_disclosures and "gag_until" in str(check.problem)
    # The order ends when the log says: then Ann sees it and is told, once.
    clock.advance(days=61)
    assert t.disclosures.notify_due_demands() == 1
    assert _sees(t, ann) == 4 and len(_mail(t, ann)) == 1


def test_a_gag_moved_later_is_told_when_the_recorded_gag_ends(home, db_url, clock):
    t, ann, d, _did = _ann_under_gag(home, db_url)
    _sql(t, sa.update(legal_demands).values(gag_until=datetime(2099, 1, 1, tzinfo=UTC)))
    clock.advance(days=61)
    assert t.disclosures.notify_due_demands() == 1
    assert _sees(t, ann) == 4 and len(_mail(t, ann)) == 1
    listed = t.disclosures.disclosures_of(ann, include_gagged=True)
    assert "gagged_until" not in listed[0]
    check = verify_log(t.ctx)
    assert not check.ok and d in check.bad_disclosures


def test_a_deleted_demand_keeps_its_disclosures_gagged(home, db_url, clock):
    t, ann, d, _did = _ann_under_gag(home, db_url)
    _sql(t, sa.delete(legal_demands))
    assert _sees(t, ann) == 0
    clock.advance(days=400)
    assert _sees(t, ann) == 0 and t.disclosures.notify_due_demands() == 0
    assert _mail(t, ann) == []
    check = verify_log(t.ctx)
    assert not check.ok and d in check.bad_disclosures
    assert "missing from legal_demands" in str(check.problem)


def test_a_demands_authority_or_recipient_edited_fails_verify(home, db_url):
    t, _ann, d, _did = _ann_under_gag(home, db_url)
    _sql(t, sa.update(legal_demands).values(authority="Someone else"))
    check = verify_log(t.ctx)
    assert not check.ok and d in check.bad_disclosures and "authority" in str(check.problem)


def test_a_disclosure_marked_told_outside_troth_fails_verify(home, db_url, clock):
    t, _ann, _d, did = _ann_under_gag(home, db_url)
    _sql(t, sa.update(disclosures).values(notified_at=clock.now()))
    check = verify_log(t.ctx)
    assert not check.ok and did in check.bad_disclosures
    assert "no notice" in str(check.problem)


def test_an_honest_lifecycle_verifies(home, db_url, clock):
    t = home("mindlink", db_url)
    ann = t.collect("purchase", ANN).subject_id
    bob = t.collect("purchase", BOB).subject_id
    gagged, lifted, open_ = _demand(t, 60), _demand(t, 365), _demand(t, None)
    _disclose(t, ann, gagged)
    _disclose(t, bob, lifted)
    _disclose(t, bob, open_)
    assert verify_log(t.ctx).ok
    clock.advance(days=3)
    assert t.disclosures.lift_gag(lifted, actor=OFFICE) == 1
    assert verify_log(t.ctx).ok and _sees(t, bob) == 8
    clock.advance(days=58)
    assert t.disclosures.notify_due_demands() == 1 and _sees(t, ann) == 4
    report = verify_log(t.ctx)
    assert report.ok, report.problem
    assert report.bad_disclosures == [] and _tampered_entries(t) == []


def _edit_entry(t: Troth, action: str, **values: Any) -> int:
    """What a database writer does to the latest entry of ``action``; returns its seq."""
    from troth.audit.tables import audit_entries

    a = audit_entries.c
    with t.ctx.engine.begin() as conn:
        seq = conn.execute(sa.select(sa.func.max(a.seq)).where(a.action == action)).scalar()
        assert seq is not None
        conn.execute(sa.update(audit_entries).where(a.seq == seq).values(**values))
    return int(seq)


@pytest.mark.parametrize(
    "edit",
    [{"outcome": "deny"}, {"details": "{}"}, {"purpose": "marketing"}, {"subject_id": "x"}],
    ids=["outcome", "details", "purpose", "person"],
)
def test_an_edited_disclose_entry_never_advises_deleting_the_disclosure(home, db_url, edit):
    """Trial #20, F13: the entry of a genuine police hand-over edited to say "deny" made
    verify advise deleting the disclosure ("inserted outside troth; check them, then delete
    them"): the register row is the evidence; the entry is what was altered."""
    t = home("mindlink", db_url)
    ann = t.collect("purchase", ANN).subject_id
    did = _disclose(t, ann, _demand(t, gag_days=None))
    assert verify_log(t.ctx).ok
    seq = _edit_entry(t, "disclose", **edit)
    check = verify_log(t.ctx)
    problem = str(check.problem)
    assert not check.ok and f"entry {seq} was modified" in problem
    assert "delete them" not in problem
    if "details" in edit:  # the row's id is gone from the entry: no link, but no advice
        assert did in check.bad_disclosures and "Delete nothing" in problem
        assert f"entries {seq})" in problem
    else:
        assert did in check.bad_disclosures and "Keep the rows" in problem
        assert f"entries {seq})" in problem


def test_an_edited_demand_entry_keeps_the_demand(home, db_url):
    t = home("mindlink", db_url)
    ann = t.collect("purchase", ANN).subject_id
    d = _demand(t, gag_days=None)
    _disclose(t, ann, d)
    seq = _edit_entry(t, "legal_demand.record", outcome="deny")
    check = verify_log(t.ctx)
    problem = str(check.problem)
    assert not check.ok and d in check.bad_disclosures
    assert "Keep the rows" in problem and f"entries {seq})" in problem
    assert "delete them" not in problem


def test_a_disclosure_inserted_outside_troth_is_still_named_for_deletion(home, db_url):
    """No entry was altered: a row the log never recorded was inserted (unchanged)."""
    t = home("mindlink", db_url)
    ann = t.collect("purchase", ANN).subject_id
    _disclose(t, ann, _demand(t, gag_days=None))
    with t.ctx.engine.begin() as conn:
        row = dict(conn.execute(sa.select(disclosures)).mappings().one())
        conn.execute(sa.insert(disclosures).values({**row, "id": "f" * 32}))
    check = verify_log(t.ctx)
    assert not check.ok and "f" * 32 in check.bad_disclosures
    assert "inserted outside troth; check them, then delete them" in str(check.problem)
