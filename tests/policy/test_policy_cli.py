"""`troth policy validate|show|diff`: exit codes, output shapes, and no traceback on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import troth.cli
from policy_samples import BASE, line_of
from troth.examples import EXAMPLES, example_path

if not any(g.name == "policy" for g in troth.cli.app.registered_groups):
    troth.cli._register()

runner = CliRunner()
TROTH = Path(sys.executable).parent / "troth"


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(troth.cli.app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def test_validate_every_example() -> None:
    code, out = invoke("policy", "validate", *(str(example_path(n)) for n in EXAMPLES))
    assert code == 0, out
    lines = out.strip().splitlines()
    valid = [line for line in lines if ": valid: " in line]
    assert len(valid) == len(EXAMPLES)
    # itechno keeps its (sensitive) billing category past erasure, and its minimum age (18)
    # is checked only from an optional date of birth (none at the newsletter sign-up):
    # warned, not refused.
    warnings = [line for line in lines if line not in valid]
    # phone-service is multi-tenant, holds a sensitive category (destination_numbers) and
    # declares no role for its customers' members: warned that every member reads it all.
    members = [w for w in warnings if "phone-service.yaml: warning: roles:" in w]
    assert len(members) == 1, members
    assert "destination_numbers" in members[0] and "for: tenant_members" in members[0]
    warnings = [w for w in warnings if w not in members]
    assert all("itechno.yaml: warning:" in w for w in warnings), warnings
    assert [w.split(": ")[2] for w in warnings] == [
        "purposes[0].retention.legal_minimum.categories[3]",
        "collection_points[0].fields.date_of_birth",
        "collection_points[1].fields.date_of_birth",
        "collection_points[2]",
    ]
    assert "sensitive category 'billing'" in warnings[0]
    assert "optional age field 'date_of_birth'" in warnings[1]
    assert "'newsletter_signup' has no `age_field`" in warnings[3]


def test_validate_reports_file_line_path(tmp_path: Path) -> None:
    text = BASE.replace(
        "categories: [identity, contact, loyalty", "categories: [identity, contakt, loyalty"
    )
    text = text.replace("legal_basis: legitimate_interest", "legal_basis: legit")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    good = tmp_path / "good.yaml"
    good.write_text(BASE)
    code, out = invoke("policy", "validate", str(good), str(bad))
    assert code == 1
    assert f"{good}: valid: Acme version 1" in out
    assert (
        f"{bad}:{line_of(text, 'contakt')}: purposes[0].categories[1]: unknown category 'contakt'"
        in out
    )
    assert (
        f"{bad}:{line_of(text, 'legit')}: purposes[2].legal_basis: "
        "'legit' is not a valid value (allowed: consent," in out
    )
    assert "1 of 2 policy file(s) did not validate" in out


@pytest.mark.parametrize("kind", ["missing", "directory", "binary", "empty", "huge", "yaml"])
def test_bad_files_never_traceback(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "p.yaml"
    if kind == "directory":
        path = tmp_path
    elif kind == "binary":
        path.write_bytes(b"\x00\x01\x02")
    elif kind == "empty":
        path.write_text("")
    elif kind == "huge":
        path.write_text("#" * 2_100_000)
    elif kind == "yaml":
        path.write_text("a: [1, 2\n")
    for args in (["validate", str(path)], ["show", str(path)], ["diff", str(path), str(path)]):
        code, out = invoke("policy", *args)
        assert code == 1, out
        assert out.startswith(f"{path}:1: ") or out.startswith(f"{path}:2: "), out
        assert "Traceback" not in out


def test_show_prose_and_json() -> None:
    path = str(example_path("itechno"))
    code, out = invoke("policy", "show", path)
    assert code == 0
    assert "iTechno privacy policy" in out
    assert "Shipping company" in out and "only the fields name, address" in out
    assert "under 18" in out
    code, out = invoke("policy", "show", path, "--json")
    assert code == 0
    data = json.loads(out)
    assert data["minimum_age"] == 18
    assert data["organisation"] == "iTechno"


def test_diff_exit_codes(tmp_path: Path) -> None:
    old = tmp_path / "old.yaml"
    old.write_text(BASE)
    same = tmp_path / "same.yaml"
    same.write_text(BASE.replace("description: Fill orders", "description: Fill all orders"))
    longer = tmp_path / "longer.yaml"
    longer.write_text(BASE.replace("keep_for: 7y", "keep_for: 9y"))
    code, out = invoke("policy", "diff", str(old), str(same))
    assert code == 0 and "Minor changes (1)" in out
    code, out = invoke("policy", "diff", str(old), str(longer))
    assert code == 2 and "Material changes (1)" in out and "7y to 9y" in out
    code, out = invoke("policy", "diff", str(old), str(longer), "--json")
    assert code == 2
    assert json.loads(out)["material"] is True


def test_console_script_exit_codes(tmp_path: Path) -> None:
    """The installed `troth` script keeps the exit codes (1 invalid, 2 material)."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: [")
    run = subprocess.run(
        [str(TROTH), "policy", "validate", str(bad)], capture_output=True, text=True
    )
    assert run.returncode == 1 and f"{bad}:1: " in run.stderr and "Traceback" not in run.stderr
    longer = tmp_path / "longer.yaml"
    longer.write_text(BASE.replace("keep_for: 7y", "keep_for: 9y"))
    old = tmp_path / "old.yaml"
    old.write_text(BASE)
    run = subprocess.run(
        [str(TROTH), "policy", "diff", str(old), str(longer)], capture_output=True, text=True
    )
    assert run.returncode == 2, run.stderr


def test_validate_refuses_a_point_that_can_never_collect(tmp_path: Path) -> None:
    """A point whose required field is in a category none of its purposes uses refuses
    every collection at run time ("would serve no purpose"): validate says so first."""
    ip = "      ip: technical\n"
    text = BASE.replace(ip, ip + "      email: {category: contact, required: true}\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    code, out = invoke("policy", "validate", str(bad))
    assert code == 1
    line = line_of(text, "email: {category: contact, required: true}")
    assert (
        f"{bad}:{line}: collection_points[1].fields.email.category: collection point 'web':"
        " field 'email' is in category 'contact'" in " ".join(out.split())
    )
    assert "add 'contact' to the categories of one of those purposes" in " ".join(out.split())
