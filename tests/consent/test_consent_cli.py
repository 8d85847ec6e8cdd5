"""`troth consent ...` and `troth outbox ...` through the CLI, on a real home."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from sqlalchemy import update
from typer.testing import CliRunner

from troth.cli import consent as consent_cli
from troth.cli import outbox as outbox_cli
from troth.clock import ManualClock
from troth.consent import ConsentLedger
from troth.consent.tables import consent_state
from troth.engine import Troth
from troth.notices.outbox import submit

runner = CliRunner()


def cli() -> typer.Typer:
    root = typer.Typer()

    @root.callback()
    def _root(ctx: typer.Context, home: Path = typer.Option(None, "--home")) -> None:
        ctx.obj = {"home": home}

    consent_cli.register(root)
    outbox_cli.register(root)
    return root


def test_consent_and_outbox_commands(home: Any, tmp_path: Path) -> None:
    home_dir = tmp_path / "home"
    ctx = home("mindlink", clock=ManualClock(), context=True)
    t = Troth(ctx)
    sid = t.collect(
        "newsletter_signup",
        {"name": "Ann", "email": "ann@example.org"},
        consents=["newsletter"],
        jurisdiction="uk_gdpr",
    ).subject_id
    rec = ConsentLedger(ctx).grant(sid, "service_updates")
    app = cli()

    out = runner.invoke(app, ["--home", str(home_dir), "consent", "receipt", rec.receipt_id or ""])
    assert out.exit_code == 0, out.output
    assert rec.receipt_jws in out.output.replace("\n", "")
    assert '"KI-CR-v1.1.0"' in out.output

    out = runner.invoke(app, ["--home", str(home_dir), "consent", "state", sid, "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["newsletter"]["granted"] is True

    out = runner.invoke(app, ["--home", str(home_dir), "consent", "check"])
    assert out.exit_code == 0 and "matches" in out.output
    with ctx.engine.begin() as conn:
        conn.execute(update(consent_state).values(granted=False))
    out = runner.invoke(app, ["--home", str(home_dir), "consent", "check"])
    assert out.exit_code == 1 and "rebuild" in out.output
    out = runner.invoke(app, ["--home", str(home_dir), "consent", "rebuild"])
    assert out.exit_code == 0 and "2 rows" in out.output
    assert runner.invoke(app, ["--home", str(home_dir), "consent", "check"]).exit_code == 0

    out = runner.invoke(app, ["--home", str(home_dir), "consent", "receipt", "nope"])
    assert out.exit_code != 0

    submit(
        ctx,
        idempotency_key="n1",
        to_addr="ann@example.org",
        subject="News",
        body_text="x",
        list_id="newsletter",
        subject_id=sid,
    )
    out = runner.invoke(app, ["--home", str(home_dir), "outbox", "deliver"])
    assert out.exit_code == 0 and "sent 1" in out.output, out.output
    out = runner.invoke(app, ["--home", str(home_dir), "outbox", "list", "--status", "sent"])
    assert out.exit_code == 0 and "ann@example.org" in out.output
