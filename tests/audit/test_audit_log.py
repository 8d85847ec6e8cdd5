"""The audit log on a real database: appends, signed heads, listing, proofs, bad input."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from audit_helpers import append_unsigned, build_context, entry
from troth.audit import (
    AuditEntry,
    Outcome,
    accessed_subjects,
    append_entries,
    append_entry,
    consistency_proof,
    entry_bytes,
    inclusion_proof,
    list_entries,
    sign_head,
    transaction,
    verify_log,
    verify_proof,
)
from troth.audit.heads import read_heads
from troth.audit.log import read_state
from troth.audit.merkle import EMPTY_ROOT, verify_consistency
from troth.audit.tables import audit_entries
from troth.clock import ManualClock
from troth.context import Context
from troth.db import dumps
from troth.errors import NotFound, ValidationError
from troth.keys import Keyring


@pytest.fixture
def ctx(tmp_path: Path, db_url: str) -> Context:
    c = build_context(tmp_path, db_url)
    yield c
    c.engine.dispose()


def test_append_in_transaction_writes_gapless_seqs_and_a_signed_head(ctx: Context) -> None:
    with transaction(ctx) as conn:
        assert append_entries(conn, ctx.clock.now(), [entry(i) for i in range(5)]) == [
            0,
            1,
            2,
            3,
            4,
        ]
        assert append_entry(conn, ctx.clock.now(), entry(5)) == 5
    heads = read_heads(ctx)
    assert len(heads) == 1
    _, head, err = heads[0]
    assert err is None and head is not None
    assert head.size == 6 and head.verify(ctx.keys.public_key)
    with ctx.engine.connect() as conn:
        assert read_state(conn) == (6, head.root)
    report = verify_log(ctx)
    assert report.ok, report.problem
    assert (report.size, report.root, report.unsigned, report.heads_checked) == (6, head.root, 0, 1)


def test_no_head_when_nothing_appended_or_rolled_back(ctx: Context) -> None:
    with transaction(ctx) as conn:
        conn.execute(sa.text("SELECT 1"))
    with pytest.raises(RuntimeError), transaction(ctx) as conn:
        append_entries(conn, ctx.clock.now(), [entry(0)])
        raise RuntimeError("the change failed")
    assert read_heads(ctx) == []
    with ctx.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(audit_entries)).scalar() == 0
        assert read_state(conn) == (0, EMPTY_ROOT.hex())
    report = verify_log(ctx)
    assert report.ok and report.size == 0 and report.root == EMPTY_ROOT.hex()


def test_entry_bytes_is_canonical_json_of_every_field(ctx: Context) -> None:
    at = datetime(2026, 1, 5, 9, 0, 0, 123456, tzinfo=UTC)
    with transaction(ctx) as conn:
        append_entries(conn, at, [entry(0, reason="why", tenant_id="t1", outcome=Outcome.deny)])
    (logged,) = list_entries(ctx)
    data = logged.to_dict()
    expected = dumps(
        {
            "seq": 0,
            "at": "2026-01-05T09:00:00.123456+00:00",
            "actor": "staff:user0",
            "action": "use",
            "outcome": "deny",
            "subject_id": "s1",
            "tenant_id": "t1",
            "purpose": "billing",
            "categories": ["contact"],
            "reason": "why",
            "details": {"n": 0, "note": 'héllo \u2028 "q"'},
        }
    )
    row = [data[k] for k in ("seq", "at", "actor", "action", "outcome", "subject_id")]
    row += [data["tenant_id"], data["purpose"], dumps(data["categories"]), data["reason"]]
    row += [dumps(data["details"])]
    assert entry_bytes(row) == expected.encode()
    assert logged.at == at
    assert verify_log(ctx).ok


text = st.text(max_size=20).filter(lambda s: not any(0xD800 <= ord(c) <= 0xDFFF for c in s))


@settings(max_examples=200, deadline=None)
@given(
    seq=st.integers(0, 10**12),
    strings=st.lists(st.one_of(st.none(), text), min_size=4, max_size=4),
    actor=text.filter(bool),
    cats=st.lists(text, max_size=3),
    details=st.dictionaries(text, st.one_of(st.integers(), text, st.none())),
)
def test_entry_bytes_equals_db_dumps(
    seq: int, strings: list[str | None], actor: str, cats: list[str], details: dict[str, object]
) -> None:
    subject, tenant, purpose, reason = strings
    at = "2026-01-05T09:00:00+00:00"
    fields = {
        "seq": seq,
        "at": at,
        "actor": actor,
        "action": "use",
        "outcome": "allow",
        "subject_id": subject,
        "tenant_id": tenant,
        "purpose": purpose,
        "categories": cats,
        "reason": reason,
        "details": details,
    }
    row = (seq, at, actor, "use", "allow", subject, tenant, purpose, dumps(cats), reason)
    assert entry_bytes((*row, dumps(details))) == dumps(fields).encode()


def test_list_entries_filters_and_pages(ctx: Context) -> None:
    clock = ctx.clock
    assert isinstance(clock, ManualClock)
    t0 = clock.now()
    for day in range(4):
        with transaction(ctx) as conn:
            append_entries(
                conn,
                clock.now(),
                [entry(day, subject=f"s{day % 2}"), entry(day, subject=None, action="policy")],
            )
        clock.advance(days=1)
    assert [e.seq for e in list_entries(ctx, subject_id="s1")] == [2, 6]
    assert [e.seq for e in list_entries(ctx, actor="staff:user0")] == [0, 1, 6, 7]
    window = list_entries(ctx, since=t0 + timedelta(days=1), until=t0 + timedelta(days=3))
    assert [e.seq for e in window] == [2, 3, 4, 5]
    assert [e.seq for e in list_entries(ctx, limit=3, after_seq=2)] == [3, 4, 5]
    assert [e.seq for e in list_entries(ctx, limit=2, newest_first=True)] == [7, 6]
    assert [e.seq for e in list_entries(ctx, limit=2, newest_first=True, after_seq=6)] == [5, 4]
    got = list_entries(ctx, subject_id="s0", limit=1)[0]
    assert got.entry == entry(0, subject="s0")
    with ctx.engine.connect() as conn:
        assert accessed_subjects(conn, t0, t0 + timedelta(days=2)) == ["s0", "s1"]
        assert accessed_subjects(conn, t0 + timedelta(days=2), t0 + timedelta(days=3)) == ["s0"]
    with pytest.raises(ValidationError, match="limit"):
        list_entries(ctx, limit=0)


def test_inclusion_proof_verifies_standalone_and_fails_when_altered(ctx: Context) -> None:
    for batch in range(3):
        with transaction(ctx) as conn:
            append_entries(conn, ctx.clock.now(), [entry(batch * 7 + i) for i in range(7)])
    public = ctx.keys.public_key_b64()
    for seq in range(21):
        proof = inclusion_proof(ctx, seq)
        assert proof["size"] == 21 and proof["index"] == seq
        assert verify_proof(json.loads(json.dumps(proof)), public)
    proof = inclusion_proof(ctx, 9)
    assert not verify_proof({**proof, "index": 10}, public)
    assert not verify_proof({**proof, "entry": proof["entry"].replace("staff", "stuff")}, public)
    assert not verify_proof({**proof, "path": proof["path"][:-1]}, public)
    assert not verify_proof({**proof, "root": "00" * 32}, public)
    assert not verify_proof({**proof, "head": {**proof["head"], "size": 22}}, public)
    assert not verify_proof({"nonsense": True}, public)
    other = Keyring.create(ctx.home / "other-keys.json").public_key_b64()
    assert not verify_proof(proof, other)
    with pytest.raises(NotFound, match="no audit entry 99"):
        inclusion_proof(ctx, 99)


def test_proof_for_an_entry_after_the_last_head_signs_a_checkpoint(ctx: Context) -> None:
    append_unsigned(ctx, [entry(i) for i in range(3)])
    report = verify_log(ctx)
    assert not report.ok and "holds no signed head but the log holds 3 entries" in str(
        report.problem
    ), "entries and no head at all: verify fails (issue 20, item 2)"
    proof = inclusion_proof(ctx, 2)
    assert verify_proof(proof, ctx.keys.public_key_b64())
    assert len(read_heads(ctx)) == 1
    head = sign_head(ctx)
    assert head.size == 3 and verify_log(ctx).unsigned == 0


def test_consistency_proof_between_heads(ctx: Context) -> None:
    sizes = []
    for batch in range(4):
        with transaction(ctx) as conn:
            append_entries(conn, ctx.clock.now(), [entry(i) for i in range(batch + 2)])
        sizes.append(read_heads(ctx)[-1][1])
    first, last = sizes[0], sizes[-1]
    assert first is not None and last is not None
    proof = consistency_proof(ctx, first.size, last.size)
    assert proof["root1"] == first.root and proof["root2"] == last.root
    path = [bytes.fromhex(p) for p in proof["path"]]
    assert verify_consistency(
        first.size, last.size, bytes.fromhex(first.root), bytes.fromhex(last.root), path
    )
    with pytest.raises(ValidationError):
        consistency_proof(ctx, 10, 3)


def test_bad_entries_are_refused_and_nothing_is_half_stored(ctx: Context) -> None:
    now = ctx.clock.now()
    bad = [
        (AuditEntry(action="", actor="system"), "action and an actor"),
        (AuditEntry(action="use", actor="x" * 300), "actor is longer than 255"),
        (AuditEntry(action="use", actor="system", outcome="maybe"), "maybe"),  # type: ignore[arg-type]
        (AuditEntry(action="use", actor="system", reason="\ud800"), "not valid text"),
    ]
    for item, message in bad:
        with pytest.raises(ValidationError, match=message), transaction(ctx) as conn:
            append_entries(conn, now, [entry(0), item])
    with pytest.raises(ValidationError, match="timezone-aware"), transaction(ctx) as conn:
        append_entries(conn, datetime(2026, 1, 1), [entry(0)])
    with pytest.raises(ValidationError, match="AuditEntry"), transaction(ctx) as conn:
        append_entries(conn, now, [{"action": "use"}])  # type: ignore[list-item]
    assert list_entries(ctx) == []
    assert read_heads(ctx) == []
    assert verify_log(ctx).ok


def test_verify_reports_progress(ctx: Context) -> None:
    with transaction(ctx) as conn:
        append_entries(conn, ctx.clock.now(), [entry(i) for i in range(30)])
    seen: list[tuple[int, int]] = []
    assert verify_log(ctx, progress=lambda done, total: seen.append((done, total))).ok
    assert seen and seen[-1] == (30, 30)
