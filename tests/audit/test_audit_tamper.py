"""Tampering with the stored log or the heads file makes verify fail, naming where."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from audit_helpers import append_unsigned, build_context
from troth.audit import AuditEntry, append_entries, transaction, verify_log
from troth.audit.heads import read_heads
from troth.audit.merkle import leaf_hash
from troth.audit.tables import ENTRY_COLUMNS, audit_entries, audit_state, entry_bytes
from troth.context import Context
from troth.keys import Keyring

BATCHES = 4
PER_BATCH = 5  # heads at sizes 5, 10, 15, 20


@pytest.fixture(autouse=True, params=[3, 4, "default"])
def chunk(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Verify reads in chunks; small ones put heads and damage across chunk edges."""
    if request.param != "default":
        monkeypatch.setattr("troth.audit.verify._CHUNK", request.param)


@pytest.fixture
def ctx(tmp_path: Path, db_url: str) -> Iterator[Context]:
    c = build_context(tmp_path, db_url)
    for b in range(BATCHES):
        with transaction(c) as conn:
            append_entries(
                conn,
                c.clock.now(),
                [
                    AuditEntry(
                        action="use",
                        actor="staff:alice",
                        subject_id=f"s{b * PER_BATCH + i}",
                        purpose="billing",
                        categories=("contact",),
                        details={"i": b * PER_BATCH + i},
                    )
                    for i in range(PER_BATCH)
                ],
            )
    assert verify_log(c).ok
    yield c
    c.engine.dispose()


def sql(ctx: Context, statement: Any, **params: Any) -> None:
    with ctx.engine.begin() as conn:
        conn.execute(sa.text(statement) if isinstance(statement, str) else statement, params)


def fetch(ctx: Context, seq: int) -> dict[str, Any]:
    with ctx.engine.connect() as conn:
        row = conn.execute(sa.select(audit_entries).where(audit_entries.c.seq == seq)).one()
    return dict(row._mapping)


def rehash(row: dict[str, Any]) -> bytes:
    """What an attacker who knows the format computes for an edited row."""
    return leaf_hash(entry_bytes([row[c] for c in ENTRY_COLUMNS]))


def test_one_changed_byte_of_details_names_the_entry(ctx: Context) -> None:
    row = fetch(ctx, 7)
    details = row["details"].replace('"i":7', '"i":8')
    sql(ctx, "UPDATE audit_entries SET details = :d WHERE seq = 7", d=details)
    report = verify_log(ctx)
    assert not report.ok and report.first_bad_seq == 7
    assert "entry 7 was modified" in (report.problem or "")


@pytest.mark.parametrize("column", ["actor", "action", "subject_id", "purpose", "categories"])
def test_any_changed_field_names_the_entry(ctx: Context, column: str) -> None:
    value = '["health"]' if column == "categories" else "mallory"
    sql(ctx, sa.update(audit_entries).where(audit_entries.c.seq == 12).values({column: value}))
    assert verify_log(ctx).first_bad_seq == 12


def test_changed_time_names_the_entry(ctx: Context) -> None:
    row = fetch(ctx, 3)
    sql(
        ctx,
        sa.update(audit_entries)
        .where(audit_entries.c.seq == 3)
        .values(at=row["at"].replace(microsecond=1)),
    )
    assert verify_log(ctx).first_bad_seq == 3


def test_deleted_row_names_the_missing_entry(ctx: Context) -> None:
    sql(ctx, "DELETE FROM audit_entries WHERE seq = 11")
    report = verify_log(ctx)
    assert not report.ok and report.first_bad_seq == 11
    assert "entry 11 is missing" in (report.problem or "")


def test_deleted_last_rows_are_caught_by_the_signed_head(ctx: Context) -> None:
    sql(ctx, "DELETE FROM audit_entries WHERE seq >= 18")
    report = verify_log(ctx)
    assert not report.ok and report.first_bad_seq == 18 and report.bad_range == (18, 19)
    assert "deleted or the database was rolled back" in (report.problem or "")


def test_swapped_seqs_name_the_first_of_the_two(ctx: Context) -> None:
    sql(ctx, "UPDATE audit_entries SET seq = -1 WHERE seq = 4")
    sql(ctx, "UPDATE audit_entries SET seq = 4 WHERE seq = 13")
    sql(ctx, "UPDATE audit_entries SET seq = 13 WHERE seq = -1")
    report = verify_log(ctx)
    assert not report.ok and report.first_bad_seq == 4
    assert "moved or re-numbered" in (report.problem or "")


def test_inserted_row_at_the_end_is_not_in_the_tree(ctx: Context) -> None:
    row = fetch(ctx, 19)
    row.update(seq=20, actor="staff:mallory")
    row["leaf_hash"] = rehash(row)
    sql(ctx, sa.insert(audit_entries).values(row))
    report = verify_log(ctx)
    assert not report.ok and report.first_bad_seq == 20
    assert "inserted outside troth" in (report.problem or "")


def test_inserted_row_in_the_middle_shows_where_the_seqs_shift(ctx: Context) -> None:
    sql(ctx, "UPDATE audit_entries SET seq = seq + 1000 WHERE seq >= 6")
    sql(ctx, "UPDATE audit_entries SET seq = seq - 999 WHERE seq >= 1000")
    row = fetch(ctx, 5)
    row.update(seq=6, actor="staff:mallory")
    row["leaf_hash"] = rehash(row)
    sql(ctx, sa.insert(audit_entries).values(row))
    report = verify_log(ctx)
    assert not report.ok and report.first_bad_seq == 7


def test_edit_with_recomputed_leaf_hash_is_caught_between_two_heads(ctx: Context) -> None:
    row = fetch(ctx, 7)
    row["details"] = '{"i":700}'
    sql(
        ctx,
        sa.update(audit_entries)
        .where(audit_entries.c.seq == 7)
        .values(details=row["details"], leaf_hash=rehash(row)),
    )
    report = verify_log(ctx)
    assert not report.ok and report.bad_range == (5, 9)
    assert "entries 5..9 do not match the signed tree head of size 10" in (report.problem or "")


def test_edit_after_the_last_head_is_caught_by_the_stored_root(ctx: Context) -> None:
    append_unsigned(ctx, [AuditEntry(action="x", actor="system")] * 2)  # no head for these
    row = fetch(ctx, 21)
    row["action"] = "y"
    sql(
        ctx,
        sa.update(audit_entries)
        .where(audit_entries.c.seq == 21)
        .values(action="y", leaf_hash=rehash(row)),
    )
    report = verify_log(ctx)
    assert not report.ok and report.bad_range == (20, 21)


def test_database_rolled_back_behind_the_latest_head(ctx: Context) -> None:
    with ctx.engine.connect() as conn:
        saved = dict(conn.execute(sa.select(audit_state)).one()._mapping)
    with transaction(ctx) as conn:
        append_entries(conn, ctx.clock.now(), [AuditEntry(action="x", actor="system")] * 3)
    # Restore "last night's backup": the rows and the state exactly as they were.
    sql(ctx, "DELETE FROM audit_entries WHERE seq >= 20")
    sql(ctx, sa.update(audit_state).values(saved))
    report = verify_log(ctx)
    assert not report.ok and report.bad_range == (20, 22)
    assert "rolled back" in (report.problem or "")


def test_edited_state_row_is_caught(ctx: Context) -> None:
    sql(ctx, sa.update(audit_state).values(root="00" * 32))
    report = verify_log(ctx)
    assert not report.ok and "stored tree root" in (report.problem or "")


def _rewrite_heads(ctx: Context, edit: Any) -> None:
    path = ctx.settings.resolved_heads_file
    lines = path.read_text().splitlines()
    lines[1] = edit(json.loads(lines[1]))
    path.write_text("\n".join(lines) + "\n")


def test_edited_head_line_fails_its_signature(ctx: Context) -> None:
    _rewrite_heads(ctx, lambda h: json.dumps({**h, "root": "ab" * 32}))
    report = verify_log(ctx)
    assert not report.ok and "line 2: signature does not verify" in (report.problem or "")


def test_head_signed_with_another_key_fails(ctx: Context, tmp_path: Path) -> None:
    other = Keyring.create(tmp_path / "mallory.json")
    heads = read_heads(ctx)
    good = heads[1][1]
    assert good is not None

    def resign(h: dict[str, Any]) -> str:
        import base64

        sig = other.signing_key.sign(good.message())
        return json.dumps({**h, "sig": base64.b64encode(sig).decode()})

    _rewrite_heads(ctx, resign)
    report = verify_log(ctx)
    assert not report.ok and "signed with another key" in (report.problem or "")


def test_damaged_head_line_is_reported(ctx: Context) -> None:
    _rewrite_heads(ctx, lambda h: "{not json")
    report = verify_log(ctx)
    assert not report.ok and "line 2 is damaged" in (report.problem or "")
