"""Retention never acts on what a database writer made of a person. A hold is held while
``legal_holds`` says so, whatever the person's own mark says; a person whose row no longer
matches its seal (a relationship ended early, a hold cleared) keeps every value as it is,
counted ``skipped_tampered``, named by ``troth audit verify``; other people's data goes as
due. SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from troth.audit import verify_log
from troth.store.subject_seals import update_subjects
from troth.store.tables import records, subjects

ORDER = {
    "name": "Ann Lee",
    "email": "ann@example.com",
    "address": "1 Main St",
    "card_number": "4111111111111111",
    "card_expiry": "12/29",
    "order_items": "2 widgets",
}
ACCOUNT = {"name": "Ann", "email": "ann@example.com", "username": "ann"}


def _count(t: Any, sid: str) -> int:
    with t.ctx.engine.connect() as conn:
        q = sa.select(sa.func.count()).select_from(records).where(records.c.subject_id == sid)
        return int(conn.execute(q).scalar_one())


def _raw(t: Any, sid: str, **values: Any) -> None:
    """What a database writer without the key file does to a person's row."""
    with t.ctx.engine.begin() as conn:
        conn.execute(sa.update(subjects).where(subjects.c.id == sid).values(**values))


def test_a_relationship_ended_outside_troth_deletes_nothing(home, db_url, clock):
    t = home("itechno", db_url)
    ann = t.collect("account_signup", ACCOUNT).subject_id
    bob = t.collect("account_signup", {**ACCOUNT, "email": "b@example.com"}).subject_id
    cy = t.collect("account_signup", {**ACCOUNT, "email": "c@example.com"}).subject_id
    clock.advance(days=30)
    # Ann's relationship "ended" by a writer; Bob's ended as troth records it.
    _raw(t, ann, relationship_ended_at=clock.now())
    with t.ctx.engine.begin() as conn:
        update_subjects(conn, t.ctx.keys, subjects.c.id == bob, relationship_ended_at=clock.now())
    clock.advance(days=2)
    report = t.retention.run(batch=2)
    assert _count(t, ann) == 3 and _count(t, bob) == 0 and _count(t, cy) == 3
    assert report.skipped_tampered == 3 and report.total == 3
    result = verify_log(t.ctx)
    assert not result.ok and ann in str(result.to_dict())
    assert t.retention.run().skipped_tampered == 3  # still left, run after run


def test_a_hold_cleared_on_the_person_still_holds_their_data(home, db_url, clock):
    t = home("itechno", db_url)
    ann = t.collect("order_form", ORDER).subject_id
    bob = t.collect("order_form", {**ORDER, "email": "b@example.com"}).subject_id
    t.retention.place_hold(reason="Tribunal 4/2026", subject_id=ann)
    # The person's mark cleared, even as troth writes rows (a bug, a writer with the key):
    # the hold recorded in legal_holds still holds.
    with t.ctx.engine.begin() as conn:
        update_subjects(conn, t.ctx.keys, subjects.c.id == ann, legal_hold=None)
    clock.advance(days=8 * 365)
    report = t.retention.run()
    assert _count(t, ann) == 6 and _count(t, bob) == 0
    assert report.held and report.skipped_tampered == 0
    # Cleared by a writer without the key: held, and the person's row refuses reads too.
    _raw(t, ann, legal_hold=None)
    assert t.retention.run().total == 0 and _count(t, ann) == 6


def test_the_run_checks_a_person_again_once_their_row_changes(home, db_url, clock):
    """A run remembers the people it has checked (it meets them batch after batch), but
    by their row and seal: the same person with a changed row, the seal left as it was,
    is checked again and refused."""
    from troth.store.subject_seals import SubjectChecker
    from troth.store.subjects import SUBJECT_COLUMNS

    t = home("itechno", db_url)
    ann = t.collect("account_signup", ACCOUNT).subject_id
    query = sa.select(*SUBJECT_COLUMNS, subjects.c.seal).where(subjects.c.id == ann)
    checker = SubjectChecker(t.ctx.keys, limit=2)
    with t.ctx.engine.connect() as conn:
        row = conn.execute(query).one()
    assert checker.matches(row[:-1], row[-1]) and checker.matches(row[:-1], row[-1])
    _raw(t, ann, legal_hold=not row.legal_hold)
    with t.ctx.engine.connect() as conn:
        changed = conn.execute(query).one()
    assert changed[-1] == row[-1]  # the writer could not seal it
    assert not checker.matches(changed[:-1], changed[-1])
    assert not checker.matches(row[:-1], None)  # a third row: past the limit, forgets
    assert checker.matches(row[:-1], row[-1])
