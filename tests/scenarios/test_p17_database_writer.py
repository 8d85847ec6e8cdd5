"""P17 against whoever can write the database but not the key file (issue 20, items 2 and
9): a forged append with a recomputed tree state is refused by every process and caught by
verify; a deleted or emptied heads file fails verify; a heads file that cannot be written
stops the operation before anything is committed. SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
import os
import stat
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

import troth
from troth.audit import read_heads, sign_head, verify_log
from troth.audit.merkle import CompactRange, leaf_hash
from troth.audit.tables import ENTRY_COLUMNS, audit_entries, audit_state, entry_bytes
from troth.audit.verify import UNSIGNED_SLACK_SECONDS
from troth.errors import ConfigError, IntegrityError
from troth.store.tables import subjects

ANN = {"name": "Ann", "email": "ann@example.com", "plan": "Pro"}
CONSENTS = ["billing", "client_relations", "customer_service"]


def _collect(t: Any, email: str = "ann@example.com") -> str:
    return str(t.collect("subscription", {**ANN, "email": email}, consents=CONSENTS).subject_id)


def _count(t: Any, table: sa.Table) -> int:
    with t.ctx.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def _forge_append(t: Any, action: str = "delete_everything") -> int:
    """What a database writer does: insert an entry after the last one, with its correct
    leaf hash, and recompute the state row (size, root, frontier) over every leaf."""
    with t.ctx.engine.begin() as conn:
        leaves = [
            bytes(h)
            for h in conn.execute(
                sa.select(audit_entries.c.leaf_hash).order_by(audit_entries.c.seq)
            ).scalars()
        ]
        seq = len(leaves)
        row = {
            "seq": seq,
            "at": t.ctx.clock.now(),
            "actor": "staff:mallory",
            "action": action,
            "outcome": "allow",
            "subject_id": None,
            "tenant_id": None,
            "purpose": None,
            "categories": "[]",
            "reason": None,
            "details": "{}",
        }
        canon = [row[c] for c in ENTRY_COLUMNS]
        leaf = leaf_hash(entry_bytes(canon))
        conn.execute(sa.insert(audit_entries).values(**row, leaf_hash=leaf))
        frontier = CompactRange()
        for h in [*leaves, leaf]:
            frontier.append(h)
        conn.execute(
            sa.update(audit_state).values(
                size=frontier.size, root=frontier.root().hex(), frontier=frontier.to_json()
            )
        )
    return seq


def test_p17_a_forged_append_with_a_recomputed_state_is_refused_and_caught(home, db_url):
    t = home("ixanet", db_url)
    _collect(t)
    assert verify_log(t.ctx).ok
    heads_before = read_heads(t.ctx)
    people = _count(t, subjects)
    seq = _forge_append(t)

    report = verify_log(t.ctx)
    assert not report.ok and "not sealed with this home's key" in str(report.problem)
    assert report.bad_range == (seq, seq)

    # The next ordinary operation, in this process and in a fresh one, refuses to append
    # to the forged tree: nothing is stored and no head is signed over it.
    again = troth.open(t.ctx.home, clock=t.ctx.clock)
    for who in (t, again):
        with pytest.raises(IntegrityError, match="written outside troth"):
            _collect(who, "bob@example.com")
        with pytest.raises(IntegrityError, match="written outside troth"):
            sign_head(who.ctx)
    again.close()
    assert _count(t, subjects) == people
    assert read_heads(t.ctx) == heads_before
    assert max(h.size for _, h, _ in read_heads(t.ctx) if h) == seq


def test_p17_a_forged_state_that_copies_an_old_seal_is_still_refused(home, db_url):
    t = home("ixanet", db_url)
    _collect(t)
    with t.ctx.engine.connect() as conn:
        old_seal = json.loads(conn.execute(sa.select(audit_state.c.frontier)).scalar_one())["seal"]
    _forge_append(t)
    with t.ctx.engine.begin() as conn:
        text = conn.execute(sa.select(audit_state.c.frontier)).scalar_one()
        conn.execute(
            sa.update(audit_state).values(frontier=text[:-1] + f', "seal": "{old_seal}"}}')
        )
    assert "not sealed" in str(verify_log(t.ctx).problem)
    with pytest.raises(IntegrityError):
        _collect(troth.open(t.ctx.home, clock=t.ctx.clock), "bob@example.com")


def test_p17_a_restored_old_state_is_refused_by_a_fresh_process(home, db_url):
    """Last night's sealed state restored and the entries since deleted: a process that
    opens the home afterwards sees the state behind the latest signed head and refuses."""
    t = home("ixanet", db_url)
    _collect(t)
    with t.ctx.engine.connect() as conn:
        saved = dict(conn.execute(sa.select(audit_state)).one()._mapping)
    _collect(t, "bob@example.com")
    with t.ctx.engine.begin() as conn:
        conn.execute(sa.delete(audit_entries).where(audit_entries.c.seq >= saved["size"]))
        conn.execute(sa.update(audit_state).values(saved))
    assert "rolled back" in str(verify_log(t.ctx).problem)
    for who in (t, troth.open(t.ctx.home, clock=t.ctx.clock)):
        with pytest.raises(IntegrityError, match="rolled back"):
            _collect(who, "cy@example.com")


@pytest.mark.parametrize("how", ["deleted", "emptied"])
def test_p17_a_deleted_or_emptied_heads_file_fails_verify(home, db_url, how):
    t = home("ixanet", db_url)
    _collect(t)
    path = t.ctx.settings.resolved_heads_file
    if how == "deleted":
        path.unlink()
    else:
        path.write_text("")
    report = verify_log(t.ctx)
    assert not report.ok and report.heads_checked == 0
    expected = "is missing" if how == "deleted" else "holds no signed head"
    assert f"the heads file {path} {expected}" in str(report.problem)
    # ...and a forged append with the tree recomputed is still caught (the state's seal).
    _forge_append(t)
    report = verify_log(t.ctx)
    assert not report.ok and "not sealed with this home's key" in str(report.problem)


def test_p17_heads_fewer_than_the_log_and_the_interval_imply_fail_verify(home, db_url):
    t = home("ixanet", db_url)
    _collect(t)
    path = t.ctx.settings.resolved_heads_file
    first = path.read_text().splitlines()[0]
    _collect(t, "bob@example.com")
    path.write_text(first + "\n")  # the latest heads lost
    report = verify_log(t.ctx)
    assert report.ok and report.unsigned > 0, "within the interval and slack: fine"
    t.ctx.clock.advance(seconds=UNSIGNED_SLACK_SECONDS + 1)
    report = verify_log(t.ctx)
    assert not report.ok and "have no signed head although the first was written" in str(
        report.problem
    )


def test_p17_an_unwritable_heads_file_stores_nothing_and_a_retry_no_duplicate(home, db_url):
    t = home("ixanet", db_url)
    _collect(t)
    path = t.ctx.settings.resolved_heads_file
    people, entries = _count(t, subjects), _count(t, audit_entries)
    path.unlink()
    path.mkdir()  # a directory where the heads file should be
    for _ in range(2):  # the retry too
        with pytest.raises(ConfigError, match="cannot write the audit heads file"):
            _collect(t, "bob@example.com")
    assert (_count(t, subjects), _count(t, audit_entries)) == (people, entries)
    report = verify_log(t.ctx)  # reports, never raises
    assert not report.ok and "cannot be read" in str(report.problem)
    path.rmdir()
    _collect(t, "bob@example.com")
    assert _count(t, subjects) == people + 1
    assert len(read_heads(t.ctx)) == 1


def test_p17_heads_live_beside_the_key_file_0600(home, db_url, tmp_path):
    t = home("ixanet", db_url)
    heads = t.ctx.settings.resolved_heads_file
    assert heads.parent == t.ctx.settings.resolved_key_file.parent
    assert stat.S_IMODE(heads.stat().st_mode) == 0o600
    os.chmod(heads, 0o644)  # a file from before: made 0600 when next opened
    other = troth.open(t.ctx.home, clock=t.ctx.clock)
    _collect(other)
    other.close()
    assert stat.S_IMODE(heads.stat().st_mode) == 0o600
    # A key file elsewhere takes the heads with it, away from the database.
    keys = tmp_path / "secrets" / "keys.json"
    keys.parent.mkdir()
    os.replace(t.ctx.settings.resolved_key_file, keys)
    moved = troth.open(t.ctx.home, clock=t.ctx.clock, key_file=keys)
    assert moved.ctx.settings.resolved_heads_file == keys.parent / "audit-heads.jsonl"
    moved.close()


def test_p17_entries_signed_long_ago_still_verify(home, db_url):
    """A year end and another time zone later, signed entries are not 'stale'."""
    t = home("ixanet", db_url)
    _collect(t)
    t.ctx.clock.advance(days=400)
    assert verify_log(t.ctx).ok
    t.ctx.clock.advance(seconds=-timedelta(days=1).total_seconds())
    assert verify_log(t.ctx).ok


def test_p17_a_key_holder_without_the_database_only_makes_verify_fail(home, db_url):
    """With the key file alone: a correctly signed head over another root at the log's size
    does not make the stored entries say something else; verify fails."""
    from troth.audit.heads import SignedHead
    from troth.db import dumps

    t = home("ixanet", db_url)
    _collect(t)
    size = verify_log(t.ctx).size
    at = t.ctx.clock.now().isoformat()
    forged = SignedHead(size, "ab" * 32, at, "")
    sig = t.ctx.keys.signing_key.sign(forged.message())
    forged = SignedHead(size, "ab" * 32, at, base64.b64encode(sig).decode())
    path = t.ctx.settings.resolved_heads_file
    path.write_text(path.read_text() + dumps(forged.to_dict()) + "\n")
    report = verify_log(t.ctx)
    assert not report.ok and f"sign different roots for size {size}" in str(report.problem)


def test_p17_troth_audit_verify_exits_1_saying_what_is_wrong(home, db_url, capsys):
    from cli_runner import run

    t = home("ixanet", db_url)
    _collect(t)
    home_dir = str(t.ctx.home)
    code, out, _ = run(capsys, "--home", home_dir, "audit", "verify")
    assert code == 0 and "audit log verified" in out
    heads = t.ctx.settings.resolved_heads_file
    heads.unlink()
    code, _, err = run(capsys, "--home", home_dir, "audit", "verify")
    assert code == 1 and "is missing" in err and "does NOT verify" in err
    heads.mkdir()
    code, _, err = run(capsys, "--home", home_dir, "audit", "verify")
    assert code == 1 and "cannot be read" in err
    heads.rmdir()
    _forge_append(t)
    code, _, err = run(capsys, "--home", home_dir, "audit", "verify")
    assert code == 1 and "not sealed" in err
