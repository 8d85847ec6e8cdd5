"""The public Python API as an application uses it: typed (mypy --strict on
tests/public_api_app.py, with no ``Any`` at the front door) and working (the same module
run on a real home)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import troth
from repo_paths import ROOT, TESTS
from troth.clock import ManualClock

APP = TESTS / "public_api_app.py"

REVEAL = """\
import troth

t = troth.open("home")
reveal_type(troth.open)
reveal_type(t)
reveal_type(t.policy)
reveal_type(t.policy.current)
reveal_type(t.audit)
reveal_type(t.audit.verify())
reveal_type(t.keys)
reveal_type(t.consent)
reveal_type(t.requests)
reveal_type(t.access)
reveal_type(t.retention)
reveal_type(t.disclosures)
reveal_type(t.breaches)
reveal_type(t.discovery)
reveal_type(t.collect("order_form", {}))
reveal_type(t.use("s", purpose="billing", actor=troth.Actor(troth.ActorKind.system, "x")))
reveal_type(t.aggregate("p", "c", "f"))
reveal_type(t.report_minor("s", evidence="e"))
reveal_type(t.policy.versions())
reveal_type(t.audit.inclusion_proof(0))
"""
EXPECTED = [
    r"^def \(home: .*\) -> troth\.engine\.Troth$",
    r"\.Troth$",
    r"\.PolicyService$",
    r"\.Policy$",
    r"\.AuditService$",
    r"\.VerifyReport$",
    r"\.KeyService$",
    r"\.ConsentLedger$",
    r"\.RequestService$",
    r"\.AccessService$",
    r"\.RetentionService$",
    r"\.DisclosureService$",
    r"\.BreachRegister$",
    r"\.DiscoveryService$",
    r"\.CollectResult$",
    r"\.View$",
    r"\.AggregateResult$",
    r"^TypedDict\(troth\.engine\.MinorErasure, ",
    r"^list\[TypedDict\([a-z.]+\.PolicyVersion, ",
    r"^TypedDict\([a-z.]+\.InclusionProof, .*'head': TypedDict\(",
]

# What a typed front door catches and `Any` let through: each line one error.
MISUSE = """\
from datetime import date
import troth

t = troth.open("home")
t.policy.publsh("policy.yaml")
t.use("s", purpose=1, actor=troth.Actor(troth.ActorKind.system, "x"))
n: int = troth.open("home")
t.keys.rotate(reencrypt="yes")
t.audit.verify().okay
t.policy.publish("policy.yaml", effective="2026-01-01")
t.collect("order_form", {"n": 1}).subject
"""


def _mypy(*files: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MYPYPATH": str(ROOT / "src")}
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", *map(str, files)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_the_public_api_is_typed_for_an_application(tmp_path: Path) -> None:
    reveal = tmp_path / "reveal_api.py"
    reveal.write_text(REVEAL)
    misuse = tmp_path / "misuse_api.py"
    misuse.write_text(MISUSE)
    done = _mypy(APP, reveal, misuse)
    lines = done.stdout.splitlines()

    # The application type-checks under --strict: no error names it.
    assert not [line for line in lines if line.startswith(str(APP.relative_to(ROOT)))], done.stdout

    # Every entry point has a precise type: no Any anywhere in what mypy reveals.
    revealed = [
        line.split("Revealed type is ", 1)[1].strip("\"'")
        for line in lines
        if "Revealed type" in line
    ]
    assert len(revealed) == len(EXPECTED), done.stdout + done.stderr
    assert not [r for r in revealed if "Any" in r], "\n".join(revealed)
    # Class names only: the modules behind them may move, the front door stays.
    for shown, expected in zip(revealed, EXPECTED, strict=True):
        assert re.search(expected, shown), (shown, expected)

    # And misuse is caught, line by line, with the error mypy gives for it.
    errors = {
        int(m.group(1)): m.group(2)
        for line in lines
        if (m := re.search(r"\bmisuse_api\.py:(\d+): error: .*\[([a-z-]+)\]$", line))
    }
    assert errors == {
        5: "attr-defined",
        6: "arg-type",
        7: "assignment",
        8: "arg-type",
        9: "attr-defined",
        10: "arg-type",
        11: "attr-defined",
    }, done.stdout
    assert done.returncode == 1  # the misuse, and only the misuse


def test_the_application_runs_on_a_real_home(home: Any, clock: ManualClock, db_url: str) -> None:
    from public_api_app import run

    made = home("itechno", db=None if db_url.startswith("sqlite") else db_url)
    home_dir = made.ctx.home
    made.close()
    out = run(home_dir, clock=clock)

    assert out.found == out.subject_id
    assert out.card_number == "5500000000000004"  # decrypted for billing by accounts
    assert out.refused_reason == "role_not_allowed"  # the shipping desk may not bill
    assert out.request_state == "verified"
    assert out.consent_granted is True and out.consent_after_withdrawal is False
    assert out.policy_version == out.versions[0]
    assert out.ropa_purposes > 0
    assert out.log_ok and out.log_size > 0 and out.proof_ok
    assert out.kek_version == 2

    # The same home, opened again: what the application did is there and audited.
    with troth.open(home_dir, clock=clock) as t:
        entries = t.audit.entries(subject_id=out.subject_id)
        assert {"collect", "use"} <= {e.entry.action for e in entries}
        refusals = [e.entry for e in entries if e.entry.outcome == "deny"]
        assert [(e.actor, e.reason) for e in refusals] == [("staff:sue", "role_not_allowed")]
        assert t.audit.verify().ok


def test_the_new_doors_refuse_and_audit_like_the_old_ones(home: Any, tmp_path: Path) -> None:
    from troth.gate import Actor, ActorKind
    from troth.policy.model import Power

    t = home("itechno")
    sue = Actor(ActorKind.staff, "sue", role="shipping_desk")
    officer = Actor(ActorKind.staff, "pia", role="privacy_office")
    candidate = tmp_path / "next.yaml"
    text = t.ctx.settings.resolved_policy_file.read_text()
    candidate.write_text(text.replace(f'version: "{t.policy.version}"', 'version: "9.9"', 1))
    before = [v["version"] for v in t.policy.versions()]

    refusals: list[tuple[str, Callable[[], object]]] = [
        ("publish", lambda: t.policy.publish(candidate, actor=sue)),
        ("diff", lambda: t.policy.diff(candidate, actor=sue)),
        ("history", lambda: t.policy.versions(actor=sue)),
        ("ropa", lambda: t.policy.ropa(actor=sue)),
        ("verify", lambda: t.audit.verify(actor=sue)),
        ("read", lambda: t.audit.entries(actor=sue)),
    ]
    for operation, call in refusals:
        with pytest.raises(troth.Refused) as refused:
            call()
        assert refused.value.reason == "power_not_granted", operation
        last = t.audit.entries(by="staff:sue", limit=1)[0].entry
        assert (last.outcome, last.reason) == ("deny", "power_not_granted"), operation
        assert last.details["operation"] == operation
        assert last.details["power"] in (Power.publish_policy.value, Power.read_audit.value)
    assert [v["version"] for v in t.policy.versions()] == before  # nothing published

    # The privacy office may: a preview and a diff change nothing; bad files say what.
    preview = t.policy.preview(candidate, actor=officer)
    assert preview.version == "9.9" and preview.problem is None
    diff = t.policy.diff(candidate, actor=officer)
    assert [c.detail for c in diff.changes] == ["version changed from 1.0 to 9.9"]
    assert not diff.has_material
    assert t.policy.version == before[0]
    broken = tmp_path / "broken.yaml"
    broken.write_text("version: '1'\npurposes: 7\n")
    with pytest.raises(troth.PolicyError, match=r"broken\.yaml"):
        t.policy.diff(broken, actor=officer)

    # Proofs: an entry that is not there, sizes the wrong way round.
    with pytest.raises(troth.NotFound, match="no audit entry 999999"):
        t.audit.inclusion_proof(999_999)
    with pytest.raises(troth.ValidationError, match="0 <= 5 <= 2"):
        t.audit.consistency_proof(5, 2)
    proof = t.audit.consistency_proof(1)
    assert proof["size1"] == 1 and proof["size2"] >= 1
    assert t.audit.head().size >= proof["size2"]
