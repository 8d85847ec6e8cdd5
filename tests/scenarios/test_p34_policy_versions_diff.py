"""P34: the policy is versioned; what changed is computed; material changes are flagged.

Drives the installed `troth` CLI the way a privacy officer would before publishing a new
version of the ilign policy that adds a purpose."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from troth.examples import example_path

TROTH = Path(sys.executable).parent / "troth"

NEW_PURPOSE = """purposes:
  - id: usage_analytics
    description: Measure how customers use the i-lign software to plan the roadmap.
    legal_basis: consent
    categories: [identity, technical]
    notice: May we measure how you use i-lign to plan our roadmap?
    withdraw: Untick "usage analytics" in your account settings.
    retention:
      keep_for: 1y
"""


def _troth(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(TROTH), *args], capture_output=True, text=True, timeout=60)


def test_p34_new_purpose_is_a_material_change(tmp_path: Path) -> None:
    old = example_path("ilign")
    text = old.read_text()
    new_text = text.replace('version: "2018-05-05"', 'version: "2024-06-01"').replace(
        "effective: 2018-05-05", "effective: 2024-06-01"
    )
    new_text = new_text.replace("purposes:\n", NEW_PURPOSE, 1)
    new = tmp_path / "ilign-2024.yaml"
    new.write_text(new_text)

    assert _troth("policy", "validate", str(new)).returncode == 0

    # Human output and exit code 2: material changes exist.
    run = _troth("policy", "diff", str(old), str(new))
    assert run.returncode == 2, run.stdout + run.stderr
    assert "Policy 2018-05-05 -> 2024-06-01" in run.stdout
    assert "purposes.usage_analytics: new purpose 'usage_analytics'" in run.stdout

    # JSON: the purpose is an added, material change; its uses and consent are listed.
    run = _troth("policy", "diff", str(old), str(new), "--json")
    assert run.returncode == 2
    report = json.loads(run.stdout)
    assert report["material"] is True
    assert report["old_version"] == "2018-05-05" and report["new_version"] == "2024-06-01"
    added = [c for c in report["changes"] if c["section"] == "purposes"]
    assert added == [
        {
            "kind": "added",
            "section": "purposes",
            "id": "usage_analytics",
            "item": "",
            "detail": "new purpose 'usage_analytics'",
            "severity": "material",
            "before": None,
            "after": None,
        }
    ]
    assert {"purpose": "usage_analytics", "category": "technical"} in report["new_uses"]
    assert report["new_consent_purposes"] == ["usage_analytics"]
    # Only the version and date changed besides: those are minor.
    minor = {(c["section"], c["item"]) for c in report["changes"] if c["severity"] == "minor"}
    assert minor == {("policy", "version"), ("policy", "effective")}

    # Going back removes the purpose: minor only, exit 0.
    back = _troth("policy", "diff", str(new), str(old), "--json")
    assert back.returncode == 0
    assert json.loads(back.stdout)["material"] is False


def test_p34_same_version_no_changes() -> None:
    path = str(example_path("ilign"))
    run = _troth("policy", "diff", path, path)
    assert run.returncode == 0
    assert "No changes." in run.stdout
