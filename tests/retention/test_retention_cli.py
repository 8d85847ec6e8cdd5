"""`troth retention`, `troth disclosures` and `troth breaches` through the CLI on a real
home (data collected years ago with a manual clock; the commands run on the system clock)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from typer.testing import CliRunner

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
