"""A date or time that does not exist (``effective: 2026-02-30``), wherever it is written,
is one ``FILE:LINE: key.path: ...`` issue from every command that reads a policy
(validate, show, diff, publish, a new home), never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from policy_samples import BASE, line_of
from troth.errors import PolicyError
from troth.policy.loader import parse_policy

TROTH = Path(sys.executable).parent / "troth"

# (what is written, what the issue says is wrong with it)
NOT_REAL = [
    ("2026-02-30", "day is out of range for month"),
    ("2025-02-29", "day is out of range for month"),
    ("2026-13-01", "month must be in 1..12"),
    ("0000-01-01", "year 0 is out of range"),
    ("2026-01-01 25:00:00", "hour must be in 0..23"),
    ("2026-01-01T10:61:00", "minute must be in 0..59"),
    ("2026-01-01T10:00:00+99:00", "offset must be a timedelta strictly between"),
]


def _troth(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(TROTH), *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(("written", "why"), NOT_REAL)
def test_an_effective_date_that_does_not_exist_is_one_issue(written: str, why: str) -> None:
    text = BASE.replace("effective: 2024-01-01", f"effective: {written}")
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "p.yaml")
    (issue,) = info.value.issues  # the model does not report the same value again
    assert issue.path == "effective" and issue.line == line_of(text, "effective:")
    assert f"'{written}' is not a real date or time ({why}" in issue.message
    assert "YYYY-MM-DD" in issue.message
    assert str(issue).startswith(f"p.yaml:{issue.line}: effective: ")


@pytest.mark.parametrize(
    ("old", "new", "path"),
    [
        ('version: "1"', "version: 2026-02-30", "version"),
        ("description: Fill orders", "description: 2024-02-30", "purposes[0].description"),
        ("  name: Acme", "  name: 2023-04-31 08:00:00", "organisation.name"),
        (
            "purposes: [orders, news]",
            "purposes: [orders, 2026-00-10]",
            "collection_points[0].purposes[1]",
        ),
    ],
)
def test_a_date_that_does_not_exist_anywhere_else_is_one_issue(
    old: str, new: str, path: str
) -> None:
    """Every value YAML reads as a date or time is checked, whatever the key: text fields
    (version, descriptions), ids, anything (the model has no other date field)."""
    text = BASE.replace(old, new)
    assert text != BASE
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "p.yaml")
    found = [i for i in info.value.issues if "is not a real date or time" in i.message]
    assert [(i.path, i.line) for i in found] == [(path, line_of(text, new.strip()))]


def test_validate_show_diff_and_publish_report_it_on_one_line(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(BASE)
    bad = tmp_path / "bad.yaml"
    bad.write_text(BASE.replace("effective: 2024-01-01", "effective: 2026-02-30"))
    line = line_of(bad.read_text(), "effective:")
    expected = f"{bad}:{line}: effective: '2026-02-30' is not a real date or time"
    for args in (
        ["validate", str(bad)],
        ["show", str(bad)],
        ["diff", str(good), str(bad)],
        ["diff", str(bad), str(good)],
    ):
        run = _troth("policy", *args)
        assert run.returncode == 1, (args, run.stdout, run.stderr)
        assert expected in run.stdout + run.stderr, (args, run.stdout, run.stderr)
        assert "Traceback" not in run.stdout + run.stderr
    home = tmp_path / "home"
    run = _troth("init", str(home), "--policy", str(bad))
    assert run.returncode == 1 and expected in run.stderr, run.stderr
    assert "Traceback" not in run.stderr
    run = _troth("init", str(home), "--policy", str(good))
    assert run.returncode == 0, run.stderr
    run = _troth("--home", str(home), "policy", "publish", str(bad))
    assert run.returncode == 1, run.stdout + run.stderr
    assert expected in run.stdout + run.stderr and "Traceback" not in run.stderr
