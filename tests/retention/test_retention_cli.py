"""`troth retention`, `troth disclosures` and `troth breaches` through the CLI on a real
home (data collected years ago with a manual clock; the commands run on the system clock)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from cli_runner import run as cli_run
from troth.cli import breaches as breaches_cli
from troth.cli import disclosures as disclosures_cli
from troth.cli import retention as retention_cli
from troth.clock import ManualClock
from troth.engine import Troth

runner = CliRunner()
ORDER = {
    "name": "Ann Lee",
    "email": "ann@example.com",
    "address": "1 Main St",
    "card_number": "4111111111111111",
    "card_expiry": "12/29",
    "order_items": "2 widgets",
}


def cli() -> typer.Typer:
    root = typer.Typer()

    @root.callback()
    def _root(ctx: typer.Context, home: Path = typer.Option(None, "--home")) -> None:
        ctx.obj = {"home": home}

    for mod in (retention_cli, disclosures_cli, breaches_cli):
        mod.register(root)
    return root


def _home(home: Any, tmp_path: Path) -> tuple[Path, str]:
    home_dir = tmp_path / "home"
    ctx = home("itechno", clock=ManualClock(datetime(2010, 1, 4, tzinfo=UTC)), context=True)
    t = Troth(ctx)
    sid = t.collect("order_form", ORDER).subject_id
    t.close()
    return home_dir, sid


def test_retention_cli(home: Any, tmp_path: Path) -> None:
    home_dir, _ = _home(home, tmp_path)
    app = cli()
    out = runner.invoke(app, ["--home", str(home_dir), "retention", "run", "--dry-run", "--json"])
    assert out.exit_code == 0, out.output
    plan = json.loads(out.output)
    assert plan["dry_run"] and plan["total"] == 6
    out = runner.invoke(app, ["--home", str(home_dir), "retention", "run"])
    assert out.exit_code == 0, out.output
    assert "payment_card" in out.output and "went" in out.output
    out = runner.invoke(app, ["--home", str(home_dir), "retention", "run", "--json"])
    assert json.loads(out.output)["total"] == 0


def test_disclosures_and_breaches_cli(home: Any, tmp_path: Path) -> None:
    home_dir, sid = _home(home, tmp_path)
    app = cli()
    base = ["--home", str(home_dir)]
    out = runner.invoke(
        app,
        base
        + [
            "disclosures",
            "send",
            sid,
            "--recipient",
            "shipping_company",
            "--purpose",
            "order_fulfilment",
            "--actor",
            "app:shop",
        ],
    )
    assert out.exit_code == 0, out.output
    values = json.loads(out.output)["values"]
    assert sorted((v["field"], v["value"]) for v in values) == [
        ("address", "1 Main St"),
        ("name", "Ann Lee"),
    ]
    out = runner.invoke(app, base + ["disclosures", "list", sid])
    assert "Shipping" in out.output
    out = runner.invoke(
        app,
        base
        + [
            "disclosures",
            "demand",
            "--authority",
            "Court",
            "--instrument",
            "",
            "--reference",
            "r",
            "--scope",
            "s",
        ],
    )
    assert out.exit_code != 0
    out = runner.invoke(app, base + ["disclosures", "subprocessors"])
    assert out.exit_code == 0 and json.loads(out.output) == []
    out = runner.invoke(
        app,
        base
        + [
            "breaches",
            "record",
            "--title",
            "Leak",
            "--description",
            "Orders exposed",
            "--from",
            "2009-12-01T00:00:00+00:00",
            "--until",
            "2010-02-01T00:00:00+00:00",
            "--category",
            "contact",
            "--discovered",
            "2010-03-01T00:00:00+00:00",
        ],
    )
    assert out.exit_code == 0, out.output
    assert "affects 1 people" in out.output
    bid = out.output.split()[0]
    out = runner.invoke(app, base + ["breaches", "show", bid])
    assert json.loads(out.output)["clocks"]
    out = runner.invoke(app, base + ["breaches", "list"])
    assert "Leak" in out.output
    out = runner.invoke(app, base + ["breaches", "export", "--format", "csv"])
    assert out.output.startswith("id,title")


def test_retention_dry_run_as_of_a_later_day_shows_what_will_have_gone(
    home: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--as-of DAY` previews a run on a later day, deletes nothing, and only previews."""
    home_dir = tmp_path / "home"
    ctx = home("itechno", context=True)  # the system clock, as the CLI's
    t = Troth(ctx)
    t.collect("order_form", ORDER)
    t.close()
    app = cli()
    base = ["--home", str(home_dir), "retention", "run"]
    now = runner.invoke(app, [*base, "--dry-run", "--json"])
    assert now.exit_code == 0, now.output
    assert json.loads(now.output)["total"] == 0
    later = datetime.now(UTC).year + 30
    out = runner.invoke(app, [*base, "--dry-run", "--as-of", f"{later}-01-01", "--json"])
    assert out.exit_code == 0, out.output
    plan = json.loads(out.output)
    assert plan["dry_run"] and plan["total"] == 6
    assert plan["at"].startswith(f"{later}-01-01")
    # Nothing went: a real run now still has nothing to do.
    assert json.loads(runner.invoke(app, [*base, "--dry-run", "--json"]).output)["total"] == 0
    # A preview only: without --dry-run, or for a past day, or not a date, it says what to fix
    # (as a user types it: the real `troth`, its errors as one line).
    code, _, err = cli_run(capsys, *base, "--as-of", f"{later}-01-01")
    assert code == 2 and "add --dry-run" in err
    code, _, err = cli_run(capsys, *base, "--dry-run", "--as-of", "2001-01-01")
    assert code != 0 and "before today" in err and "Traceback" not in err
    code, _, err = cli_run(capsys, *base, "--dry-run", "--as-of", "2040-02-30")
    assert code == 2 and "--as-of" in err
