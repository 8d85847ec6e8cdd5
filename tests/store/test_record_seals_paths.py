"""Record seals through troth's own changes: a correction, an erasure's legal keep, a key
rotation with re-encryption, a bulk collection and retention's anonymising each leave
every row sealed (reads work, verify passes); rotation and retention never seal over a
row changed outside troth; a home from before seals is sealed once by `troth db migrate`
and never again; values encrypted before category and point were bound still decrypt.
SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa

from troth.audit import verify_log
from troth.gate import Actor, ActorKind
from troth.store.keystore import rotate_keys
from troth.store.seals import RecordTampered
from troth.store.tables import records

SUPPORT = Actor(ActorKind.staff, "sam", role="support")
ACCOUNTS = Actor(ActorKind.staff, "ada", role="accounts")
CARD = "4111111111111111"
ORDER = {
    "name": "Ann Lee",
    "email": "ann@example.com",
    "address": "1 Main St",
    "card_number": CARD,
    "card_expiry": "12/29",
    "order_items": "1 widget",
}


def _request(t: Any, kind: str, email: str, **details: Any) -> None:
    req = t.requests.open(kind, email=email)
    t.requests.verify_by_staff(req.id, staff="alice", reason="known customer on the phone")
    if details:
        t.requests.set_details(req.id, **details)
    t.requests.execute(req.id)


def _seals(t: Any) -> dict[int, bytes]:
    with t.ctx.engine.connect() as conn:
        return {r.id: bytes(r.seal) for r in conn.execute(sa.select(records.c.id, records.c.seal))}


def test_troths_own_changes_keep_every_row_sealed(home, db_url):
    t = home("itechno", db_url)
    ann = t.collect("order_form", ORDER).subject_id
    bob = t.collect("order_form", {**ORDER, "name": "Bob", "email": "bob@example.com"}).subject_id
    many = t.collect_many("order_form", [{**ORDER, "email": f"p{i}@example.com"} for i in range(5)])
    assert verify_log(t.ctx).ok

    # A correction: a plain value and a sensitive one (re-encrypted).
    changes = {"name": "Ann Smith", "card_number": "5500000000000004"}
    _request(t, "correct", "ann@example.com", changes=changes)
    # An erasure: the invoice's values kept (tax law), restricted to billing.
    _request(t, "delete", "bob@example.com")
    report = verify_log(t.ctx)
    assert report.ok and report.bad_records == [], report.problem
    view = t.use(ann, purpose="billing", actor=ACCOUNTS)
    assert view.get("name") == "Ann Smith" and view.get("card_number") == "5500000000000004"
    assert t.use(bob, purpose="billing", actor=ACCOUNTS).get("name") == "Bob"  # restricted

    # Key rotation, re-encrypting every value under new data keys, old keys retired.
    before = _seals(t)
    rotated = rotate_keys(t.ctx, reencrypt=True, retire_old=True, pause=lambda s: None)
    assert rotated.reencrypted_values > 0
    after = _seals(t)
    with t.ctx.engine.connect() as conn:
        encrypted = set(
            conn.execute(sa.select(records.c.id).where(records.c.ciphertext.is_not(None)))
            .scalars()
            .all()
        )
    assert {i for i in after if after[i] != before[i]} == encrypted  # new ciphertexts, new seals
    assert verify_log(t.ctx).ok
    assert t.use(ann, purpose="billing", actor=ACCOUNTS).get("card_number") == "5500000000000004"
    assert t.use(many[4].subject_id, purpose="billing", actor=ACCOUNTS).get("card_number") == CARD


def test_rotation_refuses_to_reencrypt_a_row_changed_outside_troth(home, db_url):
    t = home("itechno", db_url)
    ann = t.collect("order_form", ORDER).subject_id
    with t.ctx.engine.begin() as conn:
        conn.execute(
            sa.update(records)
            .where(records.c.subject_id == ann, records.c.field == "card_number")
            .values(category="identity")
        )
    before = _seals(t)
    with pytest.raises(RecordTampered, match="does not match its seal"):
        rotate_keys(t.ctx, reencrypt=True, pause=lambda s: None)
    assert _seals(t) == before  # nothing sealed over it
    assert not verify_log(t.ctx).ok


def _usage_policy(p: dict[str, Any]) -> None:
    point = next(cp for cp in p["collection_points"] if cp["id"] == "site_usage")
    point["fields"]["seen_on"] = {"category": "usage", "type": "date"}


def test_anonymising_reseals_and_leaves_a_tampered_row_alone(home, db_url, clock):
    t = home("itechno", db_url, edit=_usage_policy)
    visits = [
        {"event": "download", "browser": "Firefox", "seen_on": "2026-03-02"},
        {"event": "login", "browser": "Safari", "seen_on": "2026-03-05"},
    ]
    first, second = (t.collect("site_usage", v).subject_id for v in visits)
    with t.ctx.engine.begin() as conn:
        bad = conn.execute(
            sa.update(records)
            .where(records.c.subject_id == second, records.c.field == "event")
            .values(value=json.dumps("upload"))
            .returning(records.c.id)
        ).scalar_one()
    clock.advance(days=2 * 366)
    report = t.retention.run()
    assert report.skipped_tampered == 1
    assert sum(n for (a, _c), n in report.done.items() if a == "anonymise") == 5  # the rest
    with t.ctx.engine.connect() as conn:
        left = {r.id: r for r in conn.execute(sa.select(records))}
    assert not left[bad].anonymised and left[bad].subject_id == second  # as the writer left it
    assert all(r.anonymised and r.subject_id != first for i, r in left.items() if i != bad)
    check = verify_log(t.ctx)
    assert not check.ok and check.bad_records == [bad]


def test_a_home_from_before_seals_is_sealed_once_by_db_migrate(home, db_url, capsys, monkeypatch):
    """A home made and filled before record seals (its first policy's entry does not say
    it seals; its rows have no seal column), then `troth db migrate`: every row sealed,
    audited, once. A seal cleared afterwards, or the column dropped and the schema wound
    back for migrate to run again, is never sealed over."""
    import troth.policy.versions as versions
    from cli_runner import run
    from troth.audit.entries import list_entries

    monkeypatch.setattr(versions, "SEALED_FLAG", "not_a_flag")  # as troth before seals
    monkeypatch.setattr(versions, "SUBJECTS_SEALED_FLAG", "not_a_flag")  # nor people's
    # Nor identities' (schema 0016): winding back to 0006 drops the identities, and the
    # migration that makes them again copies each person's newest address unsealed.
    monkeypatch.setattr(versions, "ROWS_SEALED_FLAG", "not_a_flag")
    monkeypatch.setattr(versions, "OUTBOX_SEALED_FLAG", "not_a_flag")  # nor the outbox's (0021)
    t = home("itechno", db_url, fresh=True)
    ann = t.collect("order_form", ORDER).subject_id
    t.close()
    _before_seals(t)
    h = str(t.ctx.home)

    code, out, _ = run(capsys, "--home", h, "db", "migrate")
    assert code == 0 and "sealed 6 stored values" in out
    t = _reopen(t)
    sealed = [e.entry for e in list_entries(t.ctx, action="records.sealed")]
    assert [e.details for e in sealed] == [{"sealed": 6}]
    assert verify_log(t.ctx).ok
    assert t.use(ann, purpose="billing", actor=ACCOUNTS).get("card_number") == CARD

    # Once: migrate again seals nothing, and a cleared seal stays refused.
    with t.ctx.engine.begin() as conn:
        conn.execute(
            sa.update(records)
            .where(records.c.subject_id == ann, records.c.field == "address")
            .values(seal=None, category="identity")
        )
    code, out, _ = run(capsys, "--home", h, "db", "migrate")
    assert code == 0 and "sealed" not in out
    with pytest.raises(RecordTampered):
        t.use(ann, purpose="order_fulfilment", actor=SUPPORT)
    # The column dropped and the schema wound back: migrate adds it again, seals nothing.
    t.close()
    _before_seals(t)
    code, out, _ = run(capsys, "--home", h, "db", "migrate")
    assert code == 0 and "sealed" not in out
    t = _reopen(t)
    with pytest.raises(RecordTampered):
        t.use(ann, purpose="billing", actor=ACCOUNTS)
    assert len(verify_log(t.ctx).bad_records) == 6


def _before_seals(t: Any) -> None:
    """The home's database wound back to the schema before seals (the column dropped)."""
    from alembic import command

    from troth.migrations import alembic_config

    command.downgrade(alembic_config(t.ctx.settings.resolved_database_url), "0006_bulk")


def _reopen(t: Any) -> Any:
    """The home opened again (another process's view), closed at the end of the test."""
    import troth

    again = troth.open(t.ctx.home, clock=t.ctx.clock)
    _OPENED.append(again)
    return again


_OPENED: list[Any] = []


@pytest.fixture(autouse=True)
def _close_reopened():
    yield
    while _OPENED:
        _OPENED.pop().close()


def test_a_new_home_is_sealed_from_its_first_day(home, db_url, capsys):
    """A home made now never seals a row afterwards: a cleared seal stays refused."""
    from cli_runner import run

    t = home("itechno", db_url)
    ann = t.collect("order_form", ORDER).subject_id
    with t.ctx.engine.begin() as conn:
        conn.execute(sa.update(records).where(records.c.subject_id == ann).values(seal=None))
    t.close()
    code, out, _ = run(capsys, "--home", str(t.ctx.home), "db", "migrate")
    assert code == 0 and "sealed" not in out
    with pytest.raises(RecordTampered):
        _reopen(t).use(ann, purpose="billing", actor=ACCOUNTS)


def test_values_encrypted_before_category_and_point_were_bound_still_decrypt():
    from troth.errors import CryptoError
    from troth.store import crypto

    dek = crypto.new_data_key()
    old = crypto._seal(dek, b'"4111"', crypto._value_ad("s1", "card_number", 1))
    tags = {"category": "payment_card", "point": "order_form"}
    assert crypto.decrypt_value(dek, "s1", "card_number", 1, old, **tags) == b'"4111"'
    new = crypto.encrypt_value(dek, "s1", "card_number", 1, b'"4111"', **tags)
    assert crypto.decrypt_value(dek, "s1", "card_number", 1, new, **tags) == b'"4111"'
    # A new ciphertext is bound to its category and point, and never opens as an old one.
    for other in ({**tags, "category": "identity"}, {**tags, "point": "account_signup"}):
        with pytest.raises(CryptoError, match="does not authenticate"):
            crypto.decrypt_value(dek, "s1", "card_number", 1, new, **other)
    with pytest.raises(CryptoError):
        crypto._open(dek, new, crypto._value_ad("s1", "card_number", 1), lambda: "no")
