"""``troth doctor``: check a home (files and their modes, schema, outbox, requests, signed
heads, settings) and say what to do about each finding."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape

from troth.cli import console, home_of

_MARK = {"ok": "[green]ok[/green]  ", "warn": "[yellow]warn[/yellow]", "fail": "[red]fail[/red]"}


def register(app: typer.Typer) -> None:
    @app.command("doctor")
    def doctor(
        ctx: typer.Context,
        as_json: Annotated[bool, typer.Option("--json", help="The checks as JSON.")] = False,
    ) -> None:
        """Check a home: key file and heads file (present, mode 0600), the newest signed
        head, the schema, the outbox backlog, overdue requests, settings. Exit 1 when any
        check fails."""
        from troth.operations.checks import doctor as run_checks
        from troth.operations.checks import worst

        checks = run_checks(home_of(ctx))
        overall = worst(checks)
        if as_json:
            console.print_json(
                json.dumps({"status": overall, "checks": [c.to_dict() for c in checks]})
            )
        else:
            for c in checks:
                fix = f" -> {escape(c.fix)}" if c.fix and c.status != "ok" else ""
                console.print(
                    f"{_MARK[c.status]} {escape(c.name)}: {escape(c.detail)}{fix}",
                    highlight=False,
                )
        if overall == "fail":
            raise typer.Exit(1)
