"""Whatever `policy validate` accepts, every command accepts (issue 20, item 5): periods,
dates and numbers in a policy are bounded, the bound is stated in the error, and a policy at
the bounds publishes, runs retention (dry and for real) and the worker on SQLite and
PostgreSQL. Hostile keys and numbers are policy issues, never a traceback or a 500."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text as sql
from typer.testing import CliRunner

import troth.cli
from _http import api_key, client_for, is_problem
from policy_samples import BASE
from troth.clock import ManualClock
from troth.engine import Troth
from troth.errors import PolicyError
from troth.notices.publish import publish_policy
from troth.policy.loader import parse_policy

if not any(g.name == "policy" for g in troth.cli.app.registered_groups):
    troth.cli._register()

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(troth.cli.app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def problems(text: str) -> str:
    with pytest.raises(PolicyError) as exc:
        parse_policy(text, "p.yaml")
    return exc.value.message


@pytest.mark.parametrize(
    "keep",
    ["10000y", "101y", "1201m", "36526d", "100y 1d", "P101Y", "99999999999999999999y", "5000000d"],
)
def test_a_period_past_100_years_is_refused_with_the_bound(keep: str) -> None:
    message = problems(BASE.replace("keep_for: 7y", f"keep_for: {keep}"))
    assert "purposes[0].retention.keep_for:" in message
    assert "a duration is at most 100y" in message


def test_a_legal_minimum_past_100_years_is_refused() -> None:
    text = BASE.replace(
        "legal_minimum:\n        keep_for: 6y", "legal_minimum:\n        keep_for: 200y"
    )
    assert text != BASE
    message = problems(text)
    assert "purposes[0].retention.legal_minimum.keep_for: '200y' is too long" in message


def test_a_minimum_age_per_jurisdiction_is_bounded_like_the_default() -> None:
    text = BASE.replace("organisation:", "minors:\n  by_jurisdiction: {gdpr: 99}\norganisation:")
    assert "minors.by_jurisdiction.gdpr: Input should be less than or equal to 25" in problems(text)


@pytest.mark.parametrize("keep", ["100y", "1200m", "36524d", "P100Y", "99y 11m 30d"])
def test_periods_up_to_100_years_are_accepted(keep: str) -> None:
    text = BASE.replace("keep_for: 7y", f"keep_for: {keep}")
    assert parse_policy(text).purposes[0].retention is not None


@pytest.mark.parametrize("when", ["0001-01-01", "1969-12-31", "3000-01-01", "9999-12-31"])
def test_an_effective_date_out_of_range_is_refused(when: str) -> None:
    message = problems(BASE.replace("effective: 2024-01-01", f"effective: {when}"))
    assert ("effective:" in message and "1970-01-01" in message) or "2999-12-31" in message


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (
            ("      name: identity", "      1.5: identity\n      name: identity"),
            "'1.5' is not text",
        ),
        (("      name: identity", "      7: identity\n      name: identity"), "'7' is not text"),
        (("      name: identity", "      true: identity\n      name: identity"), "is not text"),
        (("      name: identity", "      ? " + "8" * 5000 + "\n      : identity"), "is not text"),
        (('version: "1"', "version: " + "9" * 5000), "a number of 5,000 characters"),
        (('version: "1"', "version: 1." + "9" * 5000), "a number of 5,002 characters"),
        (("  - id: customer", "  - id: " + "1" * 5000), "a number of 5,000 characters"),
        (("organisation:", "minors:\n  minimum_age: " + "2" * 5000 + "\norganisation:"), "5,000"),
        (("  name: Acme", "  name: " + "A" * 201), "at most 200 characters"),
        (('version: "1"', "version: .nan"), "put it in quotes"),
        (('version: "1"', "version: .inf"), "put it in quotes"),
    ],
)
def test_hostile_keys_and_numbers_are_issues_not_tracebacks(
    tmp_path: Path, edit: tuple[str, str], words: str
) -> None:
    text = BASE.replace(*edit, 1)
    assert text != BASE
    assert words in problems(text)
    path = tmp_path / "p.yaml"
    path.write_text(text)
    for args in (["validate", str(path)], ["show", str(path)], ["diff", str(path), str(path)]):
        code, out = invoke("policy", *args)
        assert code == 1, out
        assert out.startswith(f"{path}:"), out
        assert "Traceback" not in out and len(out) < 4000


def test_http_diff_and_publish_refuse_hostile_policies_with_422(lite: Any) -> None:
    text = lite.settings.resolved_policy_file.read_text()
    hostile = [
        text.replace("keep_for: 7y", "keep_for: 10000y", 1),
        text.replace('version: "1.0"', "version: " + "9" * 5000, 1),
        text.replace(
            "      renewal_date:", "      1.5: {category: account_history}\n      renewal_date:", 1
        ),
        text.replace("effective: 2024-01-01", "effective: 9999-12-31", 1),
    ]
    with client_for(lite) as c:
        h = {**api_key(c, ["admin"]), "Content-Type": "application/yaml"}
        for body in hostile:
            assert body != text
            for op in ("diff", "publish"):
                bad = is_problem(c.post(f"/api/v1/policy/{op}", content=body, headers=h), 422)
                assert bad["code"] == "policy_invalid", bad
        changed = text.replace('version: "1.0"', 'version: "2"', 1)
        for when in ("9999-12-31", "0001-01-01"):
            r = c.post(f"/api/v1/policy/publish?effective={when}", content=changed, headers=h)
            assert (
                "an effective date is from 1970-01-01 to 2999-12-31" in is_problem(r, 422)["detail"]
            )


def at_the_bounds(text: str) -> str:
    """Every period at 100 years, and a new version."""
    text = re.sub(r"keep_for: [^\n#]+", "keep_for: 100y ", text)  # legal minimums' too
    # Published today, a material change takes effect after its notice period.
    text = re.sub(r"^effective: .*$", "effective: 2999-12-31", text, count=1, flags=re.M)
    return text.replace('version: "1.0"', 'version: "bounds"', 1)


def test_a_policy_at_the_bounds_runs_every_command(home: Any, tmp_path: Path, db_url: str) -> None:
    db = db_url if not db_url.startswith("sqlite") else None
    clock = ManualClock()
    ctx = home("mindlink", db, clock=clock, context=True)
    t = Troth(ctx)
    try:
        t.collect("support_request", {"name": "Ada", "email": "ada@example.com", "message": "hi"})
        path = tmp_path / "bounds.yaml"
        path.write_text(at_the_bounds(ctx.settings.resolved_policy_file.read_text()))
        code, out = invoke("policy", "validate", str(path))
        assert code == 0, out
        publish_policy(ctx, path)
    finally:
        t.close()
    home_dir = str(tmp_path / "home")
    for args in (["retention", "run", "--dry-run", "--json"], ["retention", "run", "--json"]):
        code, out = invoke("--home", home_dir, *args)
        assert code == 0, out
        assert '"total": 0' in out  # nothing is older than 100 years
    code, out = invoke("--home", home_dir, "worker", "--once")
    assert code == 0, out
    assert "retention: " in out and "failed: " not in out


def test_the_worker_exits_non_zero_when_a_job_fails(home: Any, tmp_path: Path) -> None:
    ctx = home("mindlink", clock=ManualClock(), context=True)
    with ctx.engine.begin() as conn:
        # A real fault: the table one job works on is gone.
        conn.execute(sql("DROP TABLE request_exports"))
    ctx.engine.dispose()
    code, out = invoke("--home", str(tmp_path / "home"), "worker", "--once")
    assert code == 1, out
    assert "purge_exports" in out and "failed" in out
    assert "Traceback" not in out
