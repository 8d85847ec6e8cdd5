"""`troth audit verify|proof|show|head` on a real home."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from cli_runner import run
from troth.audit import AuditEntry, append_entries, transaction, verify_proof
from troth.context import Context


@pytest.fixture
def home_path(home: Any, db_url: str) -> Path:
    ctx: Context = home("itechno", db_url, clock=None, context=True)
    path = ctx.home
    with transaction(ctx) as conn:
        append_entries(
            conn,
            ctx.clock.now(),
            [
                AuditEntry(
                    action="use",
                    actor="staff:alice",
                    subject_id=f"s{i % 2}",
                    purpose="billing",
                    categories=("contact",),
                    details={"i": i},
                )
                for i in range(6)
            ],
        )
    ctx.engine.dispose()
    return path


def test_verify_ok_then_tampered(capsys: pytest.CaptureFixture[str], home_path: Path) -> None:
    code, out, _ = run(capsys, "--home", str(home_path), "audit", "verify")
    assert code == 0 and "audit log verified" in out and "7 entries" in out
    code, out, _ = run(capsys, "--home", str(home_path), "audit", "verify", "--json")
    assert code == 0 and json.loads(out)["ok"] is True
    from troth.home import open_context

    ctx = open_context(home_path)
    with ctx.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE audit_entries SET details = :d WHERE seq = 4"), {"d": '{"i":9}'}
        )
    ctx.engine.dispose()
    code, _, err = run(capsys, "--home", str(home_path), "audit", "verify")
    assert code == 1 and "does NOT verify" in err and "entry 4 was modified" in err


def test_proof_json_verifies_standalone(
    capsys: pytest.CaptureFixture[str], home_path: Path
) -> None:
    code, out, _ = run(capsys, "--home", str(home_path), "audit", "proof", "3", "--json")
    assert code == 0
    proof = json.loads(out)
    assert verify_proof(proof, proof["public_key"])
    code, out, _ = run(capsys, "--home", str(home_path), "audit", "proof", "3")
    assert code == 0 and "proof verifies" in out and "size 7" in out
    code, _, err = run(capsys, "--home", str(home_path), "audit", "proof", "70")
    assert code == 1 and "no audit entry 70" in err


def test_show_and_head(capsys: pytest.CaptureFixture[str], home_path: Path) -> None:
    code, out, _ = run(
        capsys, "--home", str(home_path), "audit", "show", "--subject", "s1", "--json"
    )
    assert code == 0
    rows = json.loads(out)
    assert [r["seq"] for r in rows] == [6, 4, 2]
    assert {r["actor"] for r in rows} == {"staff:alice"}
    code, out, _ = run(capsys, "--home", str(home_path), "audit", "show", "--limit", "2")
    assert code == 0 and "staff:alice" in out and "billing" in out
    code, out, _ = run(capsys, "--home", str(home_path), "audit", "show", "--subject", "nobody")
    assert code == 0 and "no audit entries match" in out
    code, out, err = run(capsys, "--home", str(home_path), "audit", "head")
    assert code == 0 and json.loads(out)["size"] == 7 and "audit-heads.jsonl" in err


def test_not_a_home(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "--home", str(tmp_path), "audit", "verify")
    assert code == 1 and "not a troth home" in err
